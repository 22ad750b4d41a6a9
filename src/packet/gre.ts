import { put16, put32, u16, u32 } from './bytes.js';
import { finishChecksum, sum16, sumVerifies } from './checksum.js';
import type { ChecksumStatus } from './checksum-status.js';
import { type Decoded, fail, ok, short } from './result.js';

const FLAG_CHECKSUM = 0x8000;
const FLAG_KEY = 0x2000;
const FLAG_SEQUENCE = 0x1000;
const VERSION_MASK = 0x0007;
const RESERVED0_MASK = 0xffff & ~(FLAG_CHECKSUM | FLAG_KEY | FLAG_SEQUENCE | VERSION_MASK);

/**
 * GRE base header (RFC 2784) with the key and sequence number extensions of RFC 2890. Version 1
 * (PPTP's enhanced GRE, RFC 2637) has a different layout and is reported as an error, not guessed at.
 */
export class GrePacket {
  private constructor(
    readonly bytes: Uint8Array,
    readonly headerLength: number,
  ) {}

  static check(bytes: Uint8Array): Decoded<GrePacket> {
    if (bytes.length < 4) return short('gre', 'header', 0, `needs 4 bytes, buffer has ${bytes.length}`);
    const word = u16(bytes, 0);
    const version = word & VERSION_MASK;
    if (version !== 0) {
      return fail('gre', 'version', 1, version === 1 ? 'version 1 is PPTP enhanced GRE, which is not decoded' : `version ${version} is not defined`);
    }
    const headerLength = 4 + (word & FLAG_CHECKSUM ? 4 : 0) + (word & FLAG_KEY ? 4 : 0) + (word & FLAG_SEQUENCE ? 4 : 0);
    if (headerLength > bytes.length) {
      return short('gre', 'flags', 0, `flags announce a ${headerLength}-byte header, buffer has ${bytes.length}`);
    }
    return ok(new GrePacket(bytes, headerLength));
  }

  get checksumPresent(): boolean {
    return (u16(this.bytes, 0) & FLAG_CHECKSUM) !== 0;
  }
  get keyPresent(): boolean {
    return (u16(this.bytes, 0) & FLAG_KEY) !== 0;
  }
  get sequencePresent(): boolean {
    return (u16(this.bytes, 0) & FLAG_SEQUENCE) !== 0;
  }
  get reserved0(): number {
    return u16(this.bytes, 0) & RESERVED0_MASK;
  }
  get protocolType(): number {
    return u16(this.bytes, 2);
  }
  get checksum(): number | undefined {
    return this.checksumPresent ? u16(this.bytes, 4) : undefined;
  }
  get reserved1(): number {
    return this.checksumPresent ? u16(this.bytes, 6) : 0;
  }
  get key(): number | undefined {
    return this.keyPresent ? u32(this.bytes, this.checksumPresent ? 8 : 4) : undefined;
  }
  get sequence(): number | undefined {
    if (!this.sequencePresent) return undefined;
    return u32(this.bytes, 4 + (this.checksumPresent ? 4 : 0) + (this.keyPresent ? 4 : 0));
  }
  payload(): Uint8Array {
    return this.bytes.subarray(this.headerLength);
  }
  /** The checksum covers header and payload; `length` is how long the packet claims to be (for truncation). */
  checksumStatus(length = this.bytes.length): ChecksumStatus {
    if (!this.checksumPresent || this.bytes.length < length) return 'unverified';
    return sumVerifies(sum16(this.bytes, 0, length)) ? 'good' : 'bad';
  }
}

export interface GreRepr {
  readonly checksumPresent: boolean;
  readonly key?: number;
  readonly sequence?: number;
  readonly protocolType: number;
  /** Reserved bits of the first word and the Reserved1 field, kept so emit reproduces them. */
  readonly reserved0: number;
  readonly reserved1: number;
}

export function parseGre(p: GrePacket): GreRepr {
  const repr: { -readonly [K in keyof GreRepr]: GreRepr[K] } = {
    checksumPresent: p.checksumPresent,
    protocolType: p.protocolType,
    reserved0: p.reserved0,
    reserved1: p.reserved1,
  };
  if (p.keyPresent) repr.key = p.key;
  if (p.sequencePresent) repr.sequence = p.sequence;
  return repr;
}

export function greHeaderLength(repr: GreRepr): number {
  return 4 + (repr.checksumPresent ? 4 : 0) + (repr.key !== undefined ? 4 : 0) + (repr.sequence !== undefined ? 4 : 0);
}

export function emitGre(repr: GreRepr, payload: Uint8Array): Uint8Array {
  const hl = greHeaderLength(repr);
  const out = new Uint8Array(hl + payload.length);
  const flags =
    (repr.checksumPresent ? FLAG_CHECKSUM : 0) | (repr.key !== undefined ? FLAG_KEY : 0) | (repr.sequence !== undefined ? FLAG_SEQUENCE : 0);
  put16(out, 0, flags | (repr.reserved0 & RESERVED0_MASK));
  put16(out, 2, repr.protocolType);
  let o = 4;
  if (repr.checksumPresent) {
    put16(out, 6, repr.reserved1);
    o += 4;
  }
  if (repr.key !== undefined) {
    put32(out, o, repr.key);
    o += 4;
  }
  if (repr.sequence !== undefined) put32(out, o, repr.sequence);
  out.set(payload, hl);
  if (repr.checksumPresent) put16(out, 4, finishChecksum(sum16(out, 0, out.length)));
  return out;
}
