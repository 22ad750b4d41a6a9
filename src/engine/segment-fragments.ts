import { fragmentIpv4 } from '../frag/fragment-ipv4.js';
import { fragmentIpv6 } from '../frag/fragment-ipv6.js';
import { type FragmentResult, refuse } from '../frag/fragment-result.js';
import type { TcpSegment } from '../packet/tcp-segment.js';

const DF_BYTE = 6;
const DF_BIT = 0x40;
/** The IPv6 fixed header plus the Fragment header every IPv6 fragment carries. */
const IPV6_FRAGMENT_OVERHEAD = 48;
const IPV4_HEADER = 20;

/**
 * Fragment size for a segment: at most `fragmentSize`, and small enough that even a small segment leaves as at least
 * two fragments (a segment that fits in one fragment would test nothing).
 */
export function fragmentSizeFor(segment: TcpSegment, fragmentSize: number): number {
  const overhead = segment.family === 4 ? IPV4_HEADER : IPV6_FRAGMENT_OVERHEAD;
  const data = segment.ipLength - (segment.family === 4 ? IPV4_HEADER : 40);
  // Half the data, rounded up to the 8-octet unit fragment offsets count in.
  const half = Math.ceil(data / 2 / 8) * 8;
  // An IPv6 first fragment must hold the whole header chain, TCP options included (RFC 7112): fragmentIpv6 refuses
  // less, and a 32-byte TCP header (timestamps) is more than half of a small segment.
  const headers = segment.family === 6 ? Math.ceil((data - segment.payloadLength) / 8) * 8 : 8;
  return Math.min(fragmentSize, overhead + Math.max(8, half, headers));
}

/**
 * Replaces one outgoing segment by IP fragments, as a sender on a small-MTU path without path MTU discovery would:
 * IPv4 with DF cleared (and the identification given), IPv6 with a Fragment header carrying `ident`.
 */
export function fragmentSegment(segment: TcpSegment, fragmentSize: number, ident: number): FragmentResult {
  const size = fragmentSizeFor(segment, fragmentSize);
  let result: FragmentResult;
  if (segment.family === 4) {
    const packet = segment.bytes.slice(0, segment.ipLength);
    packet[DF_BYTE] = packet[DF_BYTE]! & ~DF_BIT;
    result = fragmentIpv4(packet, size, { ident: ident & 0xffff });
  } else {
    result = fragmentIpv6(segment.bytes.subarray(0, segment.ipLength), size, ident >>> 0);
  }
  // A few bytes after a 20-byte IPv6 TCP header cannot be split on an 8-octet boundary after the header: one
  // "fragment" would be the segment itself, and its ACK would pass the test without any fragment having travelled.
  if (result.ok && result.fragments.length < 2) {
    return refuse('tcp', 'payload', segment.ipLength - segment.payloadLength, `${segment.payloadLength} bytes of data are too few to split into fragments`);
  }
  return result;
}
