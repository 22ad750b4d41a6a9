/**
 * The article's four scenarios against `mtuscope serve` in a lab (client, spoofer and victim → router → server), with
 * real kernels: a healthy path, IP fragments dropped by the router in one direction only (each direction, both
 * families: the report names the direction), and the UDP responder under a forged source and a small flood.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FRAGMENT_MATCH } from '../../src/lab/iptables-matches.js';
import type { LabProcess } from '../../src/lab/running-lab.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import type { CooperatingServerReport } from '../../src/probe/cooperating-server.js';
import { type CheckerLab, PORT, startCheckerLab } from '../support/checker-lab.js';
import { needsRoot } from '../support/root.js';

const DIST_TEST = join(import.meta.dirname, '..');
const HARNESS = join(DIST_TEST, 'probe', 'cooperating-server-harness.js');
const TRAFFIC = join(DIST_TEST, 'probe', 'responder-traffic.js');
/** The router's interfaces: eth1 toward the server, eth2 toward the client (the first client link). */
const TOWARD_SERVER_IN = 'eth2';
const FROM_SERVER_IN = 'eth1';

function codes(report: CooperatingServerReport): Record<string, boolean> {
  return Object.fromEntries(report.findings.map((f) => [f.code, f.problem]));
}

function directionOf(report: CooperatingServerReport, code: string): string | undefined {
  return report.findings.find((f) => f.code === code)?.direction;
}

describe('cooperating server: the four scenarios against mtuscope serve in a lab', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;

  before(async () => {
    c = await startCheckerLab({ name: 'coop', clients: [{ name: 'client' }, { name: 'spoofer' }, { name: 'victim' }] });
    serve = await c.serve(['--frag-window', '2', '--download-window', '3', '--window', '3', '--udp-per-client', '20']);
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  async function probe(family: IpFamily, extra: readonly string[] = []): Promise<CooperatingServerReport> {
    const address = family === 4 ? c.server4 : c.server6;
    const r = await c.lab.exec('client', [process.execPath, HARNESS, address, String(PORT), '--wait-ms', '600', ...extra], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as CooperatingServerReport;
  }

  /** Drops forwarded fragments entering the router on `ifname` (one direction), for the time of `run`. */
  async function dropping<T>(family: IpFamily, ifname: string, run: () => Promise<T>): Promise<T> {
    const tool = family === 4 ? 'iptables' : 'ip6tables';
    const rule = ['FORWARD', '-i', ifname, ...FRAGMENT_MATCH[family], '-j', 'DROP'];
    await c.lab.mustExec('router', [tool, '-I', ...rule]);
    try {
      return await run();
    } finally {
      await c.lab.mustExec('router', [tool, '-D', ...rule]);
    }
  }

  for (const family of [4, 6] as const) {
    it(`IPv${family}: a healthy path gives a healthy report: every scenario passes, with the sizes that arrived`, async () => {
      const report = await probe(family);
      assert.equal(report.answered, true, report.reason);
      assert.deepEqual(codes(report), {
        'udp-fragments-to-target-pass': false,
        'udp-fragments-from-target-pass': false,
        'ptb-from-target-arrives': false,
        'http-icmp-pass': false,
        'http-download-clear': false,
        'http-frag-pass': false,
      });
      assert.deepEqual(
        report.udp?.probes.map((p) => [p.fragmentCount, p.acknowledged, p.receivedLength === p.udpPayload]),
        [[1, true, true], [2, true, true], [3, true, true], [6, true, true]],
      );
      assert.deepEqual(report.udp?.replies.map((r) => [r.replySize, r.arrived]), [[1232, true], [1500, true], [2048, true], [4096, true]]);
      // The Packet Too Big on request: as large as the 128-byte request, quoting all of it, reporting 65535.
      assert.equal(report.ptbFromTarget, 'arrived');
      assert.deepEqual([report.udp?.packetTooBig.packetSize, report.udp?.packetTooBig.quotedLength, report.udp?.packetTooBig.reportedMtu], [family === 4 ? 156 : 176, 128, 65535]);
    });

    it(`IPv${family}: fragments dropped toward the target only: the report says to-target, and from-target still passes`, async () => {
      const report = await dropping(family, TOWARD_SERVER_IN, () => probe(family, ['--no-http']));
      assert.deepEqual(codes(report), { "udp-fragments-to-target-dropped": true, "udp-fragments-from-target-pass": false, 'ptb-from-target-arrives': false }, JSON.stringify(report.udp));
      assert.equal(directionOf(report, 'udp-fragments-to-target-dropped'), 'to-target');
      assert.deepEqual(report.udp?.probes.map((p) => p.acknowledged), [true, false, false, false]);
    });

    it(`IPv${family}: fragments dropped from the target only: the report says from-target (UDP and /frag), and to-target still passes`, async () => {
      const report = await dropping(family, FROM_SERVER_IN, () => probe(family));
      const found = codes(report);
      assert.equal(found['udp-fragments-to-target-pass'], false);
      assert.equal(found['udp-fragments-from-target-dropped'], true, JSON.stringify(report.findings));
      assert.equal(found['http-frag-blocked'], true, JSON.stringify(report.http));
      assert.equal(directionOf(report, 'udp-fragments-from-target-dropped'), 'from-target');
      assert.equal(directionOf(report, 'http-frag-blocked'), 'from-target');
      // 1232 bytes travel whole; the larger replies only as fragments.
      assert.deepEqual(report.udp?.replies.map((r) => [r.replySize, r.arrived]), [[1232, true], [1500, false], [2048, false], [4096, false]]);
    });
  }

  it('no server on the UDP port: answered false, the reason, and "not tested" in the findings', async () => {
    const r = await c.lab.exec('client', [process.execPath, HARNESS, c.server4, '9', '--no-http', '--tries', '2', '--wait-ms', '300'], { timeoutMs: 30_000 });
    const report = JSON.parse(r.stdout) as CooperatingServerReport;
    assert.equal(report.answered, false);
    assert.match(report.reason ?? '', /no answer to 2 hellos/);
    assert.deepEqual(report.findings.map((f) => f.sentence), [
      'No cooperating mtuscope server answered on UDP port 9: scenarios 2 and 4 (UDP) not tested (no answer to 2 hellos in 1 s).',
    ]);
  });

  for (const family of [4, 6] as const) {
    it(`IPv${family}: a forged source gets nothing larger than was sent in its name, while a proven client gets 4096-byte replies`, async () => {
      const victim = c.lab.address('victim', family);
      const server = family === 4 ? c.server4 : c.server6;
      // Destination unreachable (IPv4: fragmentation needed is one) / Packet Too Big, not neighbour discovery.
      const icmp = family === 4 ? 'icmp[icmptype] == 3' : '(icmp6 and ip6[40] == 2)';
      const dump = c.lab.spawn('victim', ['tcpdump', '-i', 'eth1', '-nn', '-l', '-q', '-p', `${family === 4 ? 'ip' : 'ip6'} and src host ${server} and ((udp and src port ${PORT}) or ${icmp})`]);
      try {
        await dump.waitForOutput(/listening on/, 10_000);
        const sent = await c.lab.mustExec('spoofer', [process.execPath, TRAFFIC, 'spoof', String(family), victim, server, String(PORT), '10'], { timeoutMs: 20_000 });
        const { sentBytes, largestSent } = JSON.parse(sent.stdout) as { sentBytes: number; largestSent: number };
        await new Promise((resolve) => setTimeout(resolve, 500));
        await dump.stop('SIGINT');
        const lengths = [...dump.stdout.matchAll(/UDP, length (\d+)/g)].map((m) => Number(m[1]));
        const received = lengths.reduce((a, b) => a + b, 0);
        assert.ok(lengths.length > 0, `the victim saw no answer at all: ${dump.stdout}${dump.stderr}`);
        assert.ok(received <= sentBytes, `the victim got ${received} bytes for ${sentBytes} sent in its name`);
        assert.ok(Math.max(...lengths) <= largestSent, `an answer of ${Math.max(...lengths)} bytes`);
        assert.ok(Math.max(...lengths) <= 40, `answers: ${lengths.join(' ')}`);
        // The forged ptb-requests (bad cookie) brought the victim no Packet Too Big, only errors.
        assert.doesNotMatch(dump.stdout, /ICMP|ICMP6/, dump.stdout);
      } finally {
        if (dump.running) await dump.stop('SIGKILL');
      }
      const proven = await probe(family, ['--no-http']);
      assert.equal(proven.udp?.replies.find((r) => r.replySize === 4096)?.arrived, true);
    });
  }

  it('a flood of 400 hellos from one client gets at most its burst plus its rate in cookies; another client is still answered', async (t) => {
    const counters = async (): Promise<Record<string, number>> => {
      const metrics = await c.curl('client', [c.url(4, '/metrics')]);
      return Object.fromEntries([...metrics.stdout.matchAll(/^mtuscope_udp_(\w+)_total (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
    };
    const before = await counters();
    const flood = await c.lab.mustExec('client', [process.execPath, TRAFFIC, 'flood', c.server4, String(PORT), '400'], { timeoutMs: 20_000 });
    const { cookies, sendMs } = JSON.parse(flood.stdout) as { cookies: number; sendMs: number };
    const after = await counters();
    const delta = (name: string): number => (after[name] ?? NaN) - (before[name] ?? NaN);
    // The server's socket may not even read all 400 (its receive buffer overflows): what it read is accounted for exactly.
    const read = delta('datagrams');
    assert.ok(read > 100 && read <= 400, `the responder read ${read} datagrams`);
    assert.equal(delta('cookies_sent') + delta('answer_rate_limited'), read);
    // --udp-per-client 20: a burst of 40, then 20 a second.
    const allowed = 40 + Math.ceil((20 * (sendMs + 1000)) / 1000);
    assert.ok(delta('cookies_sent') >= 40 && delta('cookies_sent') <= allowed, `${delta('cookies_sent')} cookies sent in ${Math.round(sendMs)} ms, at most ${allowed} allowed`);
    assert.ok(cookies <= delta('cookies_sent'), `${cookies} cookies received`);
    assert.ok(delta('answer_rate_limited') >= read - allowed);
    t.diagnostic(`flood: sent 400 in ${Math.round(sendMs)} ms, responder read ${read}, cookies sent ${delta('cookies_sent')}, held back ${delta('answer_rate_limited')}, received ${cookies}`);
    const other = await c.lab.mustExec('victim', [process.execPath, TRAFFIC, 'flood', c.server4, String(PORT), '5'], { timeoutMs: 20_000 });
    assert.equal((JSON.parse(other.stdout) as { cookies: number }).cookies, 5);
  });
});
