import { put32, u16, u32 } from './bytes.js';
import { fail, type Failed, short } from './result.js';

/** Type, code, checksum and four type-dependent bytes: the header ICMPv4 and ICMPv6 share. */
export const ICMP_HEADER = 8;

/**
 * What the checked views of ICMPv4 and ICMPv6 messages share. `claimed` is the message length the IP
 * header promises: the checksum covers exactly that many bytes, so it can only be verified when all of
 * them were captured, and bytes beyond it (link-layer padding) are not part of the message.
 */
export abstract class IcmpMessage {
  protected constructor(
    readonly bytes: Uint8Array,
    readonly claimed: number,
  ) {}

  get type(): number {
    return this.bytes[0]!;
  }
  get code(): number {
    return this.bytes[1]!;
  }
  get checksum(): number {
    return u16(this.bytes, 2);
  }
  /** Bytes 4-7, whose meaning depends on type and code (MTU, pointer, identifier and sequence, unused). */
  get rest(): number {
    return u32(this.bytes, 4);
  }
  /** The first half of `rest`: an echo's identifier. */
  get restHigh(): number {
    return u16(this.bytes, 4);
  }
  /** The second half of `rest`: an echo's sequence number, ICMPv4's next-hop MTU. */
  get restLow(): number {
    return u16(this.bytes, 6);
  }
  get truncated(): boolean {
    return this.bytes.length < this.claimed;
  }
  /** The message body present: up to the claimed length, or to the end of a truncated buffer. */
  payload(): Uint8Array {
    return this.bytes.subarray(ICMP_HEADER, Math.min(this.claimed, this.bytes.length));
  }
}

/** The length checks of both views; undefined when the message can be viewed. */
export function checkIcmpLength(protocol: 'icmpv4' | 'icmpv6', bytes: Uint8Array, claimed: number): Failed | undefined {
  // Bytes first: for a fragment the caller can only claim what it holds, so a snapped one must read as short.
  if (bytes.length < ICMP_HEADER) return short(protocol, 'header', 0, `needs ${ICMP_HEADER} bytes, buffer has ${bytes.length}`);
  if (claimed < ICMP_HEADER) {
    const ip = protocol === 'icmpv4' ? 'IP' : 'IPv6';
    return fail(protocol, 'length', 0, `${ip} header gives the message ${claimed} bytes, fewer than the ${ICMP_HEADER}-byte header`);
  }
  return undefined;
}

/** Bytes 4-7 made of two 16-bit halves (identifier and sequence number of an echo, unused and next-hop MTU). */
export function restOf(high: number, low: number): number {
  return (high & 0xffff) * 0x10000 + (low & 0xffff);
}

/** The whole message with the checksum field zero: the caller fills it in (ICMPv6's covers a pseudo-header). */
export function icmpMessageBytes(type: number, code: number, rest: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(ICMP_HEADER + body.length);
  out[0] = type;
  out[1] = code;
  put32(out, 4, rest);
  out.set(body, ICMP_HEADER);
  return out;
}

/**
 * Emitting an `other` repr whose type and code have a kind of their own would give bytes that parse back as that kind,
 * so such a repr is refused: `parsedKind` is what the bytes emitted for an `other` repr parse as.
 */
export function refuseAmbiguousOther(parsedKind: string, type: number, code: number): void {
  if (parsedKind !== 'other') throw new RangeError(`ICMP type ${type} code ${code} has its own kind, ${parsedKind}, not 'other'`);
}
