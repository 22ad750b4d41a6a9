import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { PcapEncoder } from '../../src/capture/pcap-encoder.js';
import { PcapngEncoder } from '../../src/capture/pcapng-encoder.js';
import { BLOCK_EPB, BLOCK_IDB, BLOCK_NRB, BLOCK_SHB, BLOCK_SPB } from '../../src/capture/pcapng-format.js';
import { chunkedStream, encodeFile, rawBlock, readAll, words } from './support/capture-fixtures.js';

/**
 * Reads `bytes` whole, in 1-byte chunks and in 5-byte chunks: each way must deliver the same packets
 * before the error and the same error.
 */
async function assertMalformed(bytes: Uint8Array, offset: number, message: RegExp, packetsBefore: number): Promise<void> {
  const reads = [
    await readAll(Readable.from([Buffer.from(bytes)])),
    await readAll(chunkedStream(bytes, () => 1)),
    await readAll(chunkedStream(bytes, () => 5)),
  ];
  for (const [i, r] of reads.entries()) {
    const how = ['whole', '1-byte chunks', '5-byte chunks'][i];
    assert.ok(r.error, `${how}: expected a CaptureError`);
    assert.equal(r.error.offset, offset, `${how}: ${r.error.message}`);
    assert.match(r.error.message, message, how);
    assert.match(r.error.message, new RegExp(`at byte offset ${offset}$`), how);
    assert.equal(r.packets.length, packetsBefore, `${how}: packets before the bad spot`);
  }
}

const pcapPackets = [10, 20, 30].map((n, i) => ({ timestampNs: BigInt(i) * 1_000_000_000n, data: new Uint8Array(n).fill(i) }));
/** Offsets of the three records: header 24, then 16 + length each. */
const RECORD = [24, 24 + 26, 24 + 26 + 36];

function pcapFile(littleEndian = true): Buffer {
  return Buffer.from(encodeFile(new PcapEncoder({ linkType: 1, littleEndian, snaplen: 100 }), pcapPackets));
}

function pcapng(le = true): { bytes: Buffer; epb: number[] } {
  const encoder = new PcapngEncoder({ littleEndian: le, interfaces: [{ linkType: 1 }] });
  const header = encoder.fileHeader();
  const blocks = pcapPackets.map((p) => encoder.encode(p));
  const epb: number[] = [];
  let o = header.length;
  for (const b of blocks) {
    epb.push(o);
    o += b.length;
  }
  return { bytes: Buffer.concat([header, ...blocks]), epb };
}

const SHB_BODY = (le: boolean): Uint8Array => words(le, 0x1a2b3c4d, [16, 1], [16, 0], 0xffffffff, 0xffffffff);
const IDB_BODY = (le: boolean): Uint8Array => words(le, [16, 1], [16, 0], 0);

describe('malformed capture files', () => {
  it('rejects an unknown magic number at offset 0, naming its bytes', async () => {
    await assertMalformed(Buffer.from('hello, world, not a capture'), 0, /unknown magic number 68 65 6c 6c/, 0);
  });

  it('says so for gzip-compressed and modified pcap', async () => {
    await assertMalformed(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]), 0, /gzip/, 0);
    await assertMalformed(Buffer.from([0x34, 0xcd, 0xb2, 0xa1, 0, 0, 0, 0]), 0, /modified \(Kuznetzov\) pcap/, 0);
  });

  it('rejects an empty file', async () => {
    await assertMalformed(new Uint8Array(0), 0, /^empty file/, 0);
    const r = await readAll(Readable.from([]));
    assert.match(r.error?.message ?? '', /^empty file at byte offset 0$/);
  });

  it('rejects a file shorter than a magic number', async () => {
    await assertMalformed(Uint8Array.of(0xd4, 0xc3), 0, /too short to be a capture: 2 bytes, d4 c3/, 0);
  });

  it('rejects a cut pcap file header', async () => {
    await assertMalformed(pcapFile().subarray(0, 20), 0, /truncated pcap file header: the file ends after 20 of 24 bytes/, 0);
  });

  it('rejects an unsupported pcap version', async () => {
    const b = pcapFile();
    b.writeUInt16LE(3, 4);
    await assertMalformed(b, 0, /unsupported version 3\.4/, 0);
  });

  for (const le of [true, false]) {
    it(`delivers the packets before a pcap record cut by the end of the file (${le ? 'LE' : 'BE'})`, async () => {
      const b = pcapFile(le);
      await assertMalformed(b.subarray(0, b.length - 7), RECORD[2]!, /truncated pcap record: the file ends after 39 of 46 bytes/, 2);
      await assertMalformed(b.subarray(0, RECORD[2]! + 5), RECORD[2]!, /truncated pcap record: the file ends after 5 bytes/, 2);
    });
  }

  it('rejects an absurd pcap incl_len without waiting for its bytes', async () => {
    const b = pcapFile();
    b.writeUInt32LE(0x7fff_0000, RECORD[1]! + 8);
    await assertMalformed(b, RECORD[1]!, /pcap record: captured length \(incl_len\) 2147418112 exceeds the maximum of 262144/, 1);
  });

  it('follows libpcap on incl_len: above snaplen up to 262144 is read, above orig_len is passed through', async () => {
    const big = new Uint8Array(200_000).fill(7);
    const b = Buffer.from(encodeFile(new PcapEncoder({ linkType: 1, snaplen: 262144 }), [{ timestampNs: 0n, data: big, originalLength: 10 }]));
    b.writeUInt32LE(100, 16); // header snaplen 100, record 200000
    const r = await readAll(Readable.from([b]));
    assert.equal(r.error, undefined);
    assert.deepEqual([r.packets[0]?.capturedLength, r.packets[0]?.originalLength], [200_000, 10]);
    b.writeUInt32LE(262_145, 24 + 8);
    const bad = await readAll(Readable.from([b]));
    assert.equal(bad.error?.offset, 24);
    // A header snaplen above the standard maximum raises the limit (D-Bus captures use 128 MiB).
    b.writeUInt32LE(300_000, 16);
    b.writeUInt32LE(200_000, 24 + 8);
    assert.equal((await readAll(Readable.from([b]))).error, undefined);
  });

  for (const le of [true, false]) {
    const name = le ? 'LE' : 'BE';
    const put = (b: Buffer, v: number, o: number): number => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));

    it(`rejects a pcapng block total length that is not a multiple of 4 (${name})`, async () => {
      const { bytes, epb } = pcapng(le);
      put(bytes, 46, epb[1]! + 4);
      await assertMalformed(bytes, epb[1]!, /pcapng Enhanced Packet Block: block total length 46 is not a multiple of 4/, 1);
    });

    it(`rejects a block total length below the block type's minimum (${name})`, async () => {
      const { bytes, epb } = pcapng(le);
      put(bytes, 28, epb[2]! + 4);
      await assertMalformed(bytes, epb[2]!, /Enhanced Packet Block: block total length 28 is below the minimum of 32/, 2);
      const tiny = Buffer.concat([rawBlock(BLOCK_SHB, SHB_BODY(le), { le }), rawBlock(BLOCK_NRB, new Uint8Array(0), { le, length: 8 })]);
      await assertMalformed(tiny, 28, /Name Resolution Block: block total length 8 is below the minimum of 12/, 0);
    });

    it(`rejects an absurd block total length without waiting for its bytes (${name})`, async () => {
      const { bytes, epb } = pcapng(le);
      put(bytes, 0xfffffff0, epb[0]! + 4);
      await assertMalformed(bytes, epb[0]!, /block total length 4294967280 exceeds the maximum of 268435456/, 0);
    });

    it(`rejects a trailing block length that differs from the leading one (${name})`, async () => {
      const { bytes, epb } = pcapng(le);
      put(bytes, 999, epb[2]! - 4); // trailer of the second EPB
      await assertMalformed(bytes, epb[1]!, /Enhanced Packet Block: trailing total length 999 differs from the leading 52/, 1);
    });

    it(`rejects an EPB whose interface has no IDB (${name})`, async () => {
      const { bytes, epb } = pcapng(le);
      put(bytes, 3, epb[1]! + 8);
      await assertMalformed(bytes, epb[1]!, /Enhanced Packet Block: interface id 3 has no Interface Description Block \(the section has 1\)/, 1);
    });

    it(`rejects an EPB captured length larger than the block (${name})`, async () => {
      const { bytes, epb } = pcapng(le);
      put(bytes, 25, epb[1]! + 20);
      await assertMalformed(bytes, epb[1]!, /Enhanced Packet Block: captured length 25 does not fit in a block of 52 bytes/, 1);
    });

    it(`delivers the packets before a pcapng block cut by the end of the file (${name})`, async () => {
      const { bytes, epb } = pcapng(le);
      await assertMalformed(bytes.subarray(0, bytes.length - 1), epb[2]!, /truncated pcapng Enhanced Packet Block: the file ends after 63 of 64 bytes/, 2);
      await assertMalformed(bytes.subarray(0, epb[2]! + 6), epb[2]!, /truncated pcapng Enhanced Packet Block: the file ends after 6 bytes/, 2);
      await assertMalformed(bytes.subarray(0, 10), 0, /truncated pcapng Section Header Block/, 0);
    });

    it(`rejects a bad byte-order magic in a later section (${name})`, async () => {
      const { bytes } = pcapng(le);
      const shb2 = rawBlock(BLOCK_SHB, SHB_BODY(le), { le });
      shb2.writeUInt32LE(0x11223344, 8);
      await assertMalformed(Buffer.concat([bytes, shb2]), bytes.length, /Section Header Block: byte-order magic 0x11223344/, 3);
    });

    it(`rejects an unsupported pcapng major version (${name})`, async () => {
      const shb = rawBlock(BLOCK_SHB, words(le, 0x1a2b3c4d, [16, 2], [16, 0], 0xffffffff, 0xffffffff), { le });
      await assertMalformed(shb, 0, /unsupported version 2\.0/, 0);
    });

    it(`rejects an IDB option running past its block (${name})`, async () => {
      const idb = rawBlock(BLOCK_IDB, Buffer.concat([IDB_BODY(le), words(le, [16, 9], [16, 40], 0)]), { le });
      await assertMalformed(Buffer.concat([rawBlock(BLOCK_SHB, SHB_BODY(le), { le }), idb]), 28, /Interface Description Block: option 9 of 40 bytes runs past/, 0);
    });

    it(`rejects a Simple Packet Block without an IDB, and an EPB after a new section dropped the IDBs (${name})`, async () => {
      const shb = rawBlock(BLOCK_SHB, SHB_BODY(le), { le });
      const spb = rawBlock(BLOCK_SPB, words(le, 4, 0), { le });
      await assertMalformed(Buffer.concat([shb, spb]), 28, /Simple Packet Block: the section has no Interface Description Block/, 0);
      const { bytes } = pcapng(le);
      const epb = rawBlock(BLOCK_EPB, words(le, 0, 0, 0, 0, 0), { le });
      await assertMalformed(Buffer.concat([bytes, shb, epb]), bytes.length + 28, /interface id 0 has no Interface Description Block \(the section has 0\)/, 3);
    });
  }
});
