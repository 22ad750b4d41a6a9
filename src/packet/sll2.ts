import { put16, put32, u16, u32 } from './bytes.js';
import { type Decoded, ok, short } from './result.js';

export const SLL2_HEADER = 20;
const ADDRESS_FIELD = 8;

/**
 * LINKTYPE_LINUX_SLL2 (libpcap 1.10+ "any" device): like SLL, but protocol first and with the
 * receiving interface index, which tells which device of a tunnel stack a packet was seen on.
 */
export class Sll2Packet {
  private constructor(readonly bytes: Uint8Array) {}

  static check(bytes: Uint8Array): Decoded<Sll2Packet> {
    if (bytes.length < SLL2_HEADER) return short('sll2', 'header', 0, `needs ${SLL2_HEADER} bytes, buffer has ${bytes.length}`);
    return ok(new Sll2Packet(bytes));
  }

  get protocol(): number {
    return u16(this.bytes, 0);
  }
  get reserved(): number {
    return u16(this.bytes, 2);
  }
  get interfaceIndex(): number {
    return u32(this.bytes, 4);
  }
  get arphrdType(): number {
    return u16(this.bytes, 8);
  }
  get packetType(): number {
    return this.bytes[10]!;
  }
  get addressLength(): number {
    return this.bytes[11]!;
  }
  get address(): Uint8Array {
    return this.bytes.subarray(12, 12 + ADDRESS_FIELD);
  }
  get headerLength(): number {
    return SLL2_HEADER;
  }
  payload(): Uint8Array {
    return this.bytes.subarray(SLL2_HEADER);
  }
}

export interface Sll2Repr {
  readonly protocol: number;
  /** Must be zero by the spec; kept so that emit reproduces whatever was captured. */
  readonly reserved: number;
  readonly interfaceIndex: number;
  readonly arphrdType: number;
  readonly packetType: number;
  readonly addressLength: number;
  /** All 8 raw bytes of the address field. */
  readonly address: Uint8Array;
}

export function parseSll2(p: Sll2Packet): Sll2Repr {
  return {
    protocol: p.protocol,
    reserved: p.reserved,
    interfaceIndex: p.interfaceIndex,
    arphrdType: p.arphrdType,
    packetType: p.packetType,
    addressLength: p.addressLength,
    address: p.address.slice(),
  };
}

export function emitSll2(repr: Sll2Repr, payload: Uint8Array): Uint8Array {
  if (repr.address.length !== ADDRESS_FIELD) throw new RangeError(`SLL2 address field is ${ADDRESS_FIELD} bytes, got ${repr.address.length}`);
  const out = new Uint8Array(SLL2_HEADER + payload.length);
  put16(out, 0, repr.protocol);
  put16(out, 2, repr.reserved);
  put32(out, 4, repr.interfaceIndex);
  put16(out, 8, repr.arphrdType);
  out[10] = repr.packetType;
  out[11] = repr.addressLength;
  out.set(repr.address, 12);
  out.set(payload, SLL2_HEADER);
  return out;
}
