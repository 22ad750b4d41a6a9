import { type Decoded, ok, short } from './result.js';

export const NULL_LOOP_HEADER = 4;

/** Address-family values seen in the 4-byte BSD loopback header: Linux, then the BSDs and macOS for IPv6. */
const AF_INET = 2;
const AF_INET6_VALUES: readonly number[] = [10, 24, 28, 30];

/**
 * The 4-byte header of LINKTYPE_NULL (the AF value in the capturing host's byte order, which the
 * file does not record) and LINKTYPE_LOOP (always network order). For NULL the byte order is
 * inferred like tshark does: AF values are small, so the order that yields a value below 256 wins.
 */
export class NullLoopHeader {
  private constructor(
    readonly bytes: Uint8Array,
    readonly littleEndian: boolean,
  ) {}

  static check(bytes: Uint8Array, networkOrder: boolean): Decoded<NullLoopHeader> {
    if (bytes.length < NULL_LOOP_HEADER) {
      return short('null', 'family', 0, `needs ${NULL_LOOP_HEADER} bytes, buffer has ${bytes.length}`);
    }
    const littleEndian = !networkOrder && bytes[0] !== 0 && bytes[3] === 0;
    return ok(new NullLoopHeader(bytes, littleEndian));
  }

  get family(): number {
    const b = this.bytes;
    return this.littleEndian
      ? (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0
      : ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }
  /** 4 or 6 when the family names IPv4 or IPv6, else undefined. */
  get ipVersion(): 4 | 6 | undefined {
    const f = this.family;
    if (f === AF_INET) return 4;
    return AF_INET6_VALUES.includes(f) ? 6 : undefined;
  }
  payload(): Uint8Array {
    return this.bytes.subarray(NULL_LOOP_HEADER);
  }
}

export interface NullLoopRepr {
  readonly family: number;
  readonly littleEndian: boolean;
}

export function parseNullLoop(h: NullLoopHeader): NullLoopRepr {
  return { family: h.family, littleEndian: h.littleEndian };
}

export function emitNullLoop(repr: NullLoopRepr, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(NULL_LOOP_HEADER + payload.length);
  const f = repr.family >>> 0;
  const be = [f >>> 24, (f >>> 16) & 0xff, (f >>> 8) & 0xff, f & 0xff];
  out.set(repr.littleEndian ? be.reverse() : be, 0);
  out.set(payload, NULL_LOOP_HEADER);
  return out;
}
