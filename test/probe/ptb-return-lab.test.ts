/**
 * A Packet Too Big the router never sends, or one something on the way back drops: told apart with the cooperating
 * server, with real kernels. h -- r1 -- r2 -- r3 -- d, the link after r3 of MTU 1400, `mtuscope serve` on d (its HTTP
 * port refused by a rule of d's, so that only the UDP responder is asked), `mtuscope probe --no-middlebox` through
 * the built CLI in h, both families: (a) r3 drops its own Packet Too Big (OUTPUT) → hop 3 does not send it; (b) r1
 * drops forwarded Packet Too Big (FORWARD) → a router on the way back drops it; (c) healthy → the target's message
 * arrives and nothing is wrong. And the target's message (MTU 65535) leaves no path MTU in h's route cache.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { PACKET_TOO_BIG_MATCH } from '../../src/host/iptables-matches.js';
import { startLab } from '../../src/lab/lab.js';
import type { LabProcess, RunningLab } from '../../src/lab/running-lab.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import type { CooperatingServerReport } from '../../src/probe/cooperating-server.js';
import type { ProbeFinding } from '../../src/probe/probe-finding.js';
import { CLI } from '../support/cli.js';
import { needsRoot } from '../support/root.js';
import { chainSpec, probeFromH, type ProbeRun } from './probe-lab.js';

const PORT = 8080;
const TOOL = { 4: 'iptables', 6: 'ip6tables' } as const;

function findings(run: ProbeRun): ProbeFinding[] {
  assert.ok(run.report !== undefined, `no report: exit ${run.code} ${run.stderr} ${run.stdout}`);
  return [...run.report.findings];
}

function serverPart(run: ProbeRun): CooperatingServerReport {
  const part = run.report?.families[0]?.parts['server'] as unknown as CooperatingServerReport | undefined;
  assert.ok(part !== undefined, 'no server part in the report');
  return part;
}

/** The figures of a run, printed with the test's result. */
function report(t: TestContext, run: ProbeRun): void {
  const ptb = run.report?.families[0]?.parts['server'] as unknown as CooperatingServerReport | undefined;
  t.diagnostic(`probe ${Math.round(run.ms)} ms, exit ${run.code}; ptb from target: ${JSON.stringify(ptb?.udp?.packetTooBig)}`);
  t.diagnostic(`diagnosis: ${run.report?.diagnosis.text ?? ''}`);
}

function codes(run: ProbeRun): string[] {
  return findings(run).map((f) => f.code);
}

describe('a missing Packet Too Big told apart with the cooperating server', needsRoot(), () => {
  let lab: RunningLab;
  let serve: LabProcess;
  let dir: string;

  before(async () => {
    lab = await startLab(chainSpec({ name: 'ptb-return', routers: 3, linkMtu: { 3: 1400 } }));
    dir = mkdtempSync(join(tmpdir(), 'mtuscope-ptb-return-'));
    serve = lab.spawn('d', [process.execPath, CLI, 'serve', '--listen', lab.address('d', 4), '--listen', lab.address('d', 6), '--port', String(PORT), '--store', join(dir, 'results.sqlite')]);
    await serve.waitForOutput(/listening on/, 20_000);
    // Above the engine's rules (inserted when serve started): the HTTP tests get a reset and are skipped, so that their
    // time and the /icmp test's Packet Too Big (905 / 1280, which h would cache) stay out of this test.
    for (const family of [4, 6] as const) {
      await lab.mustExec('d', [TOOL[family], '-I', 'INPUT', '-p', 'tcp', '--dport', String(PORT), '-j', 'REJECT', '--reject-with', 'tcp-reset']);
    }
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await lab?.destroy();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the probe from h with a Packet Too Big rule on `node`'s `chain` (none: healthy), after flushing h's route cache. */
  async function probe(family: IpFamily, rule?: { node: string; chain: 'OUTPUT' | 'FORWARD' }): Promise<ProbeRun> {
    const spec = rule === undefined ? undefined : [rule.chain, ...PACKET_TOO_BIG_MATCH[family], '-j', 'DROP'];
    await lab.mustExec('h', ['ip', `-${family}`, 'route', 'flush', 'cache']);
    if (rule !== undefined && spec !== undefined) await lab.mustExec(rule.node, [TOOL[family], '-I', ...spec]);
    try {
      return await probeFromH(lab, family, ['--no-middlebox', '--server-port', String(PORT)]);
    } finally {
      if (rule !== undefined && spec !== undefined) await lab.mustExec(rule.node, [TOOL[family], '-D', ...spec]);
    }
  }

  async function cachedMtu(family: IpFamily): Promise<string | undefined> {
    const r = await lab.mustExec('h', ['ip', `-${family}`, 'route', 'get', lab.address('d', family)]);
    return /\bmtu (\d+)/.exec(r.stdout)?.[1];
  }

  for (const family of [4, 6] as const) {
    const hole = family === 4 ? 'ptb-missing' : 'black-hole';

    it(`IPv${family}: r3 drops its own Packet Too Big: the target's arrives, so hop 3 does not send one (ptb-not-sent); h caches no path MTU from it`, async (t) => {
      const run = await probe(family, { node: 'r3', chain: 'OUTPUT' });
      report(t, run);
      assert.equal(run.code, 1, run.stdout);
      const all = findings(run);
      const refined = all.find((f) => f.code === 'ptb-not-sent');
      assert.ok(refined !== undefined, `no ptb-not-sent: ${codes(run).join(', ')}`);
      assert.deepEqual([refined.where?.afterHop, refined.where?.address, refined.confidence], [3, lab.address('r3', family, 'eth1'), family === 4 ? 'high' : 'medium']);
      assert.match(refined.sentence, /does not send Packet Too Big \(or its own firewall drops it\)/);
      assert.ok(!codes(run).includes(hole), `the ${hole} finding was not refined`);
      assert.equal(all.find((f) => f.code === 'ptb-from-target-arrives')?.direction, 'from-target');
      assert.deepEqual([serverPart(run).ptbFromTarget, serverPart(run).udp?.packetTooBig.reportedMtu], ['arrived', 65535]);
      assert.match(serverPart(run).httpSkipped ?? '', /ECONNREFUSED/);
      assert.match(run.report?.diagnosis.text ?? '', /^Problem \(confidence (high|medium)\): .*hop 3 .*does not send Packet Too Big/);
      // The target's message reports 65535: no path MTU is cached toward it (r3 sent nothing that could have been).
      assert.equal(await cachedMtu(family), undefined);
    });

    it(`IPv${family}: r1 drops forwarded Packet Too Big: the target's is lost while its controls arrive, so a router on the way back drops it (ptb-dropped-on-return at hop 3)`, async (t) => {
      const run = await probe(family, { node: 'r1', chain: 'FORWARD' });
      report(t, run);
      assert.equal(run.code, 1, run.stdout);
      const all = findings(run);
      const refined = all.find((f) => f.code === 'ptb-dropped-on-return');
      assert.ok(refined !== undefined, `no ptb-dropped-on-return: ${codes(run).join(', ')}`);
      assert.deepEqual([refined.where?.afterHop, refined.confidence], [3, 'medium']);
      assert.match(refined.sentence, /most likely sends one, but a router on the way back drops forwarded Packet Too Big/);
      const dropped = all.find((f) => f.code === 'ptb-from-target-dropped');
      assert.deepEqual([dropped?.problem, dropped?.direction], [true, 'from-target']);
      const part = serverPart(run);
      assert.equal(part.ptbFromTarget, 'lost');
      assert.ok((part.udp?.packetTooBig.controlsArrived ?? 0) > 0, JSON.stringify(part.udp?.packetTooBig));
      assert.match(run.report?.diagnosis.text ?? '', /^Problem \(confidence high\): IPv\d: an ICMP(v6)? .*did not arrive/);
    });

    it(`IPv${family}: a healthy path: hop 3 reports 1400, the target's Packet Too Big arrives, no problem (exit 0); ping then caches 1400, which the cache check sees`, async (t) => {
      const run = await probe(family);
      report(t, run);
      assert.equal(run.code, 0, run.stdout);
      assert.deepEqual(findings(run).filter((f) => f.problem), []);
      assert.ok(codes(run).includes('ptb-from-target-arrives'), codes(run).join(', '));
      assert.equal(run.report?.families[0]?.pathMtu, 1400);
      assert.match(run.report?.diagnosis.text ?? '', /^Healthy: /);
      // The cache check can say "cached": a real Packet Too Big (r3's, 1400) for a socket's packet lowers it.
      await lab.exec('h', ['ping', `-${family}`, '-M', 'do', '-s', '1452', '-c', '1', '-W', '1', lab.address('d', family)]);
      assert.equal(await cachedMtu(family), '1400');
    });
  }
});
