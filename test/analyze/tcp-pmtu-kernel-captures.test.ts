/**
 * The captures of test/support/kernel-captures.ts (healthy path MTU discovery through client —1500— router —1400—
 * server: DF pings, fragmented pings, TCP uploads and fragmented UDP in both families) as seen from every capture point
 * there: the client (whole and snapped to 96 bytes), the router's server side, the router's "any" device (each
 * forwarded packet twice) and the server. No failure anywhere; where the Packet Too Big is captured together with the
 * TCP upload it answers, it is honoured with mtu 1400.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AnalysisResult } from '../../src/analyze/analyzer.js';
import { isProblem } from '../../src/analyze/finding.js';
import { TcpPmtuDetector } from '../../src/analyze/tcp-pmtu-detector.js';
import { KERNEL_ADDR, makeKernelCaptures, SERVER_LINK_MTU, TCP_PORT } from '../support/kernel-captures.js';
import { needsRoot } from '../support/root.js';
import { analyzeFile } from './support/analyze-file.js';

describe('TCP path MTU findings on the kernel captures of healthy path MTU discovery', { ...needsRoot(), timeout: 120_000 }, () => {
  let dir: string;
  const results = new Map<string, AnalysisResult>();
  const withOffloads = new Map<string, AnalysisResult>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mtuscope-pmtu-kernel-'));
    await mkdir(join(dir, 'offloads'));
    for (const c of await makeKernelCaptures(dir)) results.set(c.name, await analyzeFile(c.path, [new TcpPmtuDetector()]));
    for (const c of await makeKernelCaptures(join(dir, 'offloads'), { offloads: true })) withOffloads.set(c.name, await analyzeFile(c.path, [new TcpPmtuDetector()]));
  });
  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('no capture point shows a problem (no black hole, nothing ignored, suspicious or orphan)', () => {
    for (const [name, r] of results) {
      assert.deepEqual(r.findings.filter(isProblem).map((f) => `${f.kind}: ${f.sentence}`), [], name);
    }
  });

  it('with the kernel\'s offloads on (TSO/GSO super-packets on the client, GRO on the router) still no problem: where only super-packets follow a Packet Too Big the finding says it cannot tell', () => {
    let unresolved = 0;
    for (const [name, r] of withOffloads) {
      assert.deepEqual(r.findings.filter(isProblem).map((f) => `${f.kind}: ${f.sentence}`), [], name);
      for (const f of r.findings.filter((x) => x.kind === 'ptb-unresolved')) {
        unresolved++;
        assert.match(f.sentence, /offload super-packets/);
        assert.equal(f.confidence, 'low');
      }
    }
    assert.ok(unresolved > 0, 'the client capture holds Packet Too Big answered by super-packets');
  });

  // Snapped to 96 bytes, an IPv6 Packet Too Big keeps only part of the quoted IPv6 header (14 + 40 + 8 + 40 > 96): its
  // flow cannot be told, so it is neither matched nor called an orphan. An IPv4 one keeps the quoted ports and sequence.
  const cases = [
    { name: 'client-eth0', servers: [KERNEL_ADDR.serverTcpV4, KERNEL_ADDR.serverTcpV6] },
    { name: 'client-eth0-snap96', servers: [KERNEL_ADDR.serverTcpV4] },
    { name: 'router-any', servers: [KERNEL_ADDR.serverTcpV4, KERNEL_ADDR.serverTcpV6] },
  ];
  for (const { name, servers } of cases) {
    it(`${name}: the TCP upload (${servers.length === 2 ? 'each family' : 'IPv4'}) honoured the router's Packet Too Big (mtu ${SERVER_LINK_MTU}) by re-sending the quoted data smaller`, () => {
      const r = results.get(name)!;
      for (const server of servers) {
        const f = r.findings.find((x) => x.kind === 'ptb-honoured' && x.flow?.dst === server && x.flow.dstPort === TCP_PORT);
        assert.ok(f, `${name}: no ptb-honoured for ${server}: ${r.findings.map((x) => x.sentence).join(' / ')}`);
        assert.equal(f.facts['mtu'], SERVER_LINK_MTU);
        assert.equal(f.confidence, 'high');
        assert.ok(typeof f.facts['reactionMs'] === 'number' && f.facts['reactionMs'] < 1000);
      }
    });
  }

  it('client-eth0: the IPv6 UDP datagrams that drew Packet Too Big were then fragmented to fit (honoured)', () => {
    const r = results.get('client-eth0')!;
    const f = r.findings.find((x) => x.kind === 'ptb-honoured' && x.flow?.protocol === 'udp' && x.flow.family === 6);
    assert.ok(f, r.findings.map((x) => x.sentence).join(' / '));
    assert.equal(f.facts['mtu'], SERVER_LINK_MTU);
  });
});
