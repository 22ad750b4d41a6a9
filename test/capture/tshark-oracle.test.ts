import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { CapturedPacket } from '../../src/capture/captured-packet.js';
import type { PacketToWrite } from '../../src/capture/capture-encoder.js';
import { TimestampResolution } from '../../src/capture/timestamp-resolution.js';
import { type CaptureWriterOptions, openCaptureWriter } from '../../src/capture/writer.js';
import { tsharkFields } from '../support/tshark.js';
import { epochText, LINK_TYPES, md5, prng, readAll, WTAP_ENCAP } from './support/capture-fixtures.js';

const run = promisify(execFile);

const FIELDS = ['frame.number', 'frame.time_epoch', 'frame.len', 'frame.cap_len', 'frame.interface_id', 'frame.encap_type', 'frame.md5_hash'];

interface Row {
  readonly number: string;
  readonly time: string;
  readonly len: string;
  readonly capLen: string;
  readonly interfaceId: string;
  readonly encap: string;
  readonly md5: string;
}

async function tsharkRows(path: string): Promise<Row[]> {
  const rows = await tsharkFields(path, FIELDS, { prefs: ['frame.generate_md5_hash:TRUE'] });
  return rows.map((r) => ({
    number: r['frame.number']!,
    time: r['frame.time_epoch']!,
    len: r['frame.len']!,
    capLen: r['frame.cap_len']!,
    interfaceId: r['frame.interface_id']!,
    encap: r['frame.encap_type']!,
    md5: r['frame.md5_hash']!,
  }));
}

/** What tshark should print for a packet we read or wrote; pcap has no interfaces, so tshark prints no id. */
function row(n: number, p: { timestampNs: bigint; originalLength: number; data: Uint8Array; interfaceId: number; linkType: number }, pcapng: boolean): Row {
  return {
    number: String(n),
    time: epochText(p.timestampNs),
    len: String(p.originalLength),
    capLen: String(p.data.length),
    interfaceId: pcapng ? String(p.interfaceId) : '',
    encap: String(WTAP_ENCAP.get(p.linkType) ?? `unmapped link type ${p.linkType}`),
    md5: md5(p.data),
  };
}

/** Deterministic packets: sizes from 0 to 1600 bytes (some beyond the snaplen), times across seconds. */
function packets(seed: number, count: number, interfaces: number): (PacketToWrite & { interfaceId: number; originalLength: number })[] {
  const rnd = prng(seed);
  let t = 1_700_000_000_000_000_000n + BigInt(Math.floor(rnd() * 1e9));
  return Array.from({ length: count }, () => {
    t += BigInt(Math.floor(rnd() * 3e9));
    const data = Uint8Array.from({ length: Math.floor(rnd() * 1600) }, () => Math.floor(rnd() * 256));
    return { timestampNs: t, data, originalLength: data.length + (rnd() < 0.2 ? Math.floor(rnd() * 100) : 0), interfaceId: Math.floor(rnd() * interfaces) };
  });
}

let dir = '';

async function assertReaderMatchesTshark(path: string, pcapng: boolean): Promise<CapturedPacket[]> {
  const ours = await readAll(path);
  assert.equal(ours.error, undefined);
  const theirs = await tsharkRows(path);
  assert.deepEqual(
    ours.packets.map((p, i) => row(i + 1, p, pcapng)),
    theirs,
  );
  return ours.packets;
}

describe('capture files against tshark', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mtuscope-capture-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const variants: [string, CaptureWriterOptions, number][] = [];
  for (const nanoseconds of [false, true]) {
    for (const littleEndian of [true, false]) {
      variants.push([`pcap ${nanoseconds ? 'ns' : 'µs'} ${littleEndian ? 'LE' : 'BE'}`, { format: 'pcap', linkType: 1, snaplen: 1500, nanoseconds, littleEndian }, 1]);
    }
  }
  for (const littleEndian of [true, false]) {
    for (const tsresol of [6, 9]) {
      variants.push([`pcapng one interface ${littleEndian ? 'LE' : 'BE'} tsresol ${tsresol}`, { format: 'pcapng', littleEndian, interfaces: [{ linkType: 101, tsresol, name: 'eth0' }] }, 1]);
    }
    const interfaces = LINK_TYPES.map((linkType, i) => ({ linkType, tsresol: i % 2 === 0 ? 6 : 9, snaplen: i === 2 ? 200 : 0 }));
    variants.push([`pcapng every link type ${littleEndian ? 'LE' : 'BE'}`, { format: 'pcapng', littleEndian, interfaces }, interfaces.length]);
  }

  variants.forEach(([name, options, interfaces], v) => {
    it(`tshark reads what our writer wrote: ${name}`, async () => {
      const path = join(dir, `writer-${v}.${options.format}`);
      const written = packets(v + 1, 60, interfaces);
      const writer = openCaptureWriter(path, options);
      for (const p of written) await writer.write(p);
      await writer.close();

      const expected = written.map((p, i) => {
        const iface = options.format === 'pcap' ? { linkType: options.linkType, snaplen: options.snaplen ?? 262144 } : options.interfaces[p.interfaceId]!;
        const snaplen = iface.snaplen ?? 262144;
        const data = snaplen !== 0 && p.data.length > snaplen ? p.data.subarray(0, snaplen) : p.data;
        const tsresol = options.format === 'pcap' ? (options.nanoseconds ? 9 : 6) : (options.interfaces[p.interfaceId]!.tsresol ?? 6);
        const timestampNs = new TimestampResolution(tsresol).round(p.timestampNs);
        return row(i + 1, { ...p, data, timestampNs, linkType: iface.linkType }, options.format === 'pcapng');
      });
      assert.ok(expected.some((r) => r.capLen !== r.len), 'some packets are cut or claim a longer original');
      assert.deepEqual(await tsharkRows(path), expected);
      assert.equal((await assertReaderMatchesTshark(path, options.format === 'pcapng')).length, written.length);
    });
  });

  it('reads what editcap converted to pcapng, nanosecond pcap and a shorter snaplen', async () => {
    const src = join(dir, 'editcap-src.pcap');
    const writer = openCaptureWriter(src, { format: 'pcap', linkType: 1, nanoseconds: true });
    for (const p of packets(99, 40, 1)) await writer.write(p);
    await writer.close();
    for (const [args, pcapng] of [
      [['-F', 'pcapng'], true],
      [['-F', 'nsecpcap'], false],
      [['-F', 'pcap'], false],
      [['-F', 'pcapng', '-s', '64'], true],
    ] as const) {
      const out = join(dir, `editcap-${args.join('')}`);
      await run('editcap', [...args, src, out]);
      assert.equal((await assertReaderMatchesTshark(out, pcapng)).length, 40, args.join(' '));
    }
  });

  it('reads what mergecap made of captures with different link types (several IDBs)', async () => {
    const inputs: string[] = [];
    for (const [i, linkType] of [1, 101, 276].entries()) {
      const path = join(dir, `merge-in-${i}.pcap`);
      const writer = openCaptureWriter(path, { format: 'pcap', linkType, nanoseconds: i === 1 });
      for (const p of packets(200 + i, 15, 1)) await writer.write(p);
      await writer.close();
      inputs.push(path);
    }
    const out = join(dir, 'merged.pcapng');
    await run('mergecap', ['-w', out, ...inputs]);
    const read = await assertReaderMatchesTshark(out, true);
    assert.equal(read.length, 45);
    assert.deepEqual(new Set(read.map((p) => `${p.interfaceId}:${p.linkType}`)), new Set(['0:1', '1:101', '2:276']));
  });

  it('reads what text2pcap wrote, pcapng and pcap', async () => {
    const rnd = prng(7);
    let text = '';
    for (let n = 0; n < 12; n++) {
      text += `2023-11-14T22:13:${String(10 + n).padStart(2, '0')}.${String(n * 12345).padStart(6, '0')}\n`;
      const len = 14 + Math.floor(rnd() * 100);
      for (let o = 0; o < len; o += 16) {
        const bytes = Array.from({ length: Math.min(16, len - o) }, () => Math.floor(rnd() * 256).toString(16).padStart(2, '0'));
        text += `${o.toString(16).padStart(6, '0')}  ${bytes.join(' ')}\n`;
      }
      text += '\n';
    }
    const hex = join(dir, 'text2pcap.txt');
    await writeFile(hex, text);
    for (const [format, pcapng] of [['pcapng', true], ['pcap', false]] as const) {
      const out = join(dir, `text2pcap.${format}`);
      await run('text2pcap', ['-q', '-F', format, '-t', '%Y-%m-%dT%H:%M:%S.%f', '-l', '1', hex, out]);
      const read = await assertReaderMatchesTshark(out, pcapng);
      assert.equal(read.length, 12, format);
      assert.equal(epochText(read[3]!.timestampNs).slice(-9), '037035000', 'text2pcap took the timestamps');
    }
  });
});
