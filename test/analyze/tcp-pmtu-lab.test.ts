/**
 * Ground truth for the TCP/Packet Too Big findings: real Linux kernels in lab namespaces (client —1500— router —1400—
 * server), captured with tcpdump on the client (test/support/pmtu-tcp-captures.ts), analyzed, and the frames cited
 * checked with tshark on the same files.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AnalysisResult } from '../../src/analyze/analyzer.js';
import type { Finding, FindingKind } from '../../src/analyze/finding.js';
import { TcpPmtuDetector } from '../../src/analyze/tcp-pmtu-detector.js';
import { FLOOR_MTU, makePmtuCaptures, ORPHAN_PORTS, type PmtuCaptures, type PmtuPhase, SMALL_LINK_MTU, SUSPICIOUS_MTU } from '../support/pmtu-tcp-captures.js';
import { needsRoot } from '../support/root.js';
import { tsharkFields } from '../support/tshark.js';
import { analyzeFile } from './support/analyze-file.js';

const FAMILIES = [4, 6] as const;

async function framesOf(path: string, filter: string): Promise<number[]> {
  const rows = await tsharkFields(path, ['frame.number'], { displayFilter: filter });
  return rows.map((r) => Number(r['frame.number']));
}

function ofKind(r: AnalysisResult, kind: FindingKind): Finding[] {
  return r.findings.filter((f) => f.kind === kind);
}

function forPort(findings: readonly Finding[], port: number): Finding {
  const f = findings.find((x) => x.flow?.srcPort === port);
  assert.ok(f, `no finding for client port ${port} among ${findings.map((x) => x.sentence).join(' / ')}`);
  return f;
}

const PROBLEMS: readonly FindingKind[] = ['pmtu-blackhole', 'ptb-ignored', 'ptb-suspicious', 'ptb-orphan', 'ptb-unresolved'];

describe('TCP path MTU findings on real kernel captures', { ...needsRoot(), timeout: 120_000 }, () => {
  let dir: string;
  let caps: PmtuCaptures;
  const results = new Map<PmtuPhase, AnalysisResult>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mtuscope-pmtu-tcp-'));
    caps = await makePmtuCaptures(dir);
    for (const [phase, file] of Object.entries(caps.files) as [PmtuPhase, string][]) results.set(phase, await analyzeFile(file, [new TcpPmtuDetector()]));
  });
  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('healthy path MTU discovery: each family gets Packet Too Big mtu 1400, honoured within a millisecond by re-sending the quoted data in a packet that fits; nothing else is reported', async () => {
    const r = results.get('healthy')!;
    for (const family of FAMILIES) {
      const f = forPort(ofKind(r, 'ptb-honoured'), caps.ports.healthy[family]);
      assert.equal(f.confidence, 'high');
      assert.equal(f.facts['mtu'], SMALL_LINK_MTU);
      assert.equal(f.facts['senderDirection'], 'out');
      const reaction = f.facts['reactionMs'] as number;
      assert.ok(reaction >= 0 && reaction < 1, `reaction ${reaction} ms`);
      // The re-send tshark sees: that flow's segment with the quoted sequence number, no larger than the MTU.
      const ip = family === 4 ? 'ip' : 'ipv6';
      const resend = await framesOf(caps.files.healthy, `tcp.srcport==${caps.ports.healthy[family]} && tcp.seq_raw==${f.facts['quotedSeq']} && tcp.len>0 && !icmp && !icmpv6 && ${family === 4 ? 'ip.len' : 'ipv6.plen'}<=${family === 4 ? SMALL_LINK_MTU : SMALL_LINK_MTU - 40} && ${ip}.src==${f.flow!.src}`);
      assert.equal(resend[0], f.facts['resendFrame']);
      // The Packet Too Big frames cited are what tshark calls Packet Too Big.
      const ptbs = await framesOf(caps.files.healthy, '(icmp.type==3 && icmp.code==4) || icmpv6.type==2');
      for (const e of f.evidence.filter((x) => x.role.startsWith('Packet Too Big'))) assert.ok(ptbs.includes(e.frame), `frame ${e.frame} is no Packet Too Big`);
      assert.deepEqual(await framesOf(caps.files.healthy, f.displayFilter), [...new Set(f.evidence.map((e) => e.frame))].sort((a, b) => a - b));
    }
    assert.deepEqual(r.findings.filter((f) => PROBLEMS.includes(f.kind)).map((f) => f.sentence), []);
  });

  it('a router that drops its own Packet Too Big: a PMTU black hole on the client capture in each family, the retransmissions cited are those tshark flags, and its display filter shows exactly the evidence', async () => {
    const r = results.get('blackhole')!;
    const flagged = await framesOf(caps.files.blackhole, 'tcp.analysis.retransmission');
    for (const family of FAMILIES) {
      const f = forPort(ofKind(r, 'pmtu-blackhole'), caps.ports.blackhole[family]);
      assert.equal(f.severity, 'error');
      assert.equal(f.confidence, 'high');
      assert.equal(f.facts['ipLength'], 1500);
      assert.ok((f.facts['retransmissions'] as number) >= 3);
      assert.equal(f.facts['doubling'], true);
      assert.equal(f.facts['captureDirection'], 'out');
      const retransmissions = f.evidence.filter((e) => e.role.startsWith('retransmission')).map((e) => e.frame);
      assert.ok(retransmissions.length >= 3);
      for (const frame of retransmissions) assert.ok(flagged.includes(frame), `frame ${frame} is not a tcp.analysis.retransmission (${flagged.join(' ')})`);
      assert.deepEqual(await framesOf(caps.files.blackhole, f.displayFilter), f.evidence.map((e) => e.frame));
    }
    assert.deepEqual(r.findings.filter((f) => f.kind !== 'pmtu-blackhole').map((f) => f.sentence), []);
  });

  it('with tcp_mtu_probing=1 the black hole is followed by the fallback: Linux re-sends the same data in segments of about 1024 bytes, and they are acknowledged', async () => {
    const r = results.get('probing')!;
    for (const family of FAMILIES) {
      forPort(ofKind(r, 'pmtu-blackhole'), caps.ports.probing[family]);
      const f = forPort(ofKind(r, 'blackhole-fallback'), caps.ports.probing[family]);
      assert.equal(f.severity, 'info');
      assert.equal(f.facts['fallback'], 'mtu-probing');
      assert.equal(f.facts['acknowledged'], true);
      const size = Number(String(f.facts['fallbackSizes']).split(',')[0]);
      assert.ok(size > 1000 && size < 1200, `first fallback segment ${size} bytes`);
      assert.deepEqual(await framesOf(caps.files.probing, f.displayFilter), f.evidence.map((e) => e.frame));
    }
  });

  it('a healthy bulk transfer with a few ordinary losses (every 20th large segment dropped) is no black hole', async () => {
    assert.ok(caps.lossyDrops >= 2, `the router dropped ${caps.lossyDrops} segments`);
    const flagged = await framesOf(caps.files.lossy, 'tcp.analysis.retransmission');
    assert.ok(flagged.length >= 2, 'tshark sees the retransmissions of the lost segments');
    const r = results.get('lossy')!;
    assert.deepEqual(r.findings.filter((f) => PROBLEMS.includes(f.kind)).map((f) => f.sentence), []);
  });

  it('a Packet Too Big below Linux\'s floor (mtu 500 < min_pmtu 552): the real kernel re-sends the quoted data in 552-byte packets without DF (the router fragments them), which is honoured, not ignored', async () => {
    const r = results.get('floor')!;
    const f = forPort(ofKind(r, 'ptb-honoured'), caps.floorPort);
    assert.equal(f.confidence, 'high');
    assert.equal(f.facts['mtu'], FLOOR_MTU);
    assert.equal(f.facts['dfCleared'], true);
    assert.match(f.sentence, /without DF/);
    const resend = await tsharkFields(caps.files.floor, ['ip.len', 'ip.flags.df', 'tcp.seq_raw'], { displayFilter: `frame.number==${f.facts['resendFrame']}` });
    assert.deepEqual(resend[0], { 'ip.len': '552', 'ip.flags.df': '0', 'tcp.seq_raw': String(f.facts['quotedSeq']) });
    assert.deepEqual(r.findings.filter((x) => PROBLEMS.includes(x.kind)).map((x) => x.sentence), []);
  });

  it('a Packet Too Big quoting a flow the capture never carried is an orphan (both families), and its filter shows that message', async () => {
    const r = results.get('orphan')!;
    const orphans = ofKind(r, 'ptb-orphan');
    for (const family of FAMILIES) {
      const f = orphans.find((x) => x.flow?.family === family);
      assert.ok(f);
      assert.equal(f.flow!.srcPort, ORPHAN_PORTS.client);
      assert.equal(f.confidence, 'high');
      assert.match(f.sentence, /ECMP or anycast/);
      assert.deepEqual(await framesOf(caps.files.orphan, f.displayFilter), f.evidence.map((e) => e.frame));
    }
    assert.equal(orphans.length, 2);
    assert.deepEqual(r.findings.filter((f) => f.kind !== 'ptb-orphan' && f.kind !== 'ptb-suspicious' && PROBLEMS.includes(f.kind)).map((f) => f.sentence), []);
  });

  it('Packet Too Big messages that cannot be true, quoting a flow the capture did carry: suspicious (mtu not smaller than the quoted packet; mtu below the IPv6 minimum), not orphans', async () => {
    const r = results.get('orphan')!;
    const suspicious = ofKind(r, 'ptb-suspicious');
    assert.equal(suspicious.length, 2);
    for (const family of FAMILIES) {
      const f = forPort(suspicious, caps.ports.orphan[family]);
      assert.equal(f.facts['mtu'], SUSPICIOUS_MTU[family]);
      assert.match(String(f.facts['reasons']), family === 4 ? /not-smaller/ : /below-minimum/);
      assert.deepEqual(await framesOf(caps.files.orphan, f.displayFilter), f.evidence.map((e) => e.frame));
    }
  });
});
