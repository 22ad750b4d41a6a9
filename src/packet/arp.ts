import { formatIpv4 } from './address.js';
import { put16, u16 } from './bytes.js';
import { type Decoded, ok, short } from './result.js';

/** Hardware type, protocol type, the two address lengths and the operation. */
export const ARP_FIXED = 8;

/** RFC 826 operation codes (and RFC 903's reverse ARP, which shares the packet). */
export const ArpOperation = {
  Request: 1,
  Reply: 2,
  ReverseRequest: 3,
  ReverseReply: 4,
} as const;

/**
 * Checked view over an ARP packet (RFC 826): fixed part, then sender and target hardware and protocol addresses
 * whose lengths the fixed part gives. Bytes after the target protocol address (Ethernet padding) are not part of it.
 */
export class ArpPacket {
  private constructor(readonly bytes: Uint8Array) {}

  static check(bytes: Uint8Array): Decoded<ArpPacket> {
    if (bytes.length < ARP_FIXED) return short('arp', 'header', 0, `needs ${ARP_FIXED} bytes, buffer has ${bytes.length}`);
    const length = ARP_FIXED + 2 * (bytes[4]! + bytes[5]!);
    if (length > bytes.length) {
      return short('arp', 'addresses', 4, `address lengths ${bytes[4]} and ${bytes[5]} need ${length} bytes, buffer has ${bytes.length}`);
    }
    return ok(new ArpPacket(bytes));
  }

  get hardwareType(): number {
    return u16(this.bytes, 0);
  }
  /** An EtherType: 0x0800 for IPv4. */
  get protocolType(): number {
    return u16(this.bytes, 2);
  }
  get hardwareLength(): number {
    return this.bytes[4]!;
  }
  get protocolLength(): number {
    return this.bytes[5]!;
  }
  get operation(): number {
    return u16(this.bytes, 6);
  }
  get senderHardwareAddress(): Uint8Array {
    return this.address(0, this.hardwareLength);
  }
  get senderProtocolAddress(): Uint8Array {
    return this.address(this.hardwareLength, this.protocolLength);
  }
  get targetHardwareAddress(): Uint8Array {
    return this.address(this.hardwareLength + this.protocolLength, this.hardwareLength);
  }
  get targetProtocolAddress(): Uint8Array {
    return this.address(2 * this.hardwareLength + this.protocolLength, this.protocolLength);
  }
  private address(at: number, length: number): Uint8Array {
    return this.bytes.subarray(ARP_FIXED + at, ARP_FIXED + at + length);
  }
}

/**
 * Addresses are text: hardware addresses as colon-separated hex (a MAC address for Ethernet), protocol addresses of 4
 * bytes as a dotted quad (IPv4), others as colon-separated hex too.
 */
export interface ArpRepr {
  readonly hardwareType: number;
  readonly protocolType: number;
  readonly operation: number;
  readonly senderHardwareAddress: string;
  readonly senderProtocolAddress: string;
  readonly targetHardwareAddress: string;
  readonly targetProtocolAddress: string;
}

function hexText(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

function protocolText(b: Uint8Array): string {
  return b.length === 4 ? formatIpv4(b) : hexText(b);
}

function hexBytes(text: string, what: string): Uint8Array {
  if (text === '') return new Uint8Array(0);
  const parts = text.split(':');
  if (!parts.every((p) => /^[0-9a-f]{2}$/i.test(p))) throw new RangeError(`${what} ${JSON.stringify(text)} is not colon-separated hex bytes`);
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

function protocolBytes(text: string, what: string): Uint8Array {
  if (!text.includes('.')) return hexBytes(text, what);
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) throw new RangeError(`${what} ${JSON.stringify(text)} is not an IPv4 address`);
  return Uint8Array.from(parts, Number);
}

export function parseArp(p: ArpPacket): ArpRepr {
  return {
    hardwareType: p.hardwareType,
    protocolType: p.protocolType,
    operation: p.operation,
    senderHardwareAddress: hexText(p.senderHardwareAddress),
    senderProtocolAddress: protocolText(p.senderProtocolAddress),
    targetHardwareAddress: hexText(p.targetHardwareAddress),
    targetProtocolAddress: protocolText(p.targetProtocolAddress),
  };
}

/** The packet without padding. Throws RangeError when the two addresses of a kind differ in length or do not parse. */
export function emitArp(repr: ArpRepr): Uint8Array {
  const sha = hexBytes(repr.senderHardwareAddress, 'sender hardware address');
  const tha = hexBytes(repr.targetHardwareAddress, 'target hardware address');
  const spa = protocolBytes(repr.senderProtocolAddress, 'sender protocol address');
  const tpa = protocolBytes(repr.targetProtocolAddress, 'target protocol address');
  if (sha.length !== tha.length || spa.length !== tpa.length) throw new RangeError('sender and target addresses of one kind must have the same length');
  if (sha.length > 0xff || spa.length > 0xff) throw new RangeError('ARP addresses are at most 255 bytes');
  const out = new Uint8Array(ARP_FIXED + 2 * (sha.length + spa.length));
  put16(out, 0, repr.hardwareType);
  put16(out, 2, repr.protocolType);
  out[4] = sha.length;
  out[5] = spa.length;
  put16(out, 6, repr.operation);
  let o = ARP_FIXED;
  for (const a of [sha, spa, tha, tpa]) {
    out.set(a, o);
    o += a.length;
  }
  return out;
}
