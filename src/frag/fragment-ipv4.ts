import { put16 } from '../packet/bytes.js';
import { finishChecksum, sum16 } from '../packet/checksum.js';
import { emitIpv4Options, IPV4_MIN_HEADER, Ipv4Packet, parseIpv4Options } from '../packet/ipv4.js';
import { floor8, type FragmentResult, MAX_FRAGMENT_OFFSET, refuse, refuseWith } from './fragment-result.js';

export interface Ipv4FragmentOptions {
  /**
   * Fragment a DF packet anyway (a test harness building what a broken router would send). The DF bit is left as the
   * packet had it: each fragment still says DF, as such a router's output would.
   */
  readonly ignoreDf?: boolean;
  /** Identification for the fragments instead of the packet's own (a packet that fits is returned untouched). */
  readonly ident?: number;
}

const FLAGS_OFFSET = 6;
const DF = 0x4000;
const MF = 0x2000;
const RESERVED_FLAG = 0x8000;

/**
 * Splits a whole IPv4 packet (header first) into fragments of at most `mtu` bytes each, header included (RFC 791
 * section 3.2 and RFC 815's picture of what a reassembler expects):
 * - data goes in 8-octet units; only the last piece may be shorter;
 * - the first fragment carries every option unchanged, later ones only the options whose copied flag is set, padded
 *   again to a 4-byte boundary (so their headers can be shorter, and carry more data, than the first);
 * - refragmenting a fragment works: offsets are added to the packet's own, and the last piece keeps the packet's MF;
 * - TOS, TTL, protocol, addresses and the reserved flag are kept; total length, offset, MF and checksum are rewritten.
 * A packet that fits is returned unchanged as the only fragment (a copy, trimmed to its total length). Refusals: a
 * malformed or truncated packet, DF on a packet that does not fit (unless `ignoreDf`), an mtu that leaves no room
 * for 8 data bytes after the first fragment's header, malformed options.
 */
export function fragmentIpv4(packet: Uint8Array, mtu: number, options: Ipv4FragmentOptions = {}): FragmentResult {
  const checked = Ipv4Packet.check(packet);
  if (!checked.ok) return refuseWith(checked.error);
  const p = checked.value;
  if (p.truncated) {
    return refuse('ipv4', 'total_length', 2, `total length ${p.totalLength} is beyond the ${packet.length} bytes given; cannot fragment a cut packet`);
  }
  if (!Number.isInteger(mtu) || mtu < 0) return refuse('ipv4', 'mtu', 0, `mtu ${mtu} is not a non-negative integer`);
  const ident = options.ident;
  if (ident !== undefined && (!Number.isInteger(ident) || ident < 0 || ident > 0xffff)) {
    return refuse('ipv4', 'identification', 4, `identification ${ident} does not fit in 16 bits`);
  }
  if (p.totalLength <= mtu) return { ok: true, fragments: [packet.slice(0, p.totalLength)] };
  if (p.dontFragment && options.ignoreDf !== true) {
    return refuse('ipv4', 'flags.df', FLAGS_OFFSET, `DF is set and the packet of ${p.totalLength} bytes exceeds mtu ${mtu}`);
  }

  const firstHeader = packet.subarray(0, p.headerLength);
  const firstRoom = floor8(mtu - firstHeader.length);
  if (firstRoom < 8) {
    return refuse('ipv4', 'mtu', 0, `mtu ${mtu} leaves no room for 8 data bytes after a ${firstHeader.length}-byte header`);
  }
  const parsedOptions = parseIpv4Options(p.options);
  if (!parsedOptions.ok) return refuseWith(parsedOptions.error);
  const laterHeader = headerWithOptions(packet, emitIpv4Options(parsedOptions.value.filter((o) => o.copied)));
  const laterRoom = floor8(mtu - laterHeader.length);

  const payload = p.payload();
  const flagBits = (p.reservedFlag ? RESERVED_FLAG : 0) | (p.dontFragment ? DF : 0);
  const fragments: Uint8Array[] = [];
  let at = 0;
  while (at < payload.length) {
    const size = Math.min(at === 0 ? firstRoom : laterRoom, payload.length - at);
    const offset = p.fragmentOffset + at;
    if (offset > MAX_FRAGMENT_OFFSET) {
      return refuse('ipv4', 'fragment_offset', FLAGS_OFFSET, `a fragment would start at ${offset}, beyond the largest offset ${MAX_FRAGMENT_OFFSET}`);
    }
    // The last piece keeps the packet's own MF: the end of a fragment being refragmented is not the datagram's end.
    const more = at + size < payload.length || p.moreFragments;
    const header = at === 0 ? firstHeader : laterHeader;
    fragments.push(ipv4Fragment(header, payload.subarray(at, at + size), flagBits | (more ? MF : 0) | (offset / 8), options.ident));
    at += size;
  }
  return { ok: true, fragments };
}

/** The header of the fragments after the first: the packet's fixed header with `options` (padded) in place of its own. */
function headerWithOptions(packet: Uint8Array, options: Uint8Array): Uint8Array {
  const header = new Uint8Array(IPV4_MIN_HEADER + options.length);
  header.set(packet.subarray(0, IPV4_MIN_HEADER), 0);
  header.set(options, IPV4_MIN_HEADER);
  header[0] = 0x40 | (header.length >> 2);
  return header;
}

/** `header` then `data`, with total length, identification (when given), flags and offset, and checksum rewritten. */
function ipv4Fragment(header: Uint8Array, data: Uint8Array, flagsAndOffset: number, ident: number | undefined): Uint8Array {
  const hl = header.length;
  const out = new Uint8Array(hl + data.length);
  out.set(header, 0);
  put16(out, 2, hl + data.length);
  if (ident !== undefined) put16(out, 4, ident);
  put16(out, FLAGS_OFFSET, flagsAndOffset);
  put16(out, 10, 0);
  put16(out, 10, finishChecksum(sum16(out, 0, hl)));
  out.set(data, hl);
  return out;
}
