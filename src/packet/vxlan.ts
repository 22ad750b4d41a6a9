import { put24, u24 } from './bytes.js';
import { type Decoded, ok, short } from './result.js';

export const VXLAN_PORT = 4789;
export const VXLAN_HEADER = 8;
const FLAG_VNI_VALID = 0x08;

/** RFC 7348 header; the payload is an inner Ethernet frame. */
export class VxlanHeader {
  private constructor(readonly bytes: Uint8Array) {}

  static check(bytes: Uint8Array): Decoded<VxlanHeader> {
    if (bytes.length < VXLAN_HEADER) return short('vxlan', 'header', 0, `needs ${VXLAN_HEADER} bytes, buffer has ${bytes.length}`);
    return ok(new VxlanHeader(bytes));
  }

  get flags(): number {
    return this.bytes[0]!;
  }
  /** RFC 7348 says receivers treat the VNI as meaningful only with the I flag set. */
  get vniValid(): boolean {
    return (this.flags & FLAG_VNI_VALID) !== 0;
  }
  get vni(): number {
    return u24(this.bytes, 4);
  }
  payload(): Uint8Array {
    return this.bytes.subarray(VXLAN_HEADER);
  }
}

export interface VxlanRepr {
  readonly flags: number;
  readonly vni: number;
  /** Reserved bits, kept so that emit reproduces the header exactly. */
  readonly reserved1: number;
  readonly reserved2: number;
}

export function parseVxlan(h: VxlanHeader): VxlanRepr {
  return { flags: h.flags, vni: h.vni, reserved1: u24(h.bytes, 1), reserved2: h.bytes[7]! };
}

export function emitVxlan(repr: VxlanRepr, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(VXLAN_HEADER + payload.length);
  out[0] = repr.flags;
  put24(out, 1, repr.reserved1);
  put24(out, 4, repr.vni);
  out[7] = repr.reserved2;
  out.set(payload, VXLAN_HEADER);
  return out;
}
