import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  BLOCK_CUSTOM,
  BLOCK_DSB,
  BLOCK_EPB,
  BLOCK_IDB,
  BLOCK_ISB,
  BLOCK_NRB,
  BLOCK_OPB,
  BLOCK_SHB,
  BLOCK_SPB,
} from '../../src/capture/pcapng-format.js';
import { tsharkFields } from '../support/tshark.js';
import { chunkedStream, epochText, md5, prng, rawBlock, readAll, words, WTAP_ENCAP } from './support/capture-fixtures.js';

function pad(b: Uint8Array): Buffer {
  return Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
}

function option(le: boolean, code: number, value: Uint8Array): Buffer {
  return Buffer.concat([words(le, [16, code], [16, value.length]), pad(value)]);
}

const END = (le: boolean): Uint8Array => words(le, [16, 0], [16, 0]);

function shb(le: boolean, sectionLength = -1): Buffer {
  const len = BigInt.asUintN(64, BigInt(sectionLength));
  return rawBlock(BLOCK_SHB, words(le, 0x1a2b3c4d, [16, 1], [16, 0], ...(le ? [Number(len & 0xffffffffn), Number(len >> 32n)] : [Number(len >> 32n), Number(len & 0xffffffffn)])), { le });
}

function idb(le: boolean, linkType: number, snaplen: number, opts: { tsresol?: number; tsoffset?: bigint } = {}): Buffer {
  const parts: Uint8Array[] = [words(le, [16, linkType], [16, 0], snaplen)];
  parts.push(option(le, 2, Buffer.from('if-with-options'))); // if_name, to be skipped
  if (opts.tsresol !== undefined) parts.push(option(le, 9, Uint8Array.of(opts.tsresol)));
  if (opts.tsoffset !== undefined) {
    const v = Buffer.alloc(8);
    if (le) v.writeBigInt64LE(opts.tsoffset);
    else v.writeBigInt64BE(opts.tsoffset);
    parts.push(option(le, 14, v));
  }
  parts.push(END(le));
  return rawBlock(BLOCK_IDB, Buffer.concat(parts), { le });
}

function epb(le: boolean, id: number, units: bigint, data: Uint8Array, original = data.length, type = BLOCK_EPB): Buffer {
  const high = Number(units >> 32n);
  const low = Number(units & 0xffffffffn);
  const head = type === BLOCK_OPB ? words(le, [16, id], [16, 0], high, low, data.length, original) : words(le, id, high, low, data.length, original);
  // An epb_flags option after the data, which the reader must not mistake for data.
  return rawBlock(type, Buffer.concat([head, pad(data), option(le, 2, words(le, 1)), END(le)]), { le });
}

function spb(le: boolean, original: number, data: Uint8Array): Buffer {
  return rawBlock(BLOCK_SPB, Buffer.concat([words(le, original), pad(data)]), { le });
}

function bytes(seed: number, n: number): Buffer {
  const rnd = prng(seed);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
}

interface Expect {
  readonly linkType: number;
  readonly interfaceId: number;
  readonly timestampNs: bigint;
  readonly originalLength: number;
  readonly data: Uint8Array;
}

/**
 * Two sections of opposite byte order, each with its own interfaces, every packet block type, and the
 * block types that carry no packets sprinkled between them.
 */
function mixedFile(firstLe: boolean): { file: Buffer; expected: Expect[] } {
  const le1 = firstLe;
  const le2 = !firstLe;
  const d = (i: number, n: number): Buffer => bytes(i, n);
  const blocks: Buffer[] = [
    shb(le1),
    idb(le1, 1, 64),
    idb(le1, 101, 0, { tsresol: 9 }),
    rawBlock(BLOCK_NRB, Buffer.concat([option(le1, 1, Buffer.from('\x0a\x00\x00\x01host\x00', 'latin1')), END(le1)]), { le: le1 }),
    idb(le1, 113, 0, { tsresol: 0x80 | 20 }), // 2^-20 s units
    idb(le1, 228, 0, { tsresol: 3, tsoffset: 1_000_000_000n }),
    epb(le1, 0, 1_700_000_000_123_456n, d(1, 50), 90),
    epb(le1, 1, 1_700_000_000_123_456_789n, d(2, 33)),
    rawBlock(BLOCK_ISB, words(le1, 0, 0, 0), { le: le1 }),
    epb(le1, 2, (1_700_000_000n << 20n) + 524_288n, d(3, 17)),
    rawBlock(BLOCK_CUSTOM, Buffer.concat([words(le1, 32473), Buffer.from('opaque!!')]), { le: le1 }),
    epb(le1, 3, 700_000_000_250n, d(4, 20)),
    spb(le1, 100, d(5, 100).subarray(0, 64)), // interface 0 has snaplen 64, so the block holds 64 bytes
    epb(le1, 0, 1_700_000_001_000_000n, d(6, 0), 0, BLOCK_OPB),
    rawBlock(BLOCK_DSB, Buffer.concat([words(le1, 0x544c534b, 4), Buffer.from('keys')]), { le: le1 }),
    shb(le2, 1234),
    idb(le2, 276, 0, { tsresol: 9 }),
    epb(le2, 0, 1_800_000_000_000_000_001n, d(7, 70)),
    spb(le2, 30, d(8, 30)),
  ];
  const expected: Expect[] = [
    { linkType: 1, interfaceId: 0, timestampNs: 1_700_000_000_123_456_000n, originalLength: 90, data: d(1, 50) },
    { linkType: 101, interfaceId: 1, timestampNs: 1_700_000_000_123_456_789n, originalLength: 33, data: d(2, 33) },
    { linkType: 113, interfaceId: 2, timestampNs: 1_700_000_000_500_000_000n, originalLength: 17, data: d(3, 17) },
    { linkType: 228, interfaceId: 3, timestampNs: 1_700_000_000_250_000_000n, originalLength: 20, data: d(4, 20) },
    { linkType: 1, interfaceId: 0, timestampNs: 0n, originalLength: 100, data: d(5, 100).subarray(0, 64) },
    { linkType: 1, interfaceId: 0, timestampNs: 1_700_000_001_000_000_000n, originalLength: 0, data: new Uint8Array(0) },
    { linkType: 276, interfaceId: 0, timestampNs: 1_800_000_000_000_000_001n, originalLength: 70, data: d(7, 70) },
    { linkType: 276, interfaceId: 0, timestampNs: 0n, originalLength: 30, data: d(8, 30) },
  ];
  return { file: Buffer.concat(blocks), expected };
}

function plain(packets: readonly Expect[]): Expect[] {
  return packets.map(({ linkType, interfaceId, timestampNs, originalLength, data }) => ({ linkType, interfaceId, timestampNs, originalLength, data: Uint8Array.from(data) }));
}

let dir = '';

describe('pcapng blocks', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mtuscope-pcapng-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const le of [true, false]) {
    it(`reads every packet block type, per-section byte order and interfaces, tsresol and tsoffset (first section ${le ? 'LE' : 'BE'})`, async () => {
      const { file, expected } = mixedFile(le);
      for (const source of [Readable.from([file]), chunkedStream(file, () => 3)]) {
        const r = await readAll(source);
        assert.equal(r.error, undefined);
        assert.deepEqual(plain(r.packets), plain(expected));
        for (const p of r.packets) assert.equal(p.capturedLength, p.data.length);
      }
    });

    it(`agrees with tshark on the same file (first section ${le ? 'LE' : 'BE'})`, async () => {
      const { file } = mixedFile(le);
      const path = join(dir, `mixed-${le ? 'le' : 'be'}.pcapng`);
      await writeFile(path, file);
      const ours = await readAll(path);
      const fields = ['frame.time_epoch', 'frame.len', 'frame.cap_len', 'frame.interface_id', 'frame.section_number', 'frame.md5_hash', 'frame.encap_type'];
      const all = await tsharkFields(path, fields, { prefs: ['frame.generate_md5_hash:TRUE'] });
      // tshark also lists the Custom Block as a frame, one without an encapsulation; it holds no packet.
      const theirs = all.filter((r) => r['frame.encap_type'] !== '');
      assert.equal(all.length, theirs.length + 1);
      assert.deepEqual(
        ours.packets.map((p, i) => ({
          // A Simple Packet Block has no time; tshark prints none, we give 0.
          'frame.time_epoch': p.timestampNs === 0n ? '' : epochText(p.timestampNs),
          'frame.len': String(p.originalLength),
          'frame.cap_len': String(p.capturedLength),
          'frame.interface_id': String(p.interfaceId),
          'frame.section_number': i < 6 ? '1' : '2',
          'frame.md5_hash': md5(p.data),
          'frame.encap_type': String(WTAP_ENCAP.get(p.linkType)),
        })),
        theirs,
      );
    });
  }

  it('takes a Simple Packet Block captured length as min(original length, snaplen of interface 0, block body)', async () => {
    const le = true;
    const cases: [number, number, number, number][] = [
      // snaplen, original length, bytes in the block, expected captured length
      [64, 100, 100, 64],
      [0, 100, 100, 100],
      [0, 30, 32, 30],
      [200, 100, 40, 40],
    ];
    for (const [snaplen, original, body, captured] of cases) {
      const file = Buffer.concat([shb(le), idb(le, 1, snaplen), spb(le, original, bytes(1, body))]);
      const r = await readAll(Readable.from([file]));
      assert.equal(r.error, undefined);
      assert.deepEqual(
        r.packets.map((p) => [p.capturedLength, p.originalLength, md5(p.data)]),
        [[captured, original, md5(bytes(1, body).subarray(0, captured))]],
        `snaplen ${snaplen}, original ${original}, body ${body}`,
      );
    }
  });
});
