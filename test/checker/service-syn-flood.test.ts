import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LabProcess } from '../../src/lab/running-lab.js';
import type { TestResult } from '../../src/checker/test-result.js';
import { ARTICLE_PAYLOAD, type CheckerLab, PORT, startCheckerLab } from '../support/checker-lab.js';
import { RawInjector } from '../support/raw-inject.js';
import { needsRoot } from '../support/root.js';
import { SYN, tcpPacket } from '../engine/engine-packets.js';

const FLOOD = 30_000;
/** The flood's rate (SYNs a second): what the issue asks the engine to withstand. */
const FLOOD_RATE = 30_000;
/** How long the client holds the rest of its upload back: the flood goes in meanwhile. */
const HOLD_MS = 8000;
/** Rounds of FLOOD SYNs at most, each begun only while there is time for it (ROUND_MS) before the client goes on. */
const MAX_ROUNDS = 3;
const ROUND_MS = 2500;

/**
 * A client in the lab whose /icmp upload stops after its first 2000 bytes of body for `HOLD_MS` (a slow client, as
 * a blackholed or probing one is), then sends the rest and prints the answer.
 */
function slowClient(host: string): string[] {
  const script = `
    const net = require('node:net');
    const [host, port, holdMs, payload] = process.argv.slice(1);
    const head = 'POST /icmp?format=json HTTP/1.1\\r\\nHost: checker\\r\\nContent-Length: ' + Buffer.byteLength(payload) + '\\r\\n\\r\\n';
    const socket = net.connect({ host, port: Number(port) }, () => {
      socket.write(head + payload.slice(0, 2000));
      setTimeout(() => socket.write(payload.slice(2000)), Number(holdMs));
    });
    const chunks = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('close', () => process.stdout.write(Buffer.concat(chunks)));
    socket.on('error', (e) => process.stderr.write(String(e)));
  `;
  return [process.execPath, '-e', script, host, String(PORT), String(HOLD_MS), ARTICLE_PAYLOAD];
}

/**
 * Bare SYNs to the service from `count` spoofed addresses of 10.200.0.0/16 or fd00:200::/64 (never a lab address),
 * the `from`-th on: each a connection of its own.
 */
function spoofedSyns(family: 4 | 6, server: string, count: number, from = 0): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = from; i < from + count; i++) {
    const src = family === 4 ? `10.200.${(i >> 8) & 0xff}.${i & 0xff}` : `fd00:200::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`;
    out.push(tcpPacket({ src, dst: server, srcPort: 1024 + (i % 50_000), dstPort: PORT, seq: i * 7919, flags: SYN }));
  }
  return out;
}

interface Stats {
  readonly connections: number;
  readonly counters: { readonly connectionsEvicted: number; readonly connectionsTracked: number };
}

describe('checker service under a SYN flood from spoofed addresses', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;
  let injector: RawInjector;

  before(async () => {
    c = await startCheckerLab({ name: 'chk-flood', clients: [{ name: 'client' }] });
    serve = await c.serve(['--tests-per-client', '1000']);
    // The flood enters the server's link from the router's side, as if routed there from far away.
    injector = await RawInjector.open(c.lab, { node: 'router', ifname: 'eth1', peerNode: 'server', peerIfname: 'eth1' });
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  for (const family of [4, 6] as const) {
    it(`IPv${family}: a slow /icmp test whose handshake completed before ${FLOOD} spoofed SYNs or more (paced at most ${FLOOD_RATE}/s) still gets its verdict`, async () => {
      const server = family === 4 ? c.server4 : c.server6;
      await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', server]);
      const before = JSON.parse((await c.curl('client', [c.url(4, '/api/stats')])).stdout) as Stats;
      const client = c.lab.exec('client', slowClient(server), { timeoutMs: 60_000 });
      await new Promise((r) => setTimeout(r, 500));
      const t = performance.now();
      // The kernel drops what its queue cannot hold when the engine falls behind (on a loaded machine it once took in
      // 14,882 of 30,000): another round of fresh addresses while the client still holds back, until the table overflowed.
      let sent = 0;
      let floodMs = 0;
      let stats = before;
      for (let round = 0; round < MAX_ROUNDS; round++) {
        await injector.send(spoofedSyns(family, server, FLOOD, sent), FLOOD_RATE);
        sent += FLOOD;
        floodMs = performance.now() - t;
        stats = JSON.parse((await c.curl('client', [c.url(4, '/api/stats')])).stdout) as Stats;
        if (stats.counters.connectionsTracked - before.counters.connectionsTracked > 16_384 || floodMs > HOLD_MS - ROUND_MS) break;
      }
      assert.ok(floodMs < HOLD_MS - 500, `the flood took ${Math.round(floodMs)} ms, longer than the client holds back`);
      console.log(`IPv${family}: ${sent} SYNs in ${Math.round(floodMs)} ms; engine: ${JSON.stringify(stats.counters)}, ${stats.connections} entries`);
      // Enough of the flood reached the engine to overflow its table (the kernel drops some at its queues when the
      // engine falls behind; the injector's own rate on a loaded machine is what it is, and is printed above).
      assert.ok(stats.counters.connectionsTracked - before.counters.connectionsTracked > 16_384, JSON.stringify(stats.counters));
      assert.ok(stats.counters.connectionsEvicted > before.counters.connectionsEvicted, `the flood overflowed the table: ${JSON.stringify(stats)}`);
      assert.ok(stats.connections <= 16_384, `${stats.connections} entries`);
      const r = await client;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^HTTP\/1\.1 200 /, r.stdout.slice(0, 600));
      const result = JSON.parse(r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n\r\n$/, '')) as TestResult;
      assert.equal(result.verdict, 'pass', JSON.stringify(result.evidence));
      await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', server]);
    });
  }
});
