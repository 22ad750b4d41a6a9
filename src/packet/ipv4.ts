import { ipBytes } from './address.js';
import { ipv4Text } from './address-text.js';
import { put16, u16 } from './bytes.js';
import { finishChecksum, sum16, sumVerifies } from './checksum.js';
import { type Decoded, fail, ok, short } from './result.js';

export const IPV4_MIN_HEADER = 20;
export const IPV4_MAX_OPTIONS = 40;

/**
 * Checked view over an IPv4 packet. check() validates the header once; afterwards every accessor is
 * in range. When the buffer holds fewer bytes than total length claims (a snapped capture), the view
 * is still valid and `truncated` is true; when it holds more (Ethernet padding), payload() stops at
 * total length.
 */
export class Ipv4Packet {
  private constructor(
    readonly bytes: Uint8Array,
    readonly headerLength: number,
    readonly totalLength: number,
  ) {}

  static check(bytes: Uint8Array): Decoded<Ipv4Packet> {
    if (bytes.length < IPV4_MIN_HEADER) {
      return short('ipv4', 'header', 0, `needs ${IPV4_MIN_HEADER} bytes, buffer has ${bytes.length}`);
    }
    const version = bytes[0]! >> 4;
    if (version !== 4) return fail('ipv4', 'version', 0, `version is ${version}, not 4`);
    const ihl = bytes[0]! & 0x0f;
    if (ihl < 5) return fail('ipv4', 'ihl', 0, `IHL ${ihl} is smaller than 5`);
    const headerLength = ihl * 4;
    if (headerLength > bytes.length) {
      return short('ipv4', 'ihl', 0, `header length ${headerLength} is beyond the buffer of ${bytes.length} bytes`);
    }
    const totalLength = u16(bytes, 2);
    if (totalLength < headerLength) {
      return fail('ipv4', 'total_length', 2, `total length ${totalLength} is smaller than header length ${headerLength}`);
    }
    return ok(new Ipv4Packet(bytes, headerLength, totalLength));
  }

  get truncated(): boolean {
    return this.bytes.length < this.totalLength;
  }
  get dscp(): number {
    return this.bytes[1]! >> 2;
  }
  get ecn(): number {
    return this.bytes[1]! & 3;
  }
  get ident(): number {
    return u16(this.bytes, 4);
  }
  get reservedFlag(): boolean {
    return (this.bytes[6]! & 0x80) !== 0;
  }
  get dontFragment(): boolean {
    return (this.bytes[6]! & 0x40) !== 0;
  }
  get moreFragments(): boolean {
    return (this.bytes[6]! & 0x20) !== 0;
  }
  /** Fragment offset in bytes (the field counts 8-octet units). */
  get fragmentOffset(): number {
    return (u16(this.bytes, 6) & 0x1fff) * 8;
  }
  get isFragment(): boolean {
    return this.moreFragments || this.fragmentOffset !== 0;
  }
  get ttl(): number {
    return this.bytes[8]!;
  }
  get protocol(): number {
    return this.bytes[9]!;
  }
  get checksum(): number {
    return u16(this.bytes, 10);
  }
  get src(): Uint8Array {
    return this.bytes.subarray(12, 16);
  }
  get dst(): Uint8Array {
    return this.bytes.subarray(16, 20);
  }
  get options(): Uint8Array {
    return this.bytes.subarray(IPV4_MIN_HEADER, this.headerLength);
  }
  /** The payload bytes present: up to total length, or to the end of a truncated buffer. */
  payload(): Uint8Array {
    return this.bytes.subarray(this.headerLength, Math.min(this.totalLength, this.bytes.length));
  }
  checksumValid(): boolean {
    return sumVerifies(sum16(this.bytes, 0, this.headerLength));
  }
  /** The addresses as text, without a view per address (parseIpv4 gives the same). */
  srcText(): string {
    return ipv4Text(this.bytes, 12);
  }
  dstText(): string {
    return ipv4Text(this.bytes, 16);
  }
  /** pseudoHeaderSum() of this packet's addresses, summed in place. */
  pseudoHeaderSum(protocol: number, length: number): number {
    return sum16(this.bytes, 12, 20) + protocol + (length & 0xffff);
  }
}

export interface Ipv4Repr {
  readonly src: string;
  readonly dst: string;
  readonly protocol: number;
  readonly ttl: number;
  readonly dscp: number;
  readonly ecn: number;
  readonly ident: number;
  readonly reservedFlag: boolean;
  readonly dontFragment: boolean;
  readonly moreFragments: boolean;
  /** In bytes; a multiple of 8. */
  readonly fragmentOffset: number;
  /** Raw option bytes including padding; a multiple of 4, at most 40. See parseIpv4Options. */
  readonly options: Uint8Array;
  /** Total length minus header length, as the header claims it. */
  readonly payloadLength: number;
}

/** Shared by every header without options: a copy of nothing, made once instead of once per packet. */
const NO_OPTIONS: Uint8Array = new Uint8Array(0);

export function parseIpv4(packet: Ipv4Packet): Ipv4Repr {
  return {
    src: packet.srcText(),
    dst: packet.dstText(),
    protocol: packet.protocol,
    ttl: packet.ttl,
    dscp: packet.dscp,
    ecn: packet.ecn,
    ident: packet.ident,
    reservedFlag: packet.reservedFlag,
    dontFragment: packet.dontFragment,
    moreFragments: packet.moreFragments,
    fragmentOffset: packet.fragmentOffset,
    options: packet.headerLength === IPV4_MIN_HEADER ? NO_OPTIONS : packet.options.slice(),
    payloadLength: packet.totalLength - packet.headerLength,
  };
}

export function ipv4HeaderLength(repr: Ipv4Repr): number {
  return IPV4_MIN_HEADER + repr.options.length;
}

/** Writes the header (checksum included) at `offset`; the payload that follows is the caller's. */
export function emitIpv4Header(repr: Ipv4Repr, out: Uint8Array, offset = 0): number {
  const hl = ipv4HeaderLength(repr);
  if (repr.options.length % 4 !== 0 || repr.options.length > IPV4_MAX_OPTIONS) {
    throw new RangeError(`IPv4 options must be a multiple of 4 bytes and at most 40, got ${repr.options.length}`);
  }
  if (repr.fragmentOffset % 8 !== 0 || repr.fragmentOffset > 0x1fff * 8) {
    throw new RangeError(`IPv4 fragment offset ${repr.fragmentOffset} is not a multiple of 8 within range`);
  }
  if (hl + repr.payloadLength > 0xffff) throw new RangeError(`IPv4 total length ${hl + repr.payloadLength} exceeds 65535`);
  const b = out;
  const o = offset;
  b[o] = 0x40 | (hl >> 2);
  b[o + 1] = ((repr.dscp & 0x3f) << 2) | (repr.ecn & 3);
  put16(b, o + 2, hl + repr.payloadLength);
  put16(b, o + 4, repr.ident);
  const flags = (repr.reservedFlag ? 0x8000 : 0) | (repr.dontFragment ? 0x4000 : 0) | (repr.moreFragments ? 0x2000 : 0);
  put16(b, o + 6, flags | (repr.fragmentOffset / 8));
  b[o + 8] = repr.ttl;
  b[o + 9] = repr.protocol;
  put16(b, o + 10, 0);
  b.set(ipBytes(repr.src, 4), o + 12);
  b.set(ipBytes(repr.dst, 4), o + 16);
  b.set(repr.options, o + 20);
  put16(b, o + 10, finishChecksum(sum16(b, o, o + hl)));
  return hl;
}

/** A whole packet: header from `repr` followed by `payload` (whose length must equal repr.payloadLength). */
export function emitIpv4(repr: Ipv4Repr, payload: Uint8Array): Uint8Array {
  if (payload.length !== repr.payloadLength) {
    throw new RangeError(`payload has ${payload.length} bytes, repr says ${repr.payloadLength}`);
  }
  const out = new Uint8Array(ipv4HeaderLength(repr) + payload.length);
  const hl = emitIpv4Header(repr, out, 0);
  out.set(payload, hl);
  return out;
}

/** What varies between whole packets a host builds itself: no options, not a fragment; DSCP, ECN and DF default to 0/clear. */
export type WholeIpv4Fields = Pick<Ipv4Repr, 'src' | 'dst' | 'protocol' | 'ttl' | 'ident'> & Partial<Pick<Ipv4Repr, 'dscp' | 'ecn' | 'dontFragment'>>;

/** A whole, unfragmented IPv4 packet without options carrying `payload`. */
export function emitWholeIpv4(fields: WholeIpv4Fields, payload: Uint8Array): Uint8Array {
  return emitIpv4(
    {
      ...fields,
      dscp: fields.dscp ?? 0,
      ecn: fields.ecn ?? 0,
      dontFragment: fields.dontFragment ?? false,
      reservedFlag: false,
      moreFragments: false,
      fragmentOffset: 0,
      options: new Uint8Array(0),
      payloadLength: payload.length,
    },
    payload,
  );
}

export interface Ipv4Option {
  /** The whole type octet: copied flag (0x80), class and number. */
  readonly type: number;
  readonly copied: boolean;
  /** Option data after type and length octets (empty for single-octet options). */
  readonly data: Uint8Array;
}

/** Splits raw option bytes into options (RFC 791 section 3.1); stops at End of Option List. */
export function parseIpv4Options(options: Uint8Array): Decoded<Ipv4Option[]> {
  const out: Ipv4Option[] = [];
  let i = 0;
  while (i < options.length) {
    const type = options[i]!;
    if (type === 0) break;
    if (type === 1) {
      out.push({ type, copied: false, data: new Uint8Array(0) });
      i++;
      continue;
    }
    if (i + 1 >= options.length) return fail('ipv4', 'option.length', IPV4_MIN_HEADER + i, `option ${type} has no length octet`);
    const len = options[i + 1]!;
    if (len < 2) return fail('ipv4', 'option.length', IPV4_MIN_HEADER + i + 1, `option ${type} length ${len} is smaller than 2`);
    if (i + len > options.length) {
      return fail('ipv4', 'option.length', IPV4_MIN_HEADER + i + 1, `option ${type} length ${len} runs past the header`);
    }
    out.push({ type, copied: (type & 0x80) !== 0, data: options.slice(i + 2, i + len) });
    i += len;
  }
  return ok(out);
}

/** Encodes options and pads with End of Option List to a multiple of 4. */
export function emitIpv4Options(options: readonly Ipv4Option[]): Uint8Array {
  const parts: number[] = [];
  for (const opt of options) {
    if (opt.type === 0 || opt.type === 1) parts.push(opt.type);
    else parts.push(opt.type, opt.data.length + 2, ...opt.data);
  }
  while (parts.length % 4 !== 0) parts.push(0);
  return Uint8Array.from(parts);
}
