/**
 * The command's accounting of what the kernel side emitted and what arrived, driven by a stand-in for bpftrace
 * (MTUSCOPE_BPFTRACE) that prints exactly the lines a test wants: lost events are reported, never silently missing;
 * an unreadable line is said; a tracer that ends by itself ends the command with the reason and exit 1.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { emitWholeIpv4 } from '../../src/packet/ipv4.js';
import { emitUdp } from '../../src/packet/udp.js';
import { HEADER_BYTES } from '../../src/trace/tracer-program.js';
import { mtuscope } from '../support/cli.js';
import { needsRoot } from '../support/root.js';

/** The program's header words for packet bytes: little-endian 64-bit loads from the IP header on. */
function words(bytes: Uint8Array): string[] {
  const padded = new Uint8Array(HEADER_BYTES);
  padded.set(bytes.subarray(0, HEADER_BYTES));
  const out: string[] = [];
  for (let i = 0; i < HEADER_BYTES; i += 8) {
    let w = 0n;
    for (let j = 7; j >= 0; j--) w = (w << 8n) | BigInt(padded[i + j]!);
    out.push(w.toString(16));
  }
  return out;
}

const UDP = emitWholeIpv4(
  { src: '10.0.1.1', dst: '10.0.2.2', protocol: 17, ttl: 64, ident: 7 },
  emitUdp({ srcPort: 4000, dstPort: 7001, payloadLength: 4 }, new Uint8Array(4), '10.0.1.1', '10.0.2.2'),
);

function eventLine(kind: string, skb: string, how: number, extra: readonly string[] = []): string {
  return ['E', kind, '1000', '0', skb, '4026531840', '2', 'eth1', '46', String(how), '0', '1500', ...words(UDP), ...extra].join('\t');
}

/** A bpftrace stand-in: prints `lines` once "attached", then on SIGINT the END block's `end` lines (or fails at once). */
function fakeBpftrace(dir: string, lines: readonly string[], end: readonly string[] | 'exit-early'): string {
  const path = join(dir, `bpftrace-${Math.random().toString(16).slice(2)}`);
  const ending =
    end === 'exit-early'
      ? 'setTimeout(() => { process.stderr.write("ERROR: something broke\\n"); process.exit(1); }, 200);'
      : `process.on('SIGINT', () => { process.stdout.write(${JSON.stringify(end.map((l) => `${l}\n`).join(''))}, () => process.exit(0)); }); setInterval(() => undefined, 1000);`;
  const script = [
    `#!${process.execPath}`,
    'process.stdin.resume(); process.stdin.on("data", () => undefined);',
    `process.stdout.write(${JSON.stringify(['B\t1000', ...lines].map((l) => `${l}\n`).join(''))});`,
    ending,
    '',
  ].join('\n');
  writeFileSync(path, script);
  chmodSync(path, 0o755);
  return path;
}

describe('mtuscope trace accounting (a stand-in for bpftrace)', needsRoot('as the command checks for root'), () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mtt-fake-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reports the events the kernel emitted that never arrived as lost', async () => {
    const bpftrace = fakeBpftrace(dir, [eventLine('q', 'ffff1', 2), eventLine('rx', 'ffff1', 1), eventLine('drop', 'ffff1', 1, ['12', 'nft_do_chain'])], ['', '@emitted: 10', '']);
    const r = await mtuscope(['trace', '--duration', '1', 'udp'], { env: { ...process.env, MTUSCOPE_BPFTRACE: bpftrace, MTUSCOPE_TRACE_STOP: 'signal' } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /summary: 1 packet traced \(3 events, 7 lost\)/);
    assert.match(r.stdout, /warning: 7 events lost \(the perf buffer overflowed\): timelines may have gaps; narrow the filter/);
    assert.match(r.stdout, /NETFILTER_DROP/);
  });

  it('says so when every event arrived, and exits 0 when nothing was dropped', async () => {
    const bpftrace = fakeBpftrace(dir, [eventLine('q', 'ffff2', 2)], ['@emitted: 1']);
    const r = await mtuscope(['trace', '--duration', '1', '--json', 'udp'], { env: { ...process.env, MTUSCOPE_BPFTRACE: bpftrace, MTUSCOPE_TRACE_STOP: 'signal' } });
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { lostEvents: number; packets: number };
    assert.equal(summary.lostEvents, 0);
    assert.equal(summary.packets, 1);
  });

  it('counts nothing as lost when the tracer emitted nothing (bpftrace prints the empty count as 0 as it exits)', async () => {
    const bpftrace = fakeBpftrace(dir, [], ['', '', '@emitted: 0', '', '']);
    const r = await mtuscope(['trace', '--duration', '1', '--json', 'udp'], { env: { ...process.env, MTUSCOPE_BPFTRACE: bpftrace, MTUSCOPE_TRACE_STOP: 'signal' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /"lostEvents":0/);
  });

  it('asks again when bpftrace misses the first Ctrl-C (bpftrace 0.17 now and then does), and still gets its count', async () => {
    const path = join(dir, 'bpftrace-deaf');
    writeFileSync(
      path,
      [
        `#!${process.execPath}`,
        'process.stdin.resume(); process.stdin.on("data", () => undefined);',
        `process.stdout.write(${JSON.stringify(`B\t1000\n${eventLine('q', 'ffff4', 2)}\n`)});`,
        'let asked = 0;',
        'process.on("SIGINT", () => { if (++asked === 2) process.stdout.write("@emitted: 1\\n", () => process.exit(0)); });',
        'setInterval(() => undefined, 1000);',
        '',
      ].join('\n'),
    );
    chmodSync(path, 0o755);
    const r = await mtuscope(['trace', '--duration', '1', '--json', 'udp'], { env: { ...process.env, MTUSCOPE_BPFTRACE: path, MTUSCOPE_TRACE_STOP: 'signal' } });
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { lostEvents: number; detachMs: number };
    assert.equal(summary.lostEvents, 0);
    assert.ok(summary.detachMs < 3000, `detached in ${summary.detachMs} ms, not after the 15 s kill`);
  });

  it('says that lost events are unknown, and fails, when the tracer did not end normally', async () => {
    const bpftrace = fakeBpftrace(dir, [eventLine('q', 'ffff3', 2), 'E\tq\tnot-a-number'], 'exit-early');
    const r = await mtuscope(['trace', '--duration', '5', 'udp'], { env: { ...process.env, MTUSCOPE_BPFTRACE: bpftrace, MTUSCOPE_TRACE_STOP: 'signal' } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /unreadable tracer line \(fields: /);
    assert.match(r.stdout, /lost events unknown \(the tracer did not end normally\)\) in [\d.]+ s, ended by bpftrace ending by itself \(exit 1: ERROR: something broke\)/);
  });
});
