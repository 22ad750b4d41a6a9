import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { PcapngEncoder } from '../../src/capture/pcapng-encoder.js';
import { CaptureWriter, openCaptureWriter } from '../../src/capture/writer.js';
import { encodeFile, prng, readAll } from './support/capture-fixtures.js';

/** A sink that accepts little before pushing back and completes each write only when released. */
class SlowSink extends Writable {
  readonly chunks: Buffer[] = [];
  private pendingCallbacks: (() => void)[] = [];

  constructor() {
    super({ highWaterMark: 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk));
    this.pendingCallbacks.push(() => callback());
  }

  release(): void {
    const callbacks = this.pendingCallbacks;
    this.pendingCallbacks = [];
    for (const cb of callbacks) cb();
  }

  get waiting(): number {
    return this.pendingCallbacks.length;
  }
}

function packets(count: number, seed: number, maxLength = 1500): { timestampNs: bigint; data: Uint8Array; interfaceId: number }[] {
  const rnd = prng(seed);
  return Array.from({ length: count }, (_, i) => ({
    timestampNs: 1_700_000_000_000_000_000n + BigInt(i) * 1000n,
    data: Uint8Array.from({ length: Math.floor(rnd() * maxLength) }, () => Math.floor(rnd() * 256)),
    interfaceId: i % 2,
  }));
}

const options = { interfaces: [{ linkType: 1, tsresol: 9, snaplen: 0 }, { linkType: 101, tsresol: 9, snaplen: 0 }] };

let dir = '';

describe('capture writer', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mtuscope-writer-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('waits for drain when the stream pushes back, and keeps order', async () => {
    const sink = new SlowSink();
    const writer = new CaptureWriter(sink, new PcapngEncoder(options));
    const list = packets(400, 1);
    let i = 0;
    let sawBackpressure = false;
    while (i < list.length) {
      const pending = writer.write(list[i++]!);
      const state = await Promise.race([pending.then(() => 'done'), new Promise((r) => setImmediate(() => r('blocked')))]);
      if (state === 'blocked') {
        sawBackpressure = true;
        assert.ok(sink.waiting > 0);
        sink.release();
        await pending;
      }
    }
    const closing = writer.close();
    await new Promise((r) => setImmediate(r));
    sink.release();
    await closing;
    assert.ok(sawBackpressure, 'write() must wait while the stream is full');
    assert.ok(!sink.writableEnded, "a caller's stream stays open");
    assert.deepEqual(Buffer.concat(sink.chunks), Buffer.from(encodeFile(new PcapngEncoder(options), list)));
  });

  it('keeps call order when write() is not awaited, including packets larger than its buffer', async () => {
    const path = join(dir, 'unawaited.pcapng');
    const writer = openCaptureWriter(path, { format: 'pcapng', ...options });
    const list = [...packets(50, 2), { timestampNs: 5n, data: new Uint8Array(300_000).fill(9), interfaceId: 1 }, ...packets(300, 3)];
    await Promise.all(list.map((p) => writer.write(p)));
    await writer.close();
    const bytes = await readFile(path);
    assert.deepEqual(bytes, Buffer.from(encodeFile(new PcapngEncoder(options), list)));
    const back = await readAll(Readable.from([bytes]));
    assert.equal(back.packets.length, list.length);
  });

  it('writes a header-only file when closed without packets', async () => {
    const path = join(dir, 'empty.pcap');
    const writer = openCaptureWriter(path, { format: 'pcap', linkType: 228 });
    await writer.close();
    const r = await readAll(path);
    assert.equal(r.error, undefined);
    assert.equal(r.packets.length, 0);
    assert.equal((await readFile(path)).length, 24);
  });

  it('rejects writes once the stream failed', async () => {
    const failing = new Writable({
      write(_chunk, _enc, callback) {
        callback(new Error('disk full'));
      },
    });
    const writer = new CaptureWriter(failing, new PcapngEncoder(options));
    const big = packets(400, 4);
    await assert.rejects(async () => {
      for (const p of big) await writer.write(p);
      await writer.close();
    }, /disk full/);
  });

  it('reports a path it cannot create', async () => {
    const writer = openCaptureWriter(join(dir, 'no-such-dir', 'x.pcap'), { format: 'pcap', linkType: 1 });
    await assert.rejects(writer.close(), /ENOENT/);
  });

  it('turns a bad packet into a rejected promise, not a throw', async () => {
    const writer = openCaptureWriter(new Writable({ write: (_c, _e, cb) => cb() }), { format: 'pcap', linkType: 1 });
    const result = writer.write({ timestampNs: -5n, data: new Uint8Array(1) });
    await assert.rejects(result, RangeError);
  });
});
