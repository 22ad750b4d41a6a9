/**
 * Ground truth for the MSS detectors and the capture-loss check from real kernels: a router in lab namespaces with and
 * without iptables TCPMSS --set-mss 1360 (both families), captured on both its interfaces at once (dumpcap, pcapng)
 * and with tcpdump -i any (SLL2); tshark reads the same files as the oracle.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { AnalysisResult } from '../../src/analyze/analyzer.js';
import type { Finding } from '../../src/analyze/finding.js';
import { needsRoot } from '../support/root.js';
import { tsharkFields } from '../support/tshark.js';
import { analyzeFile } from './support/analyze-file.js';
import { captureRouter, type RouterCaptures } from './support/router-captures.js';

const run = promisify(execFile);

function kind(result: AnalysisResult, k: Finding['kind']): Finding[] {
  return result.findings.filter((f) => f.kind === k);
}

/** The frames tshark displays with `filter`. */
async function shown(path: string, filter: string): Promise<number[]> {
  const rows = await tsharkFields(path, ['frame.number'], { displayFilter: filter });
  return rows.map((r) => Number(r['frame.number']));
}

describe('a router clamping the MSS to 1360 with iptables TCPMSS', needsRoot(), () => {
  let dir: string;
  let caps: RouterCaptures;
  let both: AnalysisResult;
  let any: AnalysisResult;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mss-clamp-'));
    caps = await captureRouter(dir, 1360);
    both = await analyzeFile(caps.pcapng);
    any = await analyzeFile(caps.any);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is named with both interfaces, for SYN and SYN-ACK of both families, from a dumpcap capture of eth1 and eth2', () => {
    const clamps = kind(both, 'mss-clamped');
    const summary = clamps.map((f) => `${f.facts.segment} ${f.facts.fromMss}->${f.facts.toMss} ${f.facts.fromInterface}->${f.facts.toInterface} ${f.confidence} ${f.severity}`).sort();
    assert.deepEqual(summary, [
      'SYN 1440->1360 eth1->eth2 high warning',
      'SYN 1460->1360 eth1->eth2 high warning',
      'SYN-ACK 1440->1360 eth2->eth1 high warning',
      'SYN-ACK 1460->1360 eth2->eth1 high warning',
    ]);
    const v4Syn = clamps.find((f) => f.facts.segment === 'SYN' && f.facts.fromMss === 1460)!;
    const [a, b] = v4Syn.evidence.map((e) => e.frame);
    assert.ok(v4Syn.sentence.startsWith(`MSS clamped from 1460 to 1360 between eth1 and eth2 (frames ${a} and ${b})`), v4Syn.sentence);
    assert.match(v4Syn.sentence, /SYN-ACKs crossing the same two points were rewritten too/);
  });

  it('cites the SYN frames tshark shows with those MSS values on those interfaces, and its display filter shows exactly them', async () => {
    const rows = await tsharkFields(caps.pcapng, ['frame.number', 'frame.interface_name', 'tcp.options.mss_val'], { displayFilter: 'tcp.flags.syn == 1' });
    const byFrame = new Map(rows.map((r) => [Number(r['frame.number']), r]));
    for (const f of kind(both, 'mss-clamped')) {
      const [from, to] = f.evidence;
      assert.equal(byFrame.get(from!.frame)?.['frame.interface_name'], f.facts.fromInterface);
      assert.equal(byFrame.get(from!.frame)?.['tcp.options.mss_val'], String(f.facts.fromMss));
      assert.equal(byFrame.get(to!.frame)?.['frame.interface_name'], f.facts.toInterface);
      assert.equal(byFrame.get(to!.frame)?.['tcp.options.mss_val'], String(f.facts.toMss));
      assert.deepEqual(await shown(caps.pcapng, f.displayFilter), f.evidence.map((e) => e.frame).sort((x, y) => x - y), f.displayFilter);
    }
  });

  it('is named from tcpdump -i any too, the interfaces told apart by their SLL2 interface index', async () => {
    const clamps = kind(any, 'mss-clamped');
    assert.equal(clamps.length, 4, JSON.stringify(any.findings.map((f) => f.sentence)));
    assert.ok(clamps.every((f) => f.confidence === 'high' && /^ifindex \d+$/.test(String(f.facts.fromInterface))));
    const rows = await tsharkFields(caps.any, ['frame.number', 'sll.ifindex', 'tcp.options.mss_val'], { displayFilter: 'tcp.flags.syn == 1' });
    const byFrame = new Map(rows.map((r) => [Number(r['frame.number']), r]));
    for (const f of clamps) {
      const [from, to] = f.evidence;
      assert.equal(`ifindex ${byFrame.get(from!.frame)?.['sll.ifindex']}`, f.facts.fromInterface);
      assert.equal(`ifindex ${byFrame.get(to!.frame)?.['sll.ifindex']}`, f.facts.toInterface);
      assert.deepEqual(await shown(caps.any, f.displayFilter), f.evidence.map((e) => e.frame).sort((x, y) => x - y), f.displayFilter);
    }
  });

  it('makes no single-point guess where two capture points show the rewrite, and names WireGuard for the IPv6 MSS 1360 only as a low-confidence candidate', () => {
    assert.ok(kind(both, 'mss-clamped').every((f) => f.facts.singlePoint === undefined));
    const tunnels = kind(both, 'mss-tunnel');
    assert.ok(tunnels.length > 0 && tunnels.every((f) => f.facts.mss === 1360 && f.facts.impliedMtu === 1420 && f.severity === 'info' && f.confidence === 'low'));
    assert.equal(kind(both, 'segment-exceeds-mss').length, 0);
  });
});

describe('the same router without the TCPMSS rule', needsRoot(), () => {
  let dir: string;
  let caps: RouterCaptures;
  let both: AnalysisResult;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mss-noclamp-'));
    caps = await captureRouter(dir, undefined);
    both = await analyzeFile(caps.pcapng);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('has nothing to report: no clamp, no tunnel MSS, no oversized segment, no capture loss', async () => {
    assert.deepEqual(both.findings.filter((f) => f.kind !== 'capture-caveat').map((f) => f.sentence), []);
    assert.deepEqual(kind(both, 'capture-caveat').map((f) => f.facts.condition), ['checksum-offload', 'checksum-offload']);
    assert.deepEqual(await shown(caps.pcapng, 'tcp.analysis.ack_lost_segment'), []);
  });

  it('counts the acknowledgements of data the capture lost where tshark flags tcp.analysis.ack_lost_segment, once frames are cut out', async () => {
    const data = await shown(caps.pcapng, 'tcp.len > 0');
    const cut = data.filter((_, i) => i % 5 === 2);
    const edited = join(dir, 'lossy.pcapng');
    await run('editcap', [caps.pcapng, edited, ...cut.map(String)]);
    const rows = await tsharkFields(edited, ['frame.number', 'frame.interface_name'], { displayFilter: 'tcp.analysis.ack_lost_segment' });
    assert.ok(rows.length > 0, 'the cut left gaps tshark sees');
    const ours = await analyzeFile(edited);
    const missed = kind(ours, 'capture-caveat').filter((f) => f.facts.condition === 'missed-segments');
    assert.equal(missed.reduce((n, f) => n + Number(f.facts.count), 0), rows.length);
    for (const f of missed) {
      const theirs = rows.filter((r) => r['frame.interface_name'] === f.interface).map((r) => Number(r['frame.number']));
      assert.equal(f.facts.count, theirs.length);
      assert.deepEqual(f.evidence.map((e) => e.frame), theirs.slice(0, f.evidence.length));
      assert.deepEqual(await shown(edited, f.displayFilter), theirs, f.displayFilter);
    }
  });
});
