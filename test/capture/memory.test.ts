import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PcapEncoder } from '../../src/capture/pcap-encoder.js';
import { PcapngEncoder } from '../../src/capture/pcapng-encoder.js';
import type { CaptureEncoder } from '../../src/capture/capture-encoder.js';
import { readCaptureBatches } from '../../src/capture/reader.js';

const MiB = 1024 * 1024;

/**
 * V8 collects chunk buffers (external memory) lazily, in steps of about 64 MiB, so without a forced
 * collection RSS wanders by about as much as the bound we assert even when nothing leaks. A leak of the
 * streamed chunks would grow by hundreds of MiB either way.
 */
function forceGc(): () => void {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  if (typeof gc !== 'function') throw new Error('cannot get gc()');
  return () => gc();
}

/**
 * An endless repetition of one period of records, streamed as fresh buffers (as a pipe or file would
 * deliver them) of `chunkBytes`, so chunk edges fall at every position inside records. Nothing is
 * stored: memory used by the reader is all that can grow.
 */
function generatedCapture(encoder: CaptureEncoder, totalBytes: number, chunkBytes: number): { stream: Readable; packets: number } {
  const sizes = [60, 1514, 200, 9000, 42, 576, 65_535];
  const period = Buffer.concat(
    sizes.map((n, i) => {
      const data = new Uint8Array(n).fill(i + 1);
      const b = new Uint8Array(encoder.encodedLength({ timestampNs: 0n, data }));
      encoder.encodePacket({ timestampNs: 1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n, data }, b, 0);
      return b;
    }),
  );
  const periods = Math.ceil(totalBytes / period.length);
  // Enough repetitions that any window of chunkBytes starting inside the first period fits.
  const template = Buffer.concat(Array.from({ length: Math.ceil(chunkBytes / period.length) + 1 }, () => period));
  const header = Buffer.from(encoder.fileHeader());
  const body = periods * period.length;
  let pos = 0;
  const stream = new Readable({
    highWaterMark: chunkBytes,
    read() {
      if (pos === 0) {
        this.push(header);
      }
      if (pos >= body) {
        this.push(null);
        return;
      }
      const n = Math.min(chunkBytes, body - pos);
      const offset = pos % period.length;
      const chunk = Buffer.allocUnsafe(n);
      template.copy(chunk, 0, offset, offset + n);
      pos += n;
      this.push(chunk);
    },
  });
  return { stream, packets: periods * sizes.length };
}

async function assertBounded(encoder: CaptureEncoder, totalBytes: number): Promise<void> {
  const { stream, packets } = generatedCapture(encoder, totalBytes, MiB + 12_345);
  const gc = forceGc();
  gc();
  const startRss = process.memoryUsage.rss();
  let peakRss = startRss;
  let count = 0;
  let bytes = 0;
  let batches = 0;
  for await (const batch of readCaptureBatches(stream)) {
    for (const p of batch) {
      count++;
      bytes += p.data.length;
    }
    if (++batches % 8 === 0) gc();
    const rss = process.memoryUsage.rss();
    if (rss > peakRss) peakRss = rss;
  }
  assert.equal(count, packets);
  assert.ok(bytes > totalBytes * 0.9, `${bytes} packet bytes read of ${totalBytes}`);
  const growth = (peakRss - startRss) / MiB;
  assert.ok(growth < 64, `RSS grew by ${growth.toFixed(1)} MiB while streaming ${(totalBytes / MiB).toFixed(0)} MiB`);
}

describe('capture reader memory', () => {
  it('streams 400 MB of pcap in bounded memory', { timeout: 30_000 }, async () => {
    await assertBounded(new PcapEncoder({ linkType: 1, snaplen: 65_535 }), 400 * MiB);
  });

  it('streams 200 MB of pcapng in bounded memory', { timeout: 30_000 }, async () => {
    await assertBounded(new PcapngEncoder({ interfaces: [{ linkType: 1, snaplen: 0, tsresol: 9 }] }), 200 * MiB);
  });
});
