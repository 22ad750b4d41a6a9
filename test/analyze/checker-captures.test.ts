/**
 * The analyzer against the checker's own verdicts: `mtuscope serve` in a lab, curl clients running /icmp, /frag and
 * /download over healthy and broken paths, a capture on the client's side of each test (dumpcap in the client's
 * namespace), and the analyzer's findings about the client's connection compared with the verdict the checker gave.
 * What a client-side capture can show, and so what each agreement is:
 * - /icmp: the checker's server sends the client a Packet Too Big (test MTU 905/1280) for its full-size segments.
 *   pass ↔ ptb-honoured for the client's connection; blackhole (a router drops that Packet Too Big) ↔ pmtu-blackhole or
 *   ptb-ignored, never ptb-honoured: the client retransmits full-size segments and no Packet Too Big arrives.
 * - /frag: the server sends its answer as fragments. pass ↔ no fragment finding (every datagram complete); blocked
 *   because a router drops every fragment ↔ nothing: not one fragment reaches the client, so the capture cannot tell
 *   (the analyzer must not claim fragments it never saw); blocked because a router drops all but one piece of each
 *   datagram ↔ fragments-incomplete for the server's answer.
 * - /download: the router on a 1400-byte link toward the client sends its Packet Too Big to the server, not the
 *   client: the client's capture never holds it. clear (1500 all the way) and pass ↔ no error or warning about the
 *   connection, and no Packet Too Big finding at all; blackhole (the router drops its own Packet Too Big) ↔ no
 *   Packet Too Big finding either (what the client sees is a gap that the server fills later in smaller segments).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AnalysisResult } from '../../src/analyze/analyzer.js';
import type { Finding, FindingKind } from '../../src/analyze/finding.js';
import type { TestResult } from '../../src/checker/test-result.js';
import { readCaptureFile } from '../../src/capture/reader.js';
import { NodeCaptures } from '../../src/lab/node-capture.js';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { decodeFrame } from '../../src/packet/frame.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import { type CheckerLab, PORT, startCheckerLab } from '../support/checker-lab.js';
import { switchOffloadsOff } from '../../src/lab/node-capture.js';

/** The client-side captures must hold what crossed the wire (TSO/GSO super-packets make sizes "cannot tell"). */
async function offloadsOff(c: CheckerLab): Promise<void> {
  const failed = await switchOffloadsOff(c.lab);
  assert.deepEqual(failed, [], 'ethtool could not switch offloads off');
}
import { needsRoot } from '../support/root.js';
import { analyseCapture, findingLine } from './support/scenario-captures.js';

const FAMILIES = [4, 6] as const;
/** Short windows keep the broken-path verdicts quick; the healthy ones do not wait for them. */
const SERVE_ARGS = ['--window', '3', '--frag-window', '4'];

interface CapturedTest {
  readonly results: Record<IpFamily, TestResult>;
  readonly analysis: AnalysisResult;
  readonly path: string;
  readonly client: string;
}

/** The findings about the connection between `client` and the checker's server in `family` (either direction). */
function aboutClient(c: CheckerLab, t: CapturedTest, family: IpFamily): Finding[] {
  const client = c.lab.address(t.client, family);
  const server = family === 4 ? c.server4 : c.server6;
  const same = (a: string, b: string): boolean => a === b || (a.includes(':') && b.includes(':') && new URL(`http://[${a}]/`).hostname === new URL(`http://[${b}]/`).hostname);
  return t.analysis.findings.filter((f) => {
    const flow = f.flow;
    if (flow === undefined || flow.family !== family) return false;
    const ends = (same(flow.src, client) && same(flow.dst, server)) || (same(flow.src, server) && same(flow.dst, client));
    // A datagram whose first fragment never came names no ports.
    return ends && (flow.protocol.startsWith('icmp') || flow.srcPort === undefined || flow.srcPort === PORT || flow.dstPort === PORT);
  });
}

function kinds(fs: readonly Finding[]): FindingKind[] {
  return [...new Set(fs.map((f) => f.kind))].sort();
}

function show(t: CapturedTest): string {
  const verdicts = FAMILIES.map((f) => `IPv${f} ${t.results[f].verdict}`).join(', ');
  return `checker: ${verdicts}; analyzer on ${t.client}'s capture (${t.analysis.packets} packets):\n${t.analysis.findings.map((f) => `  ${findingLine(f)}`).join('\n') || '  no findings'}`;
}

/** IP fragments of each family in a capture (IPv4 MF or offset, IPv6 Fragment header), counted from the packets themselves. */
async function fragmentsIn(path: string): Promise<Record<IpFamily, number>> {
  const n: Record<IpFamily, number> = { 4: 0, 6: 0 };
  for (const p of await readCaptureFile(path)) {
    const layers = decodeFrame(p.linkType, p.data, p.originalLength).layers;
    const ip = layers.find((l) => l.protocol === 'ipv4' || l.protocol === 'ipv6');
    if (ip?.protocol === 'ipv4' && (ip.repr.moreFragments || ip.repr.fragmentOffset > 0)) n[4]++;
    if (ip?.protocol === 'ipv6' && ip.extensions.some((e) => e.kind === 'fragment')) n[6]++;
  }
  return n;
}

describe('the analyzer agrees with the checker’s verdicts, from a capture on the client’s side', needsRoot(), () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mtuscope-checker-captures-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs `request` for both families at once from `client` while its eth1 is captured, then analyses the capture. */
  async function captured(c: CheckerLab, name: string, client: string, request: (family: IpFamily) => Promise<TestResult>): Promise<CapturedTest> {
    const out = join(dir, name);
    const captures = await NodeCaptures.start(c.lab, [{ node: client, interfaces: ['eth1'] }], out);
    let results: TestResult[];
    try {
      results = await Promise.all(FAMILIES.map(request));
    } finally {
      await captures.stop();
    }
    const path = join(out, `${client}.pcapng`);
    return { results: { 4: results[0]!, 6: results[1]! }, analysis: await analyseCapture(path), path, client };
  }

  async function download(c: CheckerLab, client: string, family: IpFamily): Promise<TestResult> {
    const r = await c.curl(client, [c.url(family, '/download?format=json')], 30_000);
    return JSON.parse(r.stdout) as TestResult;
  }

  describe('a healthy path (and a narrower link toward one client)', () => {
    let c: CheckerLab;
    let serve: LabProcess;
    before(async () => {
      c = await startCheckerLab({ name: 'chk-cap-ok', clients: [{ name: 'client' }, { name: 'narrow', routerSideMtu: 1400 }] });
      await offloadsOff(c);
      serve = await c.serve(SERVE_ARGS);
    });
    after(async () => {
      await serve?.stop('SIGTERM');
      await c?.destroy();
    });

    it('/icmp pass ↔ ptb-honoured for the client’s connection, and no error or warning about it', async () => {
      const t = await captured(c, 'icmp-pass', 'client', async (f) => (await c.icmpJson('client', f)).result);
      for (const family of FAMILIES) {
        assert.equal(t.results[family].verdict, 'pass', show(t));
        const mine = aboutClient(c, t, family);
        assert.ok(mine.some((f) => f.kind === 'ptb-honoured'), `IPv${family}: ${show(t)}`);
        assert.deepEqual(mine.filter((f) => f.severity !== 'info').map(findingLine), [], `IPv${family}: ${show(t)}`);
      }
    });

    it('/frag pass ↔ fragments arrived, none incomplete or lost, and no error (tiny fragments, which the checker sends on purpose, may be named)', async () => {
      const t = await captured(c, 'frag-pass', 'client', async (f) => (await c.fragJson('client', f)).result);
      const fragments = await fragmentsIn(t.path);
      for (const family of FAMILIES) {
        assert.equal(t.results[family].verdict, 'pass', show(t));
        assert.ok(fragments[family] > 0, `IPv${family}: the client's capture holds the answer's fragments`);
        assert.deepEqual(aboutClient(c, t, family).filter((f) => f.severity === 'error').map(findingLine), [], `IPv${family}: ${show(t)}`);
        assert.deepEqual(kinds(aboutClient(c, t, family)).filter((k) => k === 'fragments-incomplete' || k === 'fragments-lost-retried'), [], `IPv${family}: ${show(t)}`);
      }
    });

    it('/frag blocked by a router that drops all but one fragment of each datagram ↔ fragments-incomplete for the server’s answer', async () => {
      // IPv4: every fragment but the first (-f); IPv6: every fragment with more to come (all but the last).
      const rules = [['iptables', 'FORWARD', '-f'], ['ip6tables', 'FORWARD', '-m', 'frag', '--fragmore']] as const;
      for (const [tool, chain, ...match] of rules) await c.lab.mustExec('router', [tool, '-I', chain, ...match, '-j', 'DROP']);
      let t: CapturedTest;
      try {
        t = await captured(c, 'frag-partial', 'client', async (f) => (await c.fragJson('client', f, 30_000)).result);
      } finally {
        for (const [tool, chain, ...match] of rules) await c.lab.mustExec('router', [tool, '-D', chain, ...match, '-j', 'DROP']);
      }
      for (const family of FAMILIES) {
        assert.equal(t.results[family].verdict, 'blocked', show(t));
        assert.ok(aboutClient(c, t, family).some((f) => f.kind === 'fragments-incomplete'), `IPv${family}: ${show(t)}`);
      }
    });

    it('/download clear (1500 bytes all the way) ↔ no error or warning about the connection and no Packet Too Big finding', async () => {
      const t = await captured(c, 'download-clear', 'client', (f) => download(c, 'client', f));
      for (const family of FAMILIES) {
        assert.equal(t.results[family].verdict, 'clear', show(t));
        const mine = aboutClient(c, t, family);
        assert.deepEqual(mine.filter((f) => f.severity !== 'info' || f.kind.startsWith('ptb')).map(findingLine), [], `IPv${family}: ${show(t)}`);
      }
    });

    it('/download pass (the router’s Packet Too Big goes to the server) ↔ from the client’s side nothing to report: no error, no warning, no Packet Too Big finding', async () => {
      const t = await captured(c, 'download-pass', 'narrow', (f) => download(c, 'narrow', f));
      for (const family of FAMILIES) {
        assert.equal(t.results[family].verdict, 'pass', show(t));
        const mine = aboutClient(c, t, family);
        assert.deepEqual(mine.filter((f) => f.severity !== 'info' || f.kind.startsWith('ptb')).map(findingLine), [], `IPv${family}: ${show(t)}`);
      }
    });
  });

  describe('a router that drops Packet Too Big and fragments', () => {
    let c: CheckerLab;
    let serve: LabProcess;
    before(async () => {
      c = await startCheckerLab({
        name: 'chk-cap-bad',
        router: { dropPacketTooBig: true, dropFragments: true },
        clients: [{ name: 'plain' }, { name: 'narrow', routerSideMtu: 1400 }],
      });
      await offloadsOff(c);
      serve = await c.serve(SERVE_ARGS);
    });
    after(async () => {
      await serve?.stop('SIGTERM');
      await c?.destroy();
    });

    it('/icmp blackhole ↔ pmtu-blackhole or ptb-ignored for the client’s connection (full-size segments retransmitted, no Packet Too Big arrives), never ptb-honoured', async () => {
      const t = await captured(c, 'icmp-blackhole', 'plain', async (f) => (await c.icmpJson('plain', f)).result);
      for (const family of FAMILIES) {
        assert.equal(t.results[family].verdict, 'blackhole', show(t));
        const found = kinds(aboutClient(c, t, family));
        assert.ok(found.includes('pmtu-blackhole') || found.includes('ptb-ignored'), `IPv${family}: ${show(t)}`);
        assert.ok(!found.includes('ptb-honoured'), `IPv${family}: ${show(t)}`);
      }
    });

    it('/frag blocked with every fragment dropped ↔ not one fragment in the client’s capture, and no fragment finding (cannot tell from here)', async () => {
      const t = await captured(c, 'frag-blocked', 'plain', async (f) => (await c.fragJson('plain', f, 30_000)).result);
      const fragments = await fragmentsIn(t.path);
      for (const family of FAMILIES) {
        assert.equal(t.results[family].verdict, 'blocked', show(t));
        assert.equal(fragments[family], 0, `IPv${family}: no fragment reached the client`);
        assert.deepEqual(kinds(aboutClient(c, t, family)).filter((k) => k.startsWith('fragment')), [], `IPv${family}: ${show(t)}`);
      }
    });

    it('/download blackhole (the router drops its own Packet Too Big) ↔ no Packet Too Big finding: the client never sees one', async () => {
      const t = await captured(c, 'download-blackhole', 'narrow', (f) => download(c, 'narrow', f));
      for (const family of FAMILIES) {
        assert.equal(t.results[family].verdict, 'blackhole', show(t));
        assert.deepEqual(kinds(aboutClient(c, t, family)).filter((k) => k.startsWith('ptb')), [], `IPv${family}: ${show(t)}`);
      }
    });
  });
});
