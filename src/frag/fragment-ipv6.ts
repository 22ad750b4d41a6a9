import { put16, put32 } from '../packet/bytes.js';
import { IpProtocol } from '../packet/ip-protocol.js';
import { IPV6_HEADER, Ipv6Packet } from '../packet/ipv6.js';
import { walkIpv6Extensions } from '../packet/ipv6-ext.js';
import { floor8, type FragmentRefusal, type FragmentResult, MAX_FRAGMENT_OFFSET, refuse, refuseWith } from './fragment-result.js';

export interface Ipv6FragmentOptions {
  /**
   * Add a Fragment header even when the packet fits: one fragment with offset 0 and M clear, an atomic fragment
   * (RFC 6946). If the packet plus the 8-byte header then exceeds mtu it is fragmented normally.
   */
  readonly atomic?: boolean;
}

const FRAGMENT_HEADER = 8;
const NEXT_HEADER_OFFSET = 6;

export interface Ipv6FragmentLayout {
  /** Where the per-fragment part ends (from the start of the IPv6 header): what every fragment repeats. */
  readonly perFragmentLength: number;
  /** Offset of the next-header octet that must say Fragment in each fragment (6 in the fixed header, else 0 of an extension header). */
  readonly nextHeaderAt: number;
  /** The protocol of the first fragmentable header, which the Fragment header's next header names. */
  readonly fragmentableProtocol: number;
  /** Where the upper-layer header ends: RFC 7112 wants everything up to here in the first fragment. */
  readonly headerChainEnd: number;
}

/**
 * Splits a whole IPv6 packet into fragments of at most `mtu` bytes each, as a source does (RFC 8200 section 4.5):
 * - the per-fragment headers (fixed header, Hop-by-Hop, and Destination Options / Routing headers up to the last
 *   Routing header) are repeated in every fragment, followed by a Fragment header with `ident`;
 * - the rest (further extension headers and the upper-layer header and data) is split in 8-octet units;
 * - the first fragment must hold the whole header chain through the upper-layer header (RFC 7112): if `mtu` cannot
 *   carry it, the packet is refused rather than sent as fragments that receivers must drop;
 * - payload length is set per fragment; the last per-fragment header's next header becomes 44.
 * IPv6 links have an MTU of at least 1280 (RFC 8200 section 5); smaller values are accepted so tests can make many
 * small fragments, but such fragments never come from a conforming source. A packet that fits is returned unchanged
 * (trimmed to its payload length) unless `atomic` asks for an atomic fragment. A packet that already carries a
 * Fragment header is refused: only sources fragment IPv6, and they do it once.
 */
export function fragmentIpv6(packet: Uint8Array, mtu: number, ident: number, options: Ipv6FragmentOptions = {}): FragmentResult {
  const checked = Ipv6Packet.check(packet);
  if (!checked.ok) return refuseWith(checked.error);
  const p = checked.value;
  if (p.truncated) {
    return refuse('ipv6', 'payload_length', 4, `payload length ${p.payloadLength} is beyond the ${packet.length - IPV6_HEADER} bytes given; cannot fragment a cut packet`);
  }
  if (!Number.isInteger(mtu) || mtu < 0) return refuse('ipv6', 'mtu', 0, `mtu ${mtu} is not a non-negative integer`);
  if (!Number.isInteger(ident) || ident < 0 || ident > 0xffffffff) {
    return refuse('ipv6-ext', 'fragment.ident', 0, `identification ${ident} does not fit in 32 bits`);
  }
  if (p.payloadLength === 0 && p.nextHeader === IpProtocol.HopByHop && packet.length > IPV6_HEADER) {
    // A jumbogram (RFC 2675) says its length in a Hop-by-Hop option; jumbograms are never fragmented.
    return refuse('ipv6', 'payload_length', 4, 'payload length 0 with a Hop-by-Hop header: a jumbogram, which is never fragmented');
  }
  const total = IPV6_HEADER + p.payloadLength;
  const atomic = options.atomic === true;
  if (total <= mtu && !atomic) return { ok: true, fragments: [packet.slice(0, total)] };

  const layout = ipv6FragmentLayout(p);
  if ('ok' in layout) return layout;
  const unfrag = layout.perFragmentLength;
  const fragmentable = packet.subarray(unfrag, total);
  // Only an atomic fragment can be a single piece: anything else that fits was returned above.
  const singlePiece = total + FRAGMENT_HEADER <= mtu;
  const room = floor8(mtu - unfrag - FRAGMENT_HEADER);
  if (!singlePiece && room < 8) {
    return refuse('ipv6', 'mtu', 0, `mtu ${mtu} leaves no room for 8 data bytes after ${unfrag} bytes of per-fragment headers and the Fragment header`);
  }
  if (!singlePiece && room < layout.headerChainEnd - unfrag) {
    return refuse(
      'ipv6',
      'mtu',
      0,
      `mtu ${mtu} cannot carry the header chain (${layout.headerChainEnd} bytes through the upper-layer header, plus the Fragment header) in the first fragment (RFC 7112)`,
    );
  }

  const fragments: Uint8Array[] = [];
  let at = 0;
  do {
    const size = singlePiece ? fragmentable.length : Math.min(room, fragmentable.length - at);
    if (at > MAX_FRAGMENT_OFFSET) {
      return refuse('ipv6-ext', 'fragment.offset', unfrag + 2, `a fragment would start at ${at}, beyond the largest offset ${MAX_FRAGMENT_OFFSET}`);
    }
    fragments.push(ipv6Fragment(packet, layout, fragmentable.subarray(at, at + size), at, at + size < fragmentable.length, ident));
    at += size;
  } while (at < fragmentable.length);
  return { ok: true, fragments };
}

/** The per-fragment headers (payload length and next header rewritten), a Fragment header, then `data` from `at`. */
function ipv6Fragment(packet: Uint8Array, layout: Ipv6FragmentLayout, data: Uint8Array, at: number, more: boolean, ident: number): Uint8Array {
  const unfrag = layout.perFragmentLength;
  const out = new Uint8Array(unfrag + FRAGMENT_HEADER + data.length);
  out.set(packet.subarray(0, unfrag), 0);
  put16(out, 4, unfrag - IPV6_HEADER + FRAGMENT_HEADER + data.length);
  out[layout.nextHeaderAt] = IpProtocol.Ipv6Frag;
  out[unfrag] = layout.fragmentableProtocol;
  out[unfrag + 1] = 0;
  put16(out, unfrag + 2, at | (more ? 1 : 0));
  put32(out, unfrag + 4, ident);
  out.set(data, unfrag + FRAGMENT_HEADER);
  return out;
}

/**
 * Where a packet divides into per-fragment and fragmentable parts. The per-fragment part ends after the last Routing
 * header of the leading Hop-by-Hop / Destination Options / Routing run, or after Hop-by-Hop when there is no Routing
 * header (Destination Options meant for the final destination travel in the fragmentable part).
 */
export function ipv6FragmentLayout(p: Ipv6Packet): Ipv6FragmentLayout | FragmentRefusal {
  const walked = walkIpv6Extensions(p);
  if (!walked.ok) return refuseWith(walked.error);
  const chain = walked.value;
  if (chain.truncated) return refuse('ipv6-ext', 'chain', chain.upperOffset, 'the extension header chain is cut short');
  if (chain.fragment !== undefined) {
    return refuse('ipv6-ext', 'fragment', fragmentHeaderOffset(p), 'the packet already carries a Fragment header');
  }
  let perFragmentLength = IPV6_HEADER;
  let nextHeaderAt = NEXT_HEADER_OFFSET;
  let fragmentableProtocol = p.nextHeader;
  let o = IPV6_HEADER;
  for (const h of chain.headers) {
    if (h.kind !== 'hop-by-hop' && h.kind !== 'destination-options' && h.kind !== 'routing') break;
    const length = (p.bytes[o + 1]! + 1) * 8;
    if (h.kind === 'hop-by-hop' || h.kind === 'routing') {
      perFragmentLength = o + length;
      nextHeaderAt = o;
      fragmentableProtocol = h.nextHeader;
    }
    o += length;
  }
  const upperEnd = chain.upperOffset + (chain.upperPresent ? upperHeaderLength(chain.upperProtocol, p.bytes, chain.upperOffset, IPV6_HEADER + p.payloadLength) : 0);
  return { perFragmentLength, nextHeaderAt, fragmentableProtocol, headerChainEnd: Math.max(upperEnd, perFragmentLength) };
}

/** How much of the upper-layer header RFC 7112 counts: the fixed headers of the protocols we know, else nothing. */
function upperHeaderLength(protocol: number, b: Uint8Array, o: number, end: number): number {
  let want: number;
  switch (protocol) {
    case IpProtocol.Udp:
    case IpProtocol.Icmpv6:
      want = 8;
      break;
    case IpProtocol.Tcp:
      want = o + 13 <= end ? Math.max(20, (b[o + 12]! >> 4) * 4) : 20;
      break;
    default:
      want = 0;
  }
  return Math.min(want, end - o);
}

function fragmentHeaderOffset(p: Ipv6Packet): number {
  let nh = p.nextHeader;
  let o = IPV6_HEADER;
  while (nh !== IpProtocol.Ipv6Frag && o + 2 <= p.bytes.length) {
    const length = nh === IpProtocol.Ah ? (p.bytes[o + 1]! + 2) * 4 : (p.bytes[o + 1]! + 1) * 8;
    nh = p.bytes[o]!;
    o += length;
  }
  return o;
}

