/**
 * How an IPv4 reassembler resolves bytes that two fragments both claim. The names and rules are those of
 * target-based reassembly (Novak, "Target-Based Fragmentation Reassembly", Sourcefire 2005; Snort frag3 and
 * Suricata defrag implement the same policy set): operating systems differ here, and an IDS that reassembles
 * differently from the target can be evaded (Ptacek and Newsham, 1998).
 *
 * IPv6 has no policy: RFC 5722 (and RFC 8200 section 4.5) require discarding the whole datagram.
 */
export type OverlapPolicy = 'first' | 'last' | 'linux' | 'bsd' | 'bsd-right' | 'windows';

export const OVERLAP_POLICIES: readonly OverlapPolicy[] = ['first', 'last', 'linux', 'bsd', 'bsd-right', 'windows'];

/**
 * Whether the bytes of a newly arrived fragment [newStart, newEnd) replace bytes held from an earlier fragment
 * that was received as [oldStart, oldEnd). The new fragment is always the later arrival, so "first" and "last"
 * reduce to constants; the others compare the fragments' original ranges, as the literature describes them:
 *
 * - first: the earliest arrival wins everywhere (Novak: Windows-like systems, Solaris, MacOS, HP-UX 11).
 * - last: the latest arrival wins everywhere (Cisco IOS; RFC 791's reference algorithm behaves this way).
 * - bsd: the fragment with the lower offset wins; on equal offsets the earlier arrival wins (FreeBSD, AIX, ...).
 * - linux: like bsd, but on equal offsets the later arrival wins (Linux before it began to drop overlaps).
 * - bsd-right: the fragment with the higher offset wins; on equal offsets the later arrival wins (HP JetDirect).
 *   This is the offset rule of the literature's model; Snort frag3 additionally lets a fragment win when it ends
 *   further right, which only differs when one fragment lies strictly inside another.
 * - windows: the earlier arrival wins unless the new fragment starts before and ends after the old one, i.e. it
 *   wholly contains it (then the old fragment is replaced).
 *
 * Modern Linux (4.19 and later) discards an IPv4 datagram with overlapping fragments altogether; the `linux`
 * policy here is the historical one that the target-based literature documents.
 */
export function newFragmentWins(policy: OverlapPolicy, newStart: number, newEnd: number, oldStart: number, oldEnd: number): boolean {
  switch (policy) {
    case 'first':
      return false;
    case 'last':
      return true;
    case 'bsd':
      return newStart < oldStart;
    case 'linux':
      return newStart <= oldStart;
    case 'bsd-right':
      return newStart >= oldStart;
    case 'windows':
      return newStart < oldStart && newEnd > oldEnd;
  }
}
