import { RFC1191_PLATEAUS } from './constants.js';

/**
 * The largest RFC 1191 plateau strictly below `length` (RFC 1191 section 5: "the largest plateau value that is less
 * than the returned Total Length"); 68 when none is, since no estimate may go lower.
 */
export function plateauBelow(length: number): number {
  for (const p of RFC1191_PLATEAUS) if (p < length) return p;
  return RFC1191_PLATEAUS[RFC1191_PLATEAUS.length - 1] ?? 68;
}

/**
 * Estimates the path MTU from an old-style "fragmentation needed" (next-hop MTU zero, RFC 1191 section 5).
 * `quotedTotalLength` / `quotedHeaderLength` come from the IP header quoted in the ICMP message.
 *
 * Routers derived from 4.2BSD return Total Length plus the header length, and the host cannot tell them apart, so
 * section 5 says: when the returned Total Length is not less than the current estimate, subtract the header length
 * (4 × IHL octets) before choosing the plateau.
 */
export function estimateFromOldStyleMessage(
  quotedTotalLength: number,
  quotedHeaderLength: number,
  currentEstimate: number,
): { readonly estimate: number; readonly adjustedLength: number; readonly bsdAdjusted: boolean } {
  const bsdAdjusted = quotedTotalLength >= currentEstimate;
  const adjustedLength = bsdAdjusted ? quotedTotalLength - quotedHeaderLength : quotedTotalLength;
  return { estimate: plateauBelow(adjustedLength), adjustedLength, bsdAdjusted };
}
