/**
 * How PLPMTUD picks the next probe size (RFC 8899 section 5.3). The searcher knows a confirmed size `lo` (the PLPMTU)
 * and an exclusive `ceiling`: the smallest size known, or assumed, not to get through. Every candidate lies strictly
 * between them and never above MAX_PLPMTU.
 */
export type SearchMethod = 'binary' | 'table';

/**
 * Sizes a table search steps through (RFC 8899 section 5.3.2: "a table of common PMTU sizes"): the minimum IPv6 MTU,
 * common tunnel MTUs (1400 IPsec/VPN defaults, 1420 WireGuard, 1450 VXLAN, 1476 GRE, 1480 IP-in-IP/6in4), 1492 PPPoE,
 * 1500 Ethernet, 9000 jumbo frames, and the upper RFC 1191 plateaus. MAX_PLPMTU is always added as the last step.
 */
export const COMMON_PMTU_TABLE: readonly number[] = [
  1280, 1400, 1420, 1450, 1476, 1480, 1492, 1500, 2002, 4352, 8166, 9000, 17914, 32000, 65535,
];

export interface SearchRange {
  readonly lo: number;
  readonly ceiling: number;
  readonly max: number;
}

export interface SearchSettings {
  readonly method: SearchMethod;
  /** Binary search stops when `ceiling - lo` is at most this (1: the exact size). */
  readonly precision: number;
  readonly table: readonly number[];
}

/**
 * Binary search (RFC 4821 section 7.3, which RFC 8899 section 5.3 builds on): first MAX_PLPMTU, since most paths carry
 * the full link MTU and one acknowledged probe then ends the search; after that the middle of the unknown range, so
 * each probed size halves it. Table search steps up to the next larger table size; its first size that fails ends the
 * search, as in the state machine of RFC 8899 figure 5.
 */
export function nextSearchSize(range: SearchRange, settings: SearchSettings): number | undefined {
  const { lo, max } = range;
  const ceiling = Math.min(range.ceiling, max + 1);
  if (ceiling - lo <= 1) return undefined;
  if (settings.method === 'table') {
    let best: number | undefined;
    for (const s of settings.table) if (s > lo && s < ceiling && (best === undefined || s < best)) best = s;
    if (best !== undefined) return best;
    return max > lo && max < ceiling ? max : undefined;
  }
  if (ceiling - lo <= settings.precision) return undefined;
  if (ceiling === max + 1) return max;
  return lo + Math.floor((ceiling - lo) / 2);
}
