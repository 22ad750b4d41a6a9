/**
 * The iptables matches the lab's middle boxes filter on besides PACKET_TOO_BIG_MATCH (src/host/iptables-matches.ts), written once: the lab builds its firewalls with them
 * (apply-features.ts), and scenarios use the same ones to let that traffic through for a control measurement or to
 * count it.
 */
import type { FamilyMap } from '../packet/ip-family.js';

/**
 * Every IP fragment, the first one included: for IPv4 the u32 match on the flags/offset word (MF set or a non-zero
 * offset), for IPv6 any Fragment header. Only works while conntrack is inactive (see apply-features.ts).
 */
export const FRAGMENT_MATCH: FamilyMap<readonly string[]> = {
  4: ['-m', 'u32', '--u32', '4&0x3FFF=0x1:0x3FFF'],
  6: ['-m', 'frag'],
};

/** A rule's words as one line of iptables-restore input: words with characters other than plain ones in quotes. */
export function restoreRule(words: readonly string[]): string {
  return words.map((w) => (/^[\w.,:/+-]+$/.test(w) ? w : `"${w}"`)).join(' ');
}
