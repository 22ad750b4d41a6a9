import { parseMac } from './address.js';
import { macText } from './address-text.js';
import { put16, u16 } from './bytes.js';
import { type Decoded, ok, short } from './result.js';

export const ETHERNET_HEADER = 14;
export const VLAN_TAG = 4;

/**
 * Tag protocol identifiers that introduce an 802.1Q tag: C-tag, 802.1ad S-tag, and the pre-standard
 * 0x9100 that older QinQ switches still send.
 */
export const VLAN_TPIDS: ReadonlySet<number> = new Set([0x8100, 0x88a8, 0x9100]);

export interface VlanTag {
  readonly tpid: number;
  /** Priority code point, 3 bits. */
  readonly pcp: number;
  /** Drop eligible indicator (formerly CFI). */
  readonly dei: boolean;
  /** VLAN identifier, 12 bits. */
  readonly vid: number;
}

/**
 * Checked view over an Ethernet II frame with any number of stacked 802.1Q tags. The FCS is not part
 * of captured frames on Linux, so it is not looked for. A type/length field of 1500 or less is an
 * 802.3 length; it is reported unchanged as `etherType` and simply matches no upper protocol.
 */
export class EthernetFrame {
  private constructor(
    readonly bytes: Uint8Array,
    readonly headerLength: number,
  ) {}

  static check(bytes: Uint8Array): Decoded<EthernetFrame> {
    if (bytes.length < ETHERNET_HEADER) {
      return short('ethernet', 'header', 0, `needs ${ETHERNET_HEADER} bytes, buffer has ${bytes.length}`);
    }
    let typeAt = 12;
    // Each tag moves the type field 4 bytes on; the loop ends because typeAt grows towards bytes.length.
    while (VLAN_TPIDS.has(u16(bytes, typeAt))) {
      if (typeAt + VLAN_TAG + 2 > bytes.length) {
        return short('ethernet', 'vlan', typeAt, `802.1Q tag and the type after it need ${typeAt + VLAN_TAG + 2} bytes, buffer has ${bytes.length}`);
      }
      typeAt += VLAN_TAG;
    }
    return ok(new EthernetFrame(bytes, typeAt + 2));
  }

  get dst(): Uint8Array {
    return this.bytes.subarray(0, 6);
  }
  get src(): Uint8Array {
    return this.bytes.subarray(6, 12);
  }
  get vlanCount(): number {
    return (this.headerLength - ETHERNET_HEADER) / VLAN_TAG;
  }
  /** Outermost tag first. */
  get vlans(): VlanTag[] {
    const out: VlanTag[] = [];
    for (let o = 12; o < this.headerLength - 2; o += VLAN_TAG) {
      const tci = u16(this.bytes, o + 2);
      out.push({ tpid: u16(this.bytes, o), pcp: tci >> 13, dei: (tci & 0x1000) !== 0, vid: tci & 0x0fff });
    }
    return out;
  }
  /** The type after all tags. */
  /** Both MAC addresses are all zero: Linux's loopback device (lo) writes such frames. */
  get zeroAddresses(): boolean {
    for (let i = 0; i < 12; i++) if (this.bytes[i] !== 0) return false;
    return true;
  }
  get etherType(): number {
    return u16(this.bytes, this.headerLength - 2);
  }
  /** Everything after the header, including any padding to the 60-byte minimum (the IP layer trims it). */
  payload(): Uint8Array {
    return this.bytes.subarray(this.headerLength);
  }
}

export interface EthernetRepr {
  readonly dst: string;
  readonly src: string;
  readonly vlans: readonly VlanTag[];
  readonly etherType: number;
}

export function parseEthernet(frame: EthernetFrame): EthernetRepr {
  return { dst: macText(frame.bytes, 0), src: macText(frame.bytes, 6), vlans: frame.vlans, etherType: frame.etherType };
}

export function ethernetHeaderLength(repr: EthernetRepr): number {
  return ETHERNET_HEADER + VLAN_TAG * repr.vlans.length;
}

function macBytes(text: string): Uint8Array {
  const b = parseMac(text);
  if (!b) throw new RangeError(`not a MAC address: ${JSON.stringify(text)}`);
  return b;
}

/** Header followed by `payload`. Throws RangeError for a repr that would not parse back to itself. */
export function emitEthernet(repr: EthernetRepr, payload: Uint8Array): Uint8Array {
  if (VLAN_TPIDS.has(repr.etherType)) {
    throw new RangeError(`ether type 0x${repr.etherType.toString(16)} is a VLAN TPID; list the tag in vlans instead`);
  }
  if (!Number.isInteger(repr.etherType) || repr.etherType < 0 || repr.etherType > 0xffff) {
    throw new RangeError(`ether type ${repr.etherType} is not a 16-bit value`);
  }
  const hl = ethernetHeaderLength(repr);
  const out = new Uint8Array(hl + payload.length);
  out.set(macBytes(repr.dst), 0);
  out.set(macBytes(repr.src), 6);
  let o = 12;
  for (const tag of repr.vlans) {
    if (!VLAN_TPIDS.has(tag.tpid)) throw new RangeError(`0x${tag.tpid.toString(16)} is not a VLAN TPID`);
    if (tag.pcp < 0 || tag.pcp > 7 || tag.vid < 0 || tag.vid > 0x0fff) throw new RangeError(`VLAN tag pcp ${tag.pcp} / vid ${tag.vid} out of range`);
    put16(out, o, tag.tpid);
    put16(out, o + 2, (tag.pcp << 13) | (tag.dei ? 0x1000 : 0) | tag.vid);
    o += VLAN_TAG;
  }
  put16(out, o, repr.etherType);
  out.set(payload, hl);
  return out;
}
