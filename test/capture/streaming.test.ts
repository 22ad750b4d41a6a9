import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { CaptureDecoder } from '../../src/capture/capture-decoder.js';
import type { CapturedPacket } from '../../src/capture/captured-packet.js';
import { CaptureError } from '../../src/capture/capture-error.js';
import { PcapEncoder } from '../../src/capture/pcap-encoder.js';
import { PcapngEncoder } from '../../src/capture/pcapng-encoder.js';
import { readCapture, readCaptureBatches, readCapturePackets } from '../../src/capture/reader.js';
import { chunkedStream, encodeFile, md5, prng, readAll } from './support/capture-fixtures.js';

function sample(seed: number, count: number, interfaces = 1): { timestampNs: bigint; data: Uint8Array; interfaceId: number }[] {
  const rnd = prng(seed);
  return Array.from({ length: count }, (_, i) => ({
    timestampNs: 1_600_000_000_000_000_000n + BigInt(i) * 1_234_567_891n,
    // Mostly small, some large enough to span several 64 KiB chunks of a pipe.
    data: Uint8Array.from({ length: rnd() < 0.03 ? 66_000 + Math.floor(rnd() * 30_000) : Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256)),
    interfaceId: i % interfaces,
  }));
}

const files: [string, Uint8Array][] = [
  ['pcap', encodeFile(new PcapEncoder({ linkType: 1, nanoseconds: true }), sample(1, 120))],
  ['pcap BE', encodeFile(new PcapEncoder({ linkType: 101, littleEndian: false }), sample(2, 120))],
  [
    'pcapng',
    encodeFile(new PcapngEncoder({ interfaces: [{ linkType: 1, snaplen: 0 }, { linkType: 113, tsresol: 9, snaplen: 0 }] }), sample(3, 120, 2)),
  ],
  ['pcapng BE', encodeFile(new PcapngEncoder({ littleEndian: false, interfaces: [{ linkType: 228, snaplen: 0 }] }), sample(4, 120))],
];

function summary(packets: readonly CapturedPacket[]): string[] {
  return packets.map((p) => `${p.interfaceId} ${p.linkType} ${p.timestampNs} ${p.originalLength} ${p.capturedLength} ${md5(p.data)}`);
}

let dir = '';

describe('capture streaming', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mtuscope-stream-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const [name, bytes] of files) {
    it(`${name}: a path, one whole chunk and tiny chunks all give the same packets`, async () => {
      const path = join(dir, `${name.replace(' ', '-')}.cap`);
      await writeFile(path, bytes);
      const fromPath = await readAll(path);
      assert.equal(fromPath.error, undefined);
      assert.equal(fromPath.packets.length, 120);
      assert.ok(fromPath.packets.some((p) => p.data.length > 65_536), 'a packet spans several 64 KiB pipe reads');
      const expected = summary(fromPath.packets);

      const whole = await readAll(Readable.from([Buffer.from(bytes)]));
      assert.deepEqual(summary(whole.packets), expected);
      assert.equal(whole.batches, 1, 'one chunk read, one batch');

      const rnd = prng(bytes.length);
      const tiny = await readAll(chunkedStream(bytes, () => 1 + Math.floor(rnd() * 7)));
      assert.equal(tiny.error, undefined);
      assert.deepEqual(summary(tiny.packets), expected);

      const mixed = await readAll(chunkedStream(bytes, () => (rnd() < 0.5 ? 1 + Math.floor(rnd() * 7) : Math.floor(rnd() * 100_000))));
      assert.deepEqual(summary(mixed.packets), expected);
    });
  }

  it('gives the same packets for any split of the bytes into chunks (decoder fed directly)', () => {
    const [, bytes] = files[2]!;
    const expected = summary((() => {
      const out: CapturedPacket[] = [];
      const d = new CaptureDecoder();
      assert.equal(d.push(bytes, out), undefined);
      assert.equal(d.finish(), undefined);
      return out;
    })());
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 60, size: 'max' }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
        const out: CapturedPacket[] = [];
        const d = new CaptureDecoder();
        for (let i = 1; i < points.length; i++) assert.equal(d.push(bytes.slice(points[i - 1], points[i]), out), undefined);
        assert.equal(d.finish(), undefined);
        assert.deepEqual(summary(out), expected);
      }),
      { numRuns: 300 },
    );
  });

  it('yields one batch per chunk, not one per packet', async () => {
    const [, bytes] = files[0]!;
    const chunk = 8192;
    let batches = 0;
    let packets = 0;
    for await (const batch of readCaptureBatches(chunkedStream(bytes, () => chunk))) {
      batches++;
      packets += batch.length;
    }
    assert.equal(packets, 120);
    assert.ok(batches <= Math.ceil(bytes.length / chunk), `${batches} batches for ${Math.ceil(bytes.length / chunk)} chunks`);
    assert.ok(batches < packets / 2);
  });

  it('readCapturePackets hands each packet to the sink as the batches give it: a file of several reads, a stream, damage', async () => {
    // Large enough for the file reader's reads (SINK_CHUNK_BYTES) to split records between reads.
    const bytes = encodeFile(new PcapngEncoder({ interfaces: [{ linkType: 1, snaplen: 0 }, { linkType: 113, tsresol: 9, snaplen: 0 }] }), sample(5, 3000, 2));
    assert.ok(bytes.length > 3 * 2 ** 21, `${bytes.length} bytes`);
    const path = join(dir, 'several-reads.pcapng');
    await writeFile(path, bytes);
    const expected = summary((await readAll(path)).packets);
    assert.equal(expected.length, 3000);
    const seen = async (source: string | NodeJS.ReadableStream): Promise<string[]> => {
      const lines: string[] = [];
      await readCapturePackets(source, { push: (p: CapturedPacket) => lines.push(summary([p])[0]!) });
      return lines;
    };
    assert.deepEqual(await seen(path), expected);
    const rnd = prng(7);
    assert.deepEqual(await seen(chunkedStream(bytes, () => 1 + Math.floor(rnd() * 300_000))), expected);

    const cut = bytes.subarray(0, bytes.length - 5);
    const before = await readAll(Readable.from([Buffer.from(cut)]));
    assert.ok(before.error instanceof CaptureError);
    const lines: string[] = [];
    await assert.rejects(
      readCapturePackets(Readable.from([Buffer.from(cut)]), { push: (p: CapturedPacket) => lines.push(summary([p])[0]!) }),
      (err: unknown) => err instanceof CaptureError && err.message === before.error!.message && err.offset === before.error!.offset,
    );
    assert.deepEqual(lines, summary(before.packets));
    assert.equal(lines.length, 2999);
  });

  it('readCapture yields single packets', async () => {
    const [, bytes] = files[3]!;
    let n = 0;
    for await (const p of readCapture(Readable.from([Buffer.from(bytes)]))) {
      assert.equal(p.linkType, 228);
      n++;
    }
    assert.equal(n, 120);
  });

  it('stops reading the file when the consumer stops early', async () => {
    const [, bytes] = files[0]!;
    const stream = chunkedStream(bytes, () => 100);
    for await (const batch of readCaptureBatches(stream)) {
      assert.ok(batch.length > 0);
      break;
    }
    assert.ok(stream.destroyed);
  });

  it('reads a capture piped into a process on standard input', async () => {
    const [, bytes] = files[2]!;
    const reader = fileURLToPath(new URL('../../src/capture/reader.js', import.meta.url));
    const script = `
      import { readCaptureBatches } from ${JSON.stringify(reader)};
      import { createHash } from 'node:crypto';
      const lines = [];
      for await (const batch of readCaptureBatches(process.stdin))
        for (const p of batch) lines.push(p.interfaceId + ' ' + p.linkType + ' ' + p.timestampNs + ' ' + p.originalLength + ' ' + p.capturedLength + ' ' + createHash('md5').update(p.data).digest('hex'));
      process.stdout.write(JSON.stringify(lines));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    const done = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stdin.end(bytes);
    assert.equal(await done, 0);
    const expected = await readAll(Readable.from([Buffer.from(bytes)]));
    assert.deepEqual(JSON.parse(out), summary(expected.packets));
  });

  it('passes I/O errors through unchanged', async () => {
    await assert.rejects(readAll(join(dir, 'missing.pcap')), { code: 'ENOENT' });
  });

  it('rejects a stream that yields text', async () => {
    const stream = Readable.from(['not bytes']);
    await assert.rejects(readAll(stream), /yielded text/);
  });
});
