import { u16, u32 } from './bytes.js';
import { type Decoded, ok, short } from './result.js';

export const TCP_HEAD = 8;

/** Ports and sequence number, the first 8 bytes of a TCP header: what every view of one can read. */
export abstract class TcpHeadFields {
  protected constructor(readonly bytes: Uint8Array) {}

  get srcPort(): number {
    return u16(this.bytes, 0);
  }
  get dstPort(): number {
    return u16(this.bytes, 2);
  }
  get seq(): number {
    return u32(this.bytes, 4);
  }
}

/**
 * The first 8 bytes of a TCP header alone. RFC 792 promises an ICMP error no more of the offending segment than
 * this, and many routers quote no more; it is also what a capture with a small snaplen may leave. Enough to find the
 * connection an error is about.
 */
export class TcpHead extends TcpHeadFields {
  static check(bytes: Uint8Array): Decoded<TcpHead> {
    if (bytes.length < TCP_HEAD) return short('tcp', 'header', 0, `needs ${TCP_HEAD} bytes for ports and sequence number, buffer has ${bytes.length}`);
    return ok(new TcpHead(bytes));
  }
}

export interface TcpHeadRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
}

export function parseTcpHead(h: TcpHead): TcpHeadRepr {
  return { srcPort: h.srcPort, dstPort: h.dstPort, seq: h.seq };
}
