/**
 * The one address-family vocabulary of mtuscope. In code a family is the IP version number, as in the IP header,
 * `isIP()`, `ip -4/-6` and iptables/ip6tables; where people or stored data read it (JSON reports, the results store,
 * URLs of the results API) it is named `ipv4` / `ipv6`. Per-family data is a `FamilyMap`, keyed by the number.
 */
export type IpFamily = 4 | 6;

export const IP_FAMILIES: readonly IpFamily[] = [4, 6];

/** A family as written in JSON, the results store and query strings. */
export type IpFamilyName = 'ipv4' | 'ipv6';

export const IP_FAMILY_NAMES: readonly IpFamilyName[] = ['ipv4', 'ipv6'];

export type FamilyMap<T> = Readonly<Record<IpFamily, T>>;

export function familyName(family: IpFamily): IpFamilyName {
  return family === 4 ? 'ipv4' : 'ipv6';
}

export function familyFromName(name: IpFamilyName): IpFamily {
  return name === 'ipv4' ? 4 : 6;
}

/** "IPv4" / "IPv6", for sentences. */
export function familyLabel(family: IpFamily): string {
  return `IPv${family}`;
}

/** The family of an address in text form; IPv6 text always holds a colon, IPv4 text never does. */
export function familyOfAddress(address: string): IpFamily {
  return address.includes(':') ? 6 : 4;
}

export function familyMap<T>(valueOf: (family: IpFamily) => T): FamilyMap<T> {
  return { 4: valueOf(4), 6: valueOf(6) };
}
