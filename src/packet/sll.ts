import { put16, u16 } from './bytes.js';
import { type Decoded, ok, short } from './result.js';

export const SLL_HEADER = 16;
const ADDRESS_FIELD = 8;

/**
 * LINKTYPE_LINUX_SLL ("cooked" capture, e.g. tcpdump -i any before libpcap 1.10): packet type,
 * ARPHRD type, link-layer address length, 8 address bytes (zero-padded or cut), protocol.
 */
export class SllPacket {
  private constructor(readonly bytes: Uint8Array) {}

  static check(bytes: Uint8Array): Decoded<SllPacket> {
    if (bytes.length < SLL_HEADER) return short('sll', 'header', 0, `needs ${SLL_HEADER} bytes, buffer has ${bytes.length}`);
    return ok(new SllPacket(bytes));
  }

  /** 0 to us, 1 broadcast, 2 multicast, 3 to another host, 4 sent by us. */
  get packetType(): number {
    return u16(this.bytes, 0);
  }
  get arphrdType(): number {
    return u16(this.bytes, 2);
  }
  /** The real address length, which may exceed the 8 bytes the header has room for. */
  get addressLength(): number {
    return u16(this.bytes, 4);
  }
  get address(): Uint8Array {
    return this.bytes.subarray(6, 6 + ADDRESS_FIELD);
  }
  /** An EtherType for most ARPHRD types. */
  get protocol(): number {
    return u16(this.bytes, 14);
  }
  get headerLength(): number {
    return SLL_HEADER;
  }
  payload(): Uint8Array {
    return this.bytes.subarray(SLL_HEADER);
  }
}

export interface SllRepr {
  readonly packetType: number;
  readonly arphrdType: number;
  readonly addressLength: number;
  /** All 8 raw bytes of the address field, padding included, so that emit reproduces them. */
  readonly address: Uint8Array;
  readonly protocol: number;
}

export function parseSll(p: SllPacket): SllRepr {
  return { packetType: p.packetType, arphrdType: p.arphrdType, addressLength: p.addressLength, address: p.address.slice(), protocol: p.protocol };
}

export function emitSll(repr: SllRepr, payload: Uint8Array): Uint8Array {
  if (repr.address.length !== ADDRESS_FIELD) throw new RangeError(`SLL address field is ${ADDRESS_FIELD} bytes, got ${repr.address.length}`);
  const out = new Uint8Array(SLL_HEADER + payload.length);
  put16(out, 0, repr.packetType);
  put16(out, 2, repr.arphrdType);
  put16(out, 4, repr.addressLength);
  out.set(repr.address, 6);
  put16(out, 14, repr.protocol);
  out.set(payload, SLL_HEADER);
  return out;
}
