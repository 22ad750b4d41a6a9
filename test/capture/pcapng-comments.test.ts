import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PcapngEncoder } from '../../src/capture/pcapng-encoder.js';
import { readCaptureFile } from '../../src/capture/reader.js';
import { openCaptureWriter } from '../../src/capture/writer.js';
import { LinkType } from '../../src/packet/link-type.js';
import { sampleFrames } from '../support/sample-frames.js';

/** The opt_comment of every Enhanced Packet Block of a little-endian pcapng file, read by hand (not by our parser). */
function packetComments(file: Uint8Array): (string | undefined)[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const out: (string | undefined)[] = [];
  for (let o = 0; o < file.length; ) {
    const type = view.getUint32(o, true);
    const length = view.getUint32(o + 4, true);
    if (type === 6) {
      let p = o + 28 + ((view.getUint32(o + 20, true) + 3) & ~3);
      let comment: string | undefined;
      while (p + 4 <= o + length - 4) {
        const code = view.getUint16(p, true);
        const len = view.getUint16(p + 2, true);
        if (code === 0) break;
        if (code === 1) comment = new TextDecoder().decode(file.subarray(p + 4, p + 4 + len));
        p += 4 + ((len + 3) & ~3);
      }
      out.push(comment);
    }
    o += length;
  }
  return out;
}

const ethernet = sampleFrames().filter((s) => s.linkType === LinkType.Ethernet);
const COMMENTS = [undefined, 'finding 1 (pmtu-blackhole): retransmission 2', 'ünïcode ✓ comment of odd length', '', 'x'.repeat(1001)];

describe('pcapng packet comments (opt_comment in Enhanced Packet Blocks)', () => {
  let dir = '';
  let path = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mts-comments-'));
    path = join(dir, 'commented.pcapng');
    const w = openCaptureWriter(path, { format: 'pcapng', interfaces: [{ linkType: LinkType.Ethernet, name: 'eth0', tsresol: 9 }] });
    for (const [i, comment] of COMMENTS.entries()) {
      const s = ethernet[i % ethernet.length]!;
      await w.write({ timestampNs: 1_700_000_000_123_456_789n + BigInt(i), data: s.data, ...(comment === undefined ? {} : { comment }) });
    }
    await w.close();
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves a packet without a comment byte for byte as before (no options in its block)', () => {
    const encoder = new PcapngEncoder({ interfaces: [{ linkType: LinkType.Ethernet }] });
    const data = ethernet[0]!.data;
    const block = encoder.encode({ timestampNs: 1n, data });
    assert.equal(block.length, 32 + ((data.length + 3) & ~3));
    const commented = encoder.encode({ timestampNs: 1n, data, comment: 'abc' });
    // An option header, 'abc' padded to 4, opt_endofopt.
    assert.equal(commented.length, block.length + 4 + 4 + 4);
    assert.deepEqual(commented.subarray(8, 28 + data.length), block.subarray(8, 28 + data.length));
  });

  it('reads the packets back unchanged, each with the comment it was written with', async () => {
    const back = await readCaptureFile(path);
    assert.equal(back.length, COMMENTS.length);
    for (const [i, p] of back.entries()) {
      assert.deepEqual(p.data, ethernet[i % ethernet.length]!.data);
      assert.equal(p.timestampNs, 1_700_000_000_123_456_789n + BigInt(i));
      assert.equal(p.interfaceName, 'eth0');
    }
    assert.deepEqual(packetComments(await readFile(path)), COMMENTS);
  });

  it('gives tshark the same comments (frame.comment)', () => {
    const out = execFileSync('tshark', ['-r', path, '-T', 'fields', '-E', 'separator=|', '-e', 'frame.number', '-e', 'frame.comment'], { encoding: 'utf8' });
    const rows = out.trimEnd().split('\n').map((l) => l.split('|'));
    assert.deepEqual(
      rows.map((r) => r[0]),
      COMMENTS.map((_, i) => String(i + 1)),
    );
    // tshark prints an empty comment and no comment alike.
    assert.deepEqual(
      rows.map((r) => r[1] ?? ''),
      COMMENTS.map((c) => c ?? ''),
    );
  });

  it('refuses a comment longer than one option holds', () => {
    const encoder = new PcapngEncoder({ interfaces: [{ linkType: LinkType.Ethernet }] });
    assert.throws(() => encoder.encode({ timestampNs: 1n, data: new Uint8Array(60), comment: 'y'.repeat(70_000) }), /65535/);
  });
});
