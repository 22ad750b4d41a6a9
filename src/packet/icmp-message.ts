import { u16, u32 } from './bytes.js';
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
