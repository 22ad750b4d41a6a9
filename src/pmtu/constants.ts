/** Address family of a path: the numbers match `ipBytes(text, family)` in src/packet/address.ts. */
export type IpFamily = 4 | 6;

/**
 * The smallest MTU a path of each family may be assumed to have. IPv4: RFC 791 makes every router forward 68-octet
 * datagrams unfragmented and RFC 1191 section 3 forbids an estimate below it. IPv6: the minimum link MTU of RFC 8200
 * section 5, below which RFC 8201 section 4 forbids an estimate (since RFC 8021 there is no "atomic fragment" fallback).
 */
export const MIN_PATH_MTU: Readonly<Record<IpFamily, number>> = { 4: 68, 6: 1280 };

/**
 * RFC 1191 section 7, table 7-1: MTU plateaus (the common MTUs of real link layers, grouped). Used to estimate a path
 * MTU when an old router sends "fragmentation needed" with a next-hop MTU of zero (section 5). Descending order.
 */
export const RFC1191_PLATEAUS: readonly number[] = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/** RFC 1191 section 6.3 and RFC 8201 section 5.3: the recommended interval before a lowered estimate is raised again. */
export const PMTU_EXPIRY_MS = 10 * 60_000;

/** RFC 1191 section 6.3 / RFC 8201 section 5.3: an increase MUST NOT be tried less than 5 minutes after a PTB. */
export const PMTU_MIN_EXPIRY_MS = 5 * 60_000;

export function familyName(family: IpFamily): string {
  return family === 4 ? 'IPv4' : 'IPv6';
}
