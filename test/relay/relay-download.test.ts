/**
 * The checker's /download test through the anycast farm of the ecmp-ptb scenarios: `mtuscope serve` on both servers
 * behind the L4-hashing router r, the client behind rc, whose link toward it is 1400 bytes. Without a relay, every
 * Packet Too Big from rc reaches one server, so the tests on the other one find a black hole; with `mtuscope relay` in
 * owner mode on r, every test passes and names rc and its 1400 bytes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestResult } from '../../src/checker/test-result.js';
import { startLab } from '../../src/lab/lab.js';
import type { LabProcess, RunningLab } from '../../src/lab/running-lab.js';
import { ANYCAST, CLIENT_SIDE_MTU, countServerPacketTooBig, ecmpPtbFarmSpec, SERVERS } from '../../src/lab/scenarios/ecmp-ptb-farm.js';
import { interfaceToward } from '../../src/lab/scenarios/support.js';
import { startLabRelay } from '../../src/lab/traffic/relay.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import { CLI } from '../support/cli.js';
import { needsRoot } from '../support/root.js';

const PORT = 8080;
/** Tests per family and phase at most, while waiting for both servers to have carried one (all on one: p = 2^-13). */
const MAX_TESTS = 14;
const FAMILIES = [4, 6] as const;

interface Carried {
  readonly server: string;
  readonly result: TestResult;
}

/** "s1 pass, s2 blackhole, ...": the tests in order, for the test's diagnostics. */
function tally(runs: readonly Carried[]): string {
  return runs.map((r) => `${r.server} ${r.result.verdict}`).join(', ');
}

describe('the checker\'s /download through an anycast farm behind an L4-hashing ECMP router', needsRoot(), () => {
  let lab: RunningLab;
  let dir: string;
  const serves = new Map<string, LabProcess>();

  /** The `download` lines a server's log has for a client address, with their verdicts. */
  const logged = (server: string, client: string): string[] => {
    const p = serves.get(server)!;
    const line = new RegExp(`client=${client.replaceAll('.', '\\.')} test=download verdict=(\\S+)`, 'g');
    return [...`${p.stdout}\n${p.stderr}`.matchAll(line)].map((m) => m[1]!);
  };

  /**
   * One /download from c to the service address, and the server that ran it: the one whose log gains a line for the
   * client (tests of one family run one at a time; the log line comes when the answer is over).
   */
  async function download(family: IpFamily): Promise<Carried> {
    const client = lab.address('c', family);
    const before = SERVERS.map((s) => logged(s, client).length);
    const host = family === 4 ? ANYCAST[4] : `[${ANYCAST[6]}]`;
    const r = await lab.exec('c', ['curl', '-sS', '--max-time', '30', `http://${host}:${PORT}/download?format=json`], { timeoutMs: 35_000 });
    let result: TestResult;
    try {
      result = JSON.parse(r.stdout) as TestResult;
    } catch {
      throw new Error(`/download IPv${family}: not JSON (curl exit ${r.code}): ${r.stdout.slice(0, 300)} ${r.stderr}`);
    }
    for (let i = 0; i < 100; i++) {
      const grew = SERVERS.filter((s, j) => logged(s, client).length > before[j]!);
      if (grew.length === 1) {
        const server = grew[0]!;
        assert.equal(logged(server, client).at(-1), result.verdict, `${server}'s log says what the answer says`);
        return { server, result };
      }
      assert.equal(grew.length, 0, 'one test, logged by one server');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`/download IPv${family}: no server logged it`);
  }

  /** Tests until both servers have carried one (at most MAX_TESTS). */
  async function downloadsOnBoth(family: IpFamily): Promise<Carried[]> {
    const done: Carried[] = [];
    while (done.length < MAX_TESTS && !SERVERS.every((s) => done.some((d) => d.server === s))) done.push(await download(family));
    assert.deepEqual([...new Set(done.map((d) => d.server))].sort(), [...SERVERS], `IPv${family}: both servers carried a test in ${done.length}`);
    return done;
  }

  const rcAddress = (family: IpFamily): string => lab.address('rc', family, interfaceToward(lab, 'rc', 'r'));

  before(async () => {
    lab = await startLab(ecmpPtbFarmSpec('relay-dl'));
    dir = mkdtempSync(join(tmpdir(), 'mtuscope-relay-dl-'));
    for (const s of SERVERS) {
      const p = lab.spawn(s, [
        process.execPath, CLI, 'serve', '--listen', ANYCAST[4], '--listen', ANYCAST[6], '--port', String(PORT),
        '--store', join(dir, `${s}.sqlite`), '--node-name', s, '--tests-per-client', '1000',
      ]);
      serves.set(s, p);
      await p.waitForOutput(/listening on/, 20_000);
    }
  });
  after(async () => {
    await Promise.all([...serves.values()].map((p) => p.stop('SIGTERM')));
    await lab?.destroy();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('without a relay: tests on the server that gets no Packet Too Big find a black hole, those on the other pass', async (t) => {
    const arrivals = await Promise.all(SERVERS.map((s) => countServerPacketTooBig(lab, s, 'r')));
    const runs = await Promise.all(FAMILIES.map((family) => downloadsOnBoth(family)));
    const counted = await Promise.all(arrivals.map((a) => a.read()));
    for (const [i, family] of FAMILIES.entries()) t.diagnostic(`IPv${family}: ${tally(runs[i]!)}; rc's errors arrived: ${JSON.stringify(counted.map((c) => c[family]))}`);
    for (const [i, family] of FAMILIES.entries()) {
      // r hashes every error rc sends to the service address alike: one server gets them all.
      const told = SERVERS.filter((_, j) => counted[j]![family] > 0);
      assert.equal(told.length, 1, `IPv${family}: ${JSON.stringify(counted)}`);
      for (const { server, result } of runs[i]!) {
        const d = result.evidence.download;
        const what = `IPv${family} on ${server}: ${JSON.stringify(result.evidence)}`;
        assert.ok(d, what);
        if (server === told[0]) {
          assert.equal(result.verdict, 'pass', what);
          assert.equal(d.router, rcAddress(family), what);
          assert.equal(d.reportedMtu, CLIENT_SIDE_MTU, what);
        } else {
          assert.equal(result.verdict, 'blackhole', what);
          assert.equal(d.packetTooBigReceived, 0, what);
          assert.equal(d.fullSizeAcknowledged, 0, what);
        }
      }
      assert.ok(runs[i]!.some((r) => r.result.verdict === 'blackhole'), `IPv${family}: a test found the black hole`);
    }
  });

  it('with `mtuscope relay` in owner mode on r: every test, on either server, passes with rc\'s address and 1400', async (t) => {
    const relay = await startLabRelay(lab, 'r', ['--mode', 'owner', '--served', ANYCAST[4], '--served', ANYCAST[6]]);
    let runs: Carried[][];
    let stopped: Awaited<ReturnType<typeof relay.stop>>;
    try {
      runs = await Promise.all(FAMILIES.map((family) => downloadsOnBoth(family)));
    } finally {
      stopped = await relay.stop();
    }
    for (const [i, family] of FAMILIES.entries()) t.diagnostic(`IPv${family}: ${tally(runs[i]!)}`);
    t.diagnostic(`relay summary: ${JSON.stringify(stopped.summary)}`);
    for (const [i, family] of FAMILIES.entries()) {
      for (const { server, result } of runs[i]!) {
        const d = result.evidence.download;
        const what = `IPv${family} on ${server}: ${JSON.stringify(result.evidence)}`;
        assert.equal(result.verdict, 'pass', what);
        assert.equal(d?.router, rcAddress(family), what);
        assert.equal(d?.reportedMtu, CLIENT_SIDE_MTU, what);
      }
    }
    const s = stopped.summary;
    assert.ok(s, relay.process.stdout);
    assert.ok(s.relayed.owner >= runs.flat().length, `every test drew at least one message, relayed to its owner: ${JSON.stringify(s)}`);
    assert.equal(s.relayed.fallback, 0);
    assert.equal(relay.process.running, false);
  });
});
