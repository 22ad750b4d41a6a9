import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { CaptureError } from '../../../src/capture/capture-error.js';
import type { CapturedPacket } from '../../../src/capture/captured-packet.js';
import type { CaptureEncoder, PacketToWrite } from '../../../src/capture/capture-encoder.js';
import { readCaptureBatches } from '../../../src/capture/reader.js';

/** The link types mtuscope decodes, and LINKTYPE_* → Wireshark's WTAP_ENCAP_* (frame.encap_type), checked on TShark 4.0.17. */
export const LINK_TYPES: readonly number[] = [1, 101, 113, 276, 0, 108, 228, 229];
export const WTAP_ENCAP: ReadonlyMap<number, number> = new Map([
  [1, 1],
  [101, 7],
  [113, 25],
  [276, 210],
  [0, 15],
  [108, 174],
  [228, 129],
  [229, 130],
]);

export const arbLinkType: fc.Arbitrary<number> = fc.constantFrom(...LINK_TYPES);

/** A packet to write: data up to 300 bytes, original length at least that, any time a pcap can hold. */
export function arbPacket(interfaces: number, maxSeconds = 0xffffffff): fc.Arbitrary<Required<Omit<PacketToWrite, 'linkType' | 'comment'>>> {
  return fc.record(
    {
      timestampNs: fc.bigInt({ min: 0n, max: BigInt(maxSeconds) * 1_000_000_000n + 999_999_999n }),
      data: fc.uint8Array({ maxLength: 300, size: 'max' }),
      extra: fc.integer({ min: 0, max: 2000 }),
      interfaceId: fc.integer({ min: 0, max: interfaces - 1 }),
    },
    { noNullPrototype: true },
  ).map(({ timestampNs, data, extra, interfaceId }) => ({ timestampNs, data, originalLength: data.length + extra, interfaceId }));
}

/** The whole file an encoder produces for `packets`. */
export function encodeFile(encoder: CaptureEncoder, packets: readonly PacketToWrite[]): Uint8Array {
  const parts = [encoder.fileHeader()];
  for (const p of packets) {
    const b = new Uint8Array(encoder.encodedLength(p));
    const end = encoder.encodePacket(p, b, 0);
    if (end !== b.length) throw new Error(`encodePacket wrote ${end} bytes, encodedLength said ${b.length}`);
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/** A byte stream delivering `bytes` in chunks whose sizes `nextSize` picks (stdin-like: one chunk per read). */
export function chunkedStream(bytes: Uint8Array, nextSize: () => number): Readable {
  let pos = 0;
  return new Readable({
    read() {
      if (pos >= bytes.length) {
        this.push(null);
        return;
      }
      const n = Math.max(1, nextSize());
      // A copy per chunk, as a real stream delivers: views into it must not see the next chunk.
      this.push(Buffer.from(bytes.subarray(pos, pos + n)));
      pos += n;
    },
  });
}

export function splitStream(bytes: Uint8Array, cuts: readonly number[]): Readable {
  let i = 0;
  return chunkedStream(bytes, () => cuts[i++ % Math.max(1, cuts.length)] ?? bytes.length);
}

export interface ReadResult {
  readonly packets: CapturedPacket[];
  readonly error: CaptureError | undefined;
  readonly batches: number;
}

/** Every packet (data copied out of the chunks) and the CaptureError that ended the read, if any. */
export async function readAll(source: string | NodeJS.ReadableStream): Promise<ReadResult> {
  const packets: CapturedPacket[] = [];
  let batches = 0;
  try {
    for await (const batch of readCaptureBatches(source)) {
      batches++;
      for (const p of batch) packets.push({ ...p, data: p.data.slice() });
    }
  } catch (err) {
    if (err instanceof CaptureError) return { packets, error: err, batches };
    throw err;
  }
  return { packets, error: undefined, batches };
}

/** Seconds since the epoch with nine decimals, as tshark prints frame.time_epoch. */
export { epochText } from '../../../src/cli/time-text.js';

export function md5(data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

export { prng } from '../../support/prng.js';

/** Raw pcapng block with control over both length fields, for malformed-input tests. */
export function rawBlock(type: number, body: Uint8Array, opts: { le?: boolean; length?: number; trailing?: number } = {}): Buffer {
  const le = opts.le ?? true;
  const length = 12 + body.length;
  const b = Buffer.alloc(length);
  const w = (o: number, v: number): number => (le ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o));
  w(0, type);
  w(4, opts.length ?? length);
  b.set(body, 8);
  w(length - 4, opts.trailing ?? opts.length ?? length);
  return b;
}

/** Little- or big-endian 32/16-bit words laid out in order, for block bodies. */
export function words(le: boolean, ...fields: ([16, number] | [32, number] | number)[]): Uint8Array {
  const parts: Buffer[] = [];
  for (const f of fields) {
    const [size, v] = typeof f === 'number' ? [32, f] : f;
    const b = Buffer.alloc(size / 8);
    if (size === 16) {
      if (le) b.writeUInt16LE(v);
      else b.writeUInt16BE(v);
    } else if (le) b.writeUInt32LE(v >>> 0);
    else b.writeUInt32BE(v >>> 0);
    parts.push(b);
  }
  return Buffer.concat(parts);
}
