import { ipBytes } from './address.js';
import { ipv6Text } from './address-text.js';
import { put16, u16 } from './bytes.js';
import { sum16 } from './checksum.js';
import { type Decoded, fail, ok, short } from './result.js';

export const IPV6_HEADER = 40;
const MAX_PAYLOAD_LENGTH = 0xffff;
const MAX_FLOW_LABEL = 0xfffff;

/**
 * Checked view over the fixed IPv6 header (RFC 8200 section 3). Extension headers are walked
 * separately (ipv6-ext.ts) because they can be malformed independently of this header. A buffer
 * shorter than 40 + payload length is a snapped capture (`truncated`); a longer one carries
 * link-layer padding, which payload() leaves out.
 */
export class Ipv6Packet {
  private constructor(readonly bytes: Uint8Array) {}

  static check(bytes: Uint8Array): Decoded<Ipv6Packet> {
    if (bytes.length < IPV6_HEADER) return short('ipv6', 'header', 0, `needs ${IPV6_HEADER} bytes, buffer has ${bytes.length}`);
    const version = bytes[0]! >> 4;
    if (version !== 6) return fail('ipv6', 'version', 0, `version is ${version}, not 6`);
    return ok(new Ipv6Packet(bytes));
  }

  get trafficClass(): number {
    return ((this.bytes[0]! & 0x0f) << 4) | (this.bytes[1]! >> 4);
  }
  get flowLabel(): number {
    return ((this.bytes[1]! & 0x0f) << 16) | u16(this.bytes, 2);
  }
  get payloadLength(): number {
    return u16(this.bytes, 4);
  }
  get nextHeader(): number {
    return this.bytes[6]!;
  }
  get hopLimit(): number {
    return this.bytes[7]!;
  }
  get src(): Uint8Array {
    return this.bytes.subarray(8, 24);
  }
  get dst(): Uint8Array {
    return this.bytes.subarray(24, 40);
  }
  get truncated(): boolean {
    return this.bytes.length < IPV6_HEADER + this.payloadLength;
  }
  /** The addresses as text, without a view per address (parseIpv6 gives the same). */
  srcText(): string {
    return ipv6Text(this.bytes, 8);
  }
  dstText(): string {
    return ipv6Text(this.bytes, 24);
  }
  /** pseudoHeaderSum() of this packet's addresses (RFC 8200 section 8.1), summed in place. */
  pseudoHeaderSum(protocol: number, length: number): number {
    return sum16(this.bytes, 8, 40) + protocol + Math.floor(length / 0x10000) + (length & 0xffff);
  }
  /** Everything after the fixed header that is present, extension headers included. */
  payload(): Uint8Array {
    return this.bytes.subarray(IPV6_HEADER, Math.min(IPV6_HEADER + this.payloadLength, this.bytes.length));
  }
}

export interface Ipv6Repr {
  readonly src: string;
  readonly dst: string;
  readonly nextHeader: number;
  readonly hopLimit: number;
  readonly trafficClass: number;
  /** 20 bits. */
  readonly flowLabel: number;
  /** As the header claims it: extension headers plus upper-layer data. */
  readonly payloadLength: number;
}

export function parseIpv6(packet: Ipv6Packet): Ipv6Repr {
  return {
    src: packet.srcText(),
    dst: packet.dstText(),
    nextHeader: packet.nextHeader,
    hopLimit: packet.hopLimit,
    trafficClass: packet.trafficClass,
    flowLabel: packet.flowLabel,
    payloadLength: packet.payloadLength,
  };
}

/** Writes the 40-byte fixed header at `offset`; the payload that follows is the caller's. */
export function emitIpv6Header(repr: Ipv6Repr, out: Uint8Array, offset = 0): number {
  // Jumbograms (RFC 2675, payload length 0 plus a hop-by-hop option) are not produced by anything mtuscope probes.
  if (repr.payloadLength < 0 || repr.payloadLength > MAX_PAYLOAD_LENGTH) {
    throw new RangeError(`IPv6 payload length ${repr.payloadLength} is outside 0..${MAX_PAYLOAD_LENGTH}`);
  }
  if (repr.flowLabel < 0 || repr.flowLabel > MAX_FLOW_LABEL) throw new RangeError(`IPv6 flow label ${repr.flowLabel} does not fit in 20 bits`);
  if (repr.trafficClass < 0 || repr.trafficClass > 0xff) throw new RangeError(`IPv6 traffic class ${repr.trafficClass} does not fit in 8 bits`);
  const b = out;
  const o = offset;
  b[o] = 0x60 | (repr.trafficClass >> 4);
  b[o + 1] = ((repr.trafficClass & 0x0f) << 4) | (repr.flowLabel >> 16);
  put16(b, o + 2, repr.flowLabel & 0xffff);
  put16(b, o + 4, repr.payloadLength);
  b[o + 6] = repr.nextHeader;
  b[o + 7] = repr.hopLimit;
  b.set(ipBytes(repr.src, 6), o + 8);
  b.set(ipBytes(repr.dst, 6), o + 24);
  return IPV6_HEADER;
}

/** A whole packet: header from `repr` followed by `payload` (whose length must equal repr.payloadLength). */
export function emitIpv6(repr: Ipv6Repr, payload: Uint8Array): Uint8Array {
  if (payload.length !== repr.payloadLength) {
    throw new RangeError(`payload has ${payload.length} bytes, repr says ${repr.payloadLength}`);
  }
  const out = new Uint8Array(IPV6_HEADER + payload.length);
  emitIpv6Header(repr, out, 0);
  out.set(payload, IPV6_HEADER);
  return out;
}
