import { put16, u16 } from './bytes.js';
import { type Decoded, fail, ok, short } from './result.js';

/** IANA's port for Generic UDP Encapsulation. */
export const GUE_PORT = 6080;
const GUE_BASE_HEADER = 4;

/**
 * Generic UDP Encapsulation, draft-ietf-intarea-gue-09. The first two bits are the variant:
 * 0 is a GUE header (C bit, Hlen in 32-bit words of extension fields, protocol or control type,
 * flags); 1 means the UDP payload is an IPv4 or IPv6 packet with no GUE header at all, recognised
 * because the IP version nibbles 0100 and 0110 both start with the bits 01.
 */
export class GueHeader {
  private constructor(
    readonly bytes: Uint8Array,
    readonly headerLength: number,
  ) {}

  static check(bytes: Uint8Array): Decoded<GueHeader> {
    if (bytes.length < 1) return short('gue', 'variant', 0, 'no bytes after the UDP header');
    const variant = bytes[0]! >> 6;
    if (variant === 1) {
      const ipVersion = bytes[0]! >> 4;
      if (ipVersion !== 4 && ipVersion !== 6) {
        return fail('gue', 'variant', 0, `variant 1 (direct IP) but the IP version nibble is ${ipVersion}, not 4 or 6`);
      }
      return ok(new GueHeader(bytes, 0));
    }
    if (variant !== 0) return fail('gue', 'variant', 0, `variant ${variant} is reserved (only 0 and 1 are defined)`);
    if (bytes.length < GUE_BASE_HEADER) return short('gue', 'header', 0, `needs ${GUE_BASE_HEADER} bytes, buffer has ${bytes.length}`);
    const headerLength = GUE_BASE_HEADER + (bytes[0]! & 0x1f) * 4;
    if (headerLength > bytes.length) {
      return short('gue', 'hlen', 0, `header length ${headerLength} (with extension fields) is beyond the buffer of ${bytes.length} bytes`);
    }
    return ok(new GueHeader(bytes, headerLength));
  }

  get variant(): 0 | 1 {
    return this.bytes[0]! >> 6 === 1 ? 1 : 0;
  }
  get control(): boolean {
    return this.variant === 0 && (this.bytes[0]! & 0x20) !== 0;
  }
  /** For variant 0 the IP protocol of the payload (or the control type when `control`); for variant 1, 4 or 41. */
  get protocol(): number {
    if (this.variant === 1) return this.bytes[0]! >> 4 === 4 ? 4 : 41;
    return this.bytes[1]!;
  }
  get flags(): number {
    return this.variant === 0 ? u16(this.bytes, 2) : 0;
  }
  payload(): Uint8Array {
    return this.bytes.subarray(this.headerLength);
  }
}

export type GueRepr =
  | {
      readonly variant: 0;
      readonly control: boolean;
      readonly protocol: number;
      readonly flags: number;
      /** Extension fields (flag-indicated fields and private data), kept raw; a multiple of 4, at most 124. */
      readonly extensions: Uint8Array;
    }
  | { readonly variant: 1; readonly ipVersion: 4 | 6 };

export function parseGue(h: GueHeader): GueRepr {
  if (h.variant === 1) return { variant: 1, ipVersion: h.bytes[0]! >> 4 === 4 ? 4 : 6 };
  return { variant: 0, control: h.control, protocol: h.protocol, flags: h.flags, extensions: h.bytes.slice(GUE_BASE_HEADER, h.headerLength) };
}

export function gueHeaderLength(repr: GueRepr): number {
  return repr.variant === 1 ? 0 : GUE_BASE_HEADER + repr.extensions.length;
}

/** For variant 1 the payload must itself be an IP packet of the stated version. */
export function emitGue(repr: GueRepr, payload: Uint8Array): Uint8Array {
  if (repr.variant === 1) {
    if (payload.length === 0 || payload[0]! >> 4 !== repr.ipVersion) {
      throw new RangeError(`GUE variant 1 needs an IPv${repr.ipVersion} packet as payload`);
    }
    return payload.slice();
  }
  if (repr.extensions.length % 4 !== 0 || repr.extensions.length > 31 * 4) {
    throw new RangeError(`GUE extension fields must be a multiple of 4 bytes and at most 124, got ${repr.extensions.length}`);
  }
  const hl = gueHeaderLength(repr);
  const out = new Uint8Array(hl + payload.length);
  out[0] = (repr.control ? 0x20 : 0) | (repr.extensions.length / 4);
  out[1] = repr.protocol;
  put16(out, 2, repr.flags);
  out.set(repr.extensions, GUE_BASE_HEADER);
  out.set(payload, hl);
  return out;
}
