/**
 * `probe --server-test` against real kernels, both families, in the anycast farm of the ecmp-ptb scenarios with a
 * 1500-byte link toward the client (so the only Packet Too Big on the way are the test's own):
 *
 *   c -- rc -- r --+-- s1 (lo ANYCAST)      r: L4-hashing ECMP router
 *                  +-- s2 (lo ANYCAST)
 *
 * The test runs in c. Against s1's own address (no ECMP): a Linux server honours Packet Too Big (with its reaction
 * time); with s1's firewall dropping incoming Packet Too Big it is a black hole; a small object cannot tell. The same
 * over HTTPS (s1 also serves HTTPS with a self-signed certificate made for the run; two servers: an RSA certificate
 * whose handshake flight is itself full size, and a small ECDSA one whose handshake fits, so the body's packets are
 * the ones answered), and an https URL on the plain HTTP port is a failed connection, never a verdict. Against
 * the anycast address: r hashes the client's Packet Too Big on its own header, so every message reaches one server
 * and the connections on the other are reported as ignoring it; with `mtuscope relay` in owner mode on r, all honour it.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { PACKET_TOO_BIG_MATCH } from '../../src/host/iptables-matches.js';
import { startLab } from '../../src/lab/lab.js';
import type { RunningLab } from '../../src/lab/running-lab.js';
import { ANYCAST, ecmpPtbFarmSpec, SERVERS } from '../../src/lab/scenarios/ecmp-ptb-farm.js';
import { interfaceToward } from '../../src/lab/scenarios/support.js';
import { DEFAULT_HTTP_PORT, startHttpServer, type HttpServer } from '../../src/lab/traffic/http-server.js';
import { startLabRelay } from '../../src/lab/traffic/relay.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import type { ServerTestJson } from '../../src/probe/server-test-report.js';
import { SERVER_TEST_CHAIN } from '../../src/probe/server-test-rules.js';
import { needsRoot } from '../support/root.js';
import { makeSelfSignedCert, type SelfSignedCert } from '../support/self-signed-cert.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const FAMILIES = [4, 6] as const;
/** Large enough for many full-size segments; each download is cut short once its verdict is settled. */
const BIG = 2_000_000;
/** s1's HTTPS servers: one with an RSA certificate, one with an ECDSA one. */
const HTTPS_PORT = { rsa: 8443, ec: 8444 } as const;

interface Run {
  readonly code: number | null;
  readonly report: ServerTestJson;
  readonly stdout: string;
  readonly stderr: string;
}

type Connection = ServerTestJson['families'][number]['connections'][number] & {
  readonly localPort: number | null;
  readonly verdict: string;
  readonly reason: string | null;
  readonly reactionMs: number | null;
  readonly ptbMtu: number;
  readonly detail: string;
  readonly durationMs: number;
  readonly http: { readonly status: number | null; readonly bytes: number; readonly error: string | null; readonly cutShort: boolean; readonly tlsCompleted: boolean | null };
  readonly evidence: { readonly largestSmallerResend: number | null; readonly packetTooBigSent: number; readonly fullSizeRetransmissions: number; readonly largestPacket: number };
};

function connections(run: Run, family: IpFamily): Connection[] {
  const f = run.report.families.find((x) => x.family === `ipv${family}`);
  assert.ok(f, `IPv${family} tested: ${run.stdout}`);
  return f.connections as Connection[];
}

describe('probe --server-test in a lab: does the server honour Packet Too Big?', needsRoot(), () => {
  let lab: RunningLab;
  let servers: HttpServer[] = [];
  let httpsServers: HttpServer[] = [];
  let certs: SelfSignedCert[] = [];

  const url = (host: string, family: IpFamily, bytes = BIG, scheme = 'http', port: number = DEFAULT_HTTP_PORT): string =>
    `${scheme}://${family === 6 ? `[${host}]` : host}:${port}/?bytes=${bytes}`;
  const s1 = (family: IpFamily): string => lab.address('s1', family, interfaceToward(lab, 's1', 'r'));

  async function probe(target: string, family: IpFamily, args: readonly string[] = []): Promise<Run> {
    const r = await lab.exec('c', [process.execPath, CLI, 'probe', '--server-test', target, `-${family}`, '--json', '--reaction-window', '3', ...args], { timeoutMs: 90_000 });
    let report: ServerTestJson;
    try {
      report = JSON.parse(r.stdout) as ServerTestJson;
    } catch {
      throw new Error(`not JSON (exit ${r.code}): ${r.stdout} ${r.stderr}`);
    }
    return { code: r.code, report, stdout: r.stdout, stderr: r.stderr };
  }

  async function forgetPathMtus(): Promise<void> {
    for (const s of SERVERS) {
      await lab.mustExec(s, ['ip', '-4', 'route', 'flush', 'cache']);
      await lab.mustExec(s, ['ip', '-6', 'route', 'flush', 'cache']);
    }
  }

  /** Which server accepted the connection from c's port, by the servers' logs. */
  const carrier = (family: IpFamily, port: number | null): string | undefined => {
    const ofFamily = (a: string): boolean => (family === 4 ? a.startsWith('::ffff:') : !a.startsWith('::ffff:'));
    return servers.find((s) => s.connections().some((c) => c.remotePort === port && ofFamily(c.remoteAddress)))?.node;
  };

  before(async () => {
    const spec = ecmpPtbFarmSpec('srvtest');
    // A 1500-byte link toward the client: the only Packet Too Big on the way are the test's own.
    lab = await startLab({ ...spec, links: spec.links.map((l) => ({ ...l, endpoints: l.endpoints.map(({ mtu: _mtu, ...e }) => e) as unknown as typeof l.endpoints })) });
    servers = await Promise.all(SERVERS.map((s) => startHttpServer(lab, s)));
    certs = await Promise.all([makeSelfSignedCert('rsa'), makeSelfSignedCert('ec')]);
    httpsServers = await Promise.all([startHttpServer(lab, 's1', HTTPS_PORT.rsa, certs[0]), startHttpServer(lab, 's1', HTTPS_PORT.ec, certs[1])]);
  });
  after(async () => {
    await Promise.all([...servers, ...httpsServers].map((s) => s.stop()));
    await lab?.destroy();
    await Promise.all(certs.map((c) => c.remove()));
  });

  it('a Linux server honours it: every connection re-sends in packets that fit, within a few ms, and exit status 0', async (t) => {
    await forgetPathMtus();
    for (const family of FAMILIES) {
      const run = await probe(url(s1(family), family), family, ['--connections', '3']);
      t.diagnostic(`IPv${family}: ${connections(run, family).map((c) => `${c.ptbMtu} ${c.verdict} ${c.reactionMs} ms`).join('; ')}`);
      assert.equal(run.code, 0, run.stdout);
      const cs = connections(run, family);
      assert.deepEqual(cs.map((c) => c.ptbMtu), [1296, 1288, 1280]);
      for (const [i, c] of cs.entries()) {
        assert.equal(c.verdict, 'honoured', JSON.stringify(c));
        assert.ok(c.reactionMs !== null && c.reactionMs > 0 && c.reactionMs < 500, `reaction ${c.reactionMs} ms`);
        assert.ok(c.evidence.largestSmallerResend !== null && c.evidence.largestSmallerResend <= c.ptbMtu && c.evidence.largestSmallerResend > c.ptbMtu - 60, JSON.stringify(c.evidence));
        // The server remembers what each connection taught it: the next one starts at that size.
        assert.equal(c.evidence.largestPacket, i === 0 ? 1500 : cs[i - 1]!.ptbMtu, JSON.stringify(c.evidence));
      }
      assert.equal(run.report.findings[0]?.code, 'server-honours-ptb');
    }
    const left = await lab.mustExec('c', ['iptables-save']);
    const left6 = await lab.mustExec('c', ['ip6tables-save']);
    assert.doesNotMatch(left.stdout + left6.stdout, new RegExp(SERVER_TEST_CHAIN), 'its rules are gone');
  });

  it('a small object cannot tell: no packet bigger than the test MTU, and no Packet Too Big sent', async () => {
    for (const family of FAMILIES) {
      const run = await probe(url(s1(family), family, 600), family, ['--connections', '1']);
      assert.equal(run.code, 0, run.stdout);
      const [c] = connections(run, family);
      assert.equal(c?.verdict, 'cannot-tell');
      assert.equal(c?.reason, 'no-full-size');
      assert.equal(c?.evidence.packetTooBigSent, 0);
      assert.equal(run.report.findings[0]?.code, 'server-test-cannot-tell');
    }
  });

  /** Two connections to `target` while s1's INPUT drops every incoming Packet Too Big (the rule goes afterwards). */
  async function probeWithServerDroppingPtb(family: IpFamily, target: string): Promise<Run> {
    const tool = family === 4 ? 'iptables' : 'ip6tables';
    const rule = ['INPUT', ...PACKET_TOO_BIG_MATCH[family], '-j', 'DROP'];
    await lab.mustExec('s1', [tool, '-w', '-I', ...rule]);
    try {
      return await probe(target, family, ['--connections', '2']);
    } finally {
      await lab.mustExec('s1', [tool, '-w', '-D', ...rule]);
    }
  }

  it('with the server\'s firewall dropping incoming Packet Too Big: a black hole, full-size re-sends, exit status 1', async (t) => {
    await forgetPathMtus();
    for (const family of FAMILIES) {
      const run = await probeWithServerDroppingPtb(family, url(s1(family), family));
      t.diagnostic(`IPv${family}: ${connections(run, family).map((c) => `${c.verdict} after ${c.evidence.fullSizeRetransmissions} full-size re-sends`).join('; ')}`);
      assert.equal(run.code, 1, run.stdout);
      for (const c of connections(run, family)) {
        assert.equal(c.verdict, 'ignored', JSON.stringify(c));
        assert.ok(c.evidence.fullSizeRetransmissions >= 1);
        assert.equal(c.evidence.largestPacket, 1500);
      }
      assert.equal(run.report.findings[0]?.code, 'server-ignores-ptb');
    }
  });

  const httpsUrl = (family: IpFamily, port: number, bytes = BIG): string => url(s1(family), family, bytes, 'https', port);

  it('over HTTPS, a Linux server honours it: the TLS handshake\'s full-size flight is re-sent in packets that fit, exit status 0', async (t) => {
    await forgetPathMtus();
    for (const family of FAMILIES) {
      const run = await probe(httpsUrl(family, HTTPS_PORT.rsa), family, ['--connections', '2']);
      const cs = connections(run, family);
      t.diagnostic(`IPv${family}: ${cs.map((c) => `${c.ptbMtu} ${c.verdict} ${c.reactionMs} ms`).join('; ')}`);
      assert.equal(run.code, 0, run.stdout);
      assert.equal(run.stderr, '', 'no warning (e.g. about TLS server names for an address)');
      assert.deepEqual(cs.map((c) => c.ptbMtu), [1288, 1280]);
      for (const [i, c] of cs.entries()) {
        assert.equal(c.verdict, 'honoured', JSON.stringify(c));
        assert.ok(c.reactionMs !== null && c.reactionMs > 0 && c.reactionMs < 500, `reaction ${c.reactionMs} ms`);
        assert.ok(c.evidence.largestSmallerResend !== null && c.evidence.largestSmallerResend <= c.ptbMtu, JSON.stringify(c.evidence));
        // The server's first flight (certificate and all, about 1.7 KB) starts with a packet bigger than the test MTU;
        // the next connection's with one of the size the one before taught it.
        if (i === 0) assert.ok(c.evidence.largestPacket > c.ptbMtu, JSON.stringify(c.evidence));
        else assert.equal(c.evidence.largestPacket, cs[i - 1]!.ptbMtu, JSON.stringify(c.evidence));
        assert.equal(c.http.tlsCompleted, false, 'settled on the handshake\'s own packets');
      }
      assert.equal(run.report.findings[0]?.code, 'server-honours-ptb');
    }
  });

  it('over HTTPS with a small certificate, the handshake completes and the body\'s packets are the ones answered: honoured', async (t) => {
    await forgetPathMtus();
    const https = httpsServers[1]!;
    for (const family of FAMILIES) {
      const run = await probe(httpsUrl(family, HTTPS_PORT.ec), family, ['--connections', '1']);
      const [c] = connections(run, family);
      t.diagnostic(`IPv${family}: ${c?.verdict} ${c?.reactionMs} ms, ${JSON.stringify(c?.http)}`);
      assert.equal(run.code, 0, run.stdout);
      assert.equal(c?.verdict, 'honoured', JSON.stringify(c));
      assert.equal(c.evidence.largestPacket, 1500);
      assert.equal(c.http.tlsCompleted, true);
      // The server read the request, so the TLS handshake had completed before the first full-size packet.
      assert.ok(https.completedPorts().includes(c.localPort!), `request of port ${c.localPort} served: ${https.process.stdout}`);
    }
  });

  it('over HTTPS with the server\'s firewall dropping incoming Packet Too Big: a black hole, exit status 1', async (t) => {
    await forgetPathMtus();
    for (const family of FAMILIES) {
      const run = await probeWithServerDroppingPtb(family, httpsUrl(family, HTTPS_PORT.rsa));
      const cs = connections(run, family);
      t.diagnostic(`IPv${family}: ${cs.map((c) => `${c.verdict} after ${c.evidence.fullSizeRetransmissions} full-size re-sends, ${c.durationMs} ms`).join('; ')}`);
      assert.equal(run.code, 1, run.stdout);
      for (const c of cs) {
        assert.equal(c.verdict, 'ignored', JSON.stringify(c));
        assert.ok(c.evidence.fullSizeRetransmissions >= 1);
        assert.ok(c.evidence.largestPacket > c.ptbMtu, JSON.stringify(c.evidence));
        assert.equal(c.http.tlsCompleted, false, 'the handshake stalls, as for any client behind a smaller link');
      }
      assert.equal(run.report.findings[0]?.code, 'server-ignores-ptb');
    }
  });

  it('an https URL on the plain HTTP port: the TLS handshake fails, "cannot tell: connection failed", never a verdict', async (t) => {
    for (const family of FAMILIES) {
      const run = await probe(url(s1(family), family, BIG, 'https', DEFAULT_HTTP_PORT), family, ['--connections', '1']);
      const [c] = connections(run, family);
      t.diagnostic(`IPv${family}: ${c?.detail}`);
      assert.equal(run.code, 0, run.stdout);
      assert.equal(c?.verdict, 'cannot-tell', JSON.stringify(c));
      assert.equal(c.reason, 'connection-failed', JSON.stringify(c));
      assert.equal(c.evidence.packetTooBigSent, 0);
      assert.match(c.detail, /^cannot tell: the download failed before any packet bigger than 1280 bytes came \(1 data packet, .*\): TLS handshake failed: the answer is not TLS \(wrong version number\)$/);
      assert.equal(c.http.tlsCompleted, false);
      assert.equal(run.report.findings[0]?.code, 'server-test-cannot-tell');
    }
  });

  it('an http URL on the HTTPS port: the server ends the connection, "cannot tell: connection failed"', async (t) => {
    for (const family of FAMILIES) {
      const run = await probe(url(s1(family), family, BIG, 'http', HTTPS_PORT.rsa), family, ['--connections', '1']);
      const [c] = connections(run, family);
      t.diagnostic(`IPv${family}: ${c?.detail}`);
      assert.equal(run.code, 0, run.stdout);
      assert.equal(c?.verdict, 'cannot-tell', JSON.stringify(c));
      assert.equal(c.reason, 'connection-failed', JSON.stringify(c));
      assert.equal(c.http.tlsCompleted, null);
    }
  });

  /** The anycast address's connections, each with the server that carried it; checks that both servers did. */
  async function anycastRun(family: IpFamily, t: { diagnostic(s: string): void }): Promise<{ run: Run; carried: { c: Connection; server: string | undefined }[] }> {
    for (let attempt = 0; ; attempt++) {
      await forgetPathMtus();
      const run = await probe(url(ANYCAST[family], family), family, ['--connections', '8']);
      const carried = connections(run, family).map((c) => ({ c, server: carrier(family, c.localPort) }));
      t.diagnostic(`IPv${family}: ${carried.map(({ c, server }) => `${server} ${c.verdict}`).join(', ')}`);
      if (SERVERS.every((s) => carried.some((x) => x.server === s)) || attempt === 2) return { run, carried };
    }
  }

  it('behind the L4-hashing ECMP router: the connections on one server honour it, those on the other ignore it', async (t) => {
    for (const family of FAMILIES) {
      const { run, carried } = await anycastRun(family, t);
      assert.equal(run.code, 1, run.stdout);
      const honouring = new Set(carried.filter((x) => x.c.verdict === 'honoured').map((x) => x.server));
      const ignoring = new Set(carried.filter((x) => x.c.verdict === 'ignored').map((x) => x.server));
      assert.equal(honouring.size, 1, 'one server gets every Packet Too Big');
      assert.equal(ignoring.size, 1, 'the other none');
      assert.notDeepEqual([...honouring], [...ignoring]);
      assert.equal(carried.filter((x) => x.c.verdict === 'cannot-tell').length, 0);
      assert.equal(run.report.findings[0]?.code, 'server-ptb-partly-ignored');
    }
  });

  it('with `mtuscope relay` in owner mode on r: every connection, on either server, honours it', async (t) => {
    const relay = await startLabRelay(lab, 'r', ['--mode', 'owner', '--served', ANYCAST[4], '--served', ANYCAST[6]]);
    const runs: { family: IpFamily; run: Run; carried: { c: Connection; server: string | undefined }[] }[] = [];
    try {
      for (const family of FAMILIES) runs.push({ family, ...(await anycastRun(family, t)) });
    } finally {
      const stopped = await relay.stop();
      t.diagnostic(`relay: ${JSON.stringify(stopped.summary)}`);
    }
    for (const { family, run, carried } of runs) {
      assert.equal(run.code, 0, run.stdout);
      assert.ok(SERVERS.every((s) => carried.some((x) => x.server === s)), `IPv${family}: both servers carried connections`);
      for (const { c } of carried) assert.equal(c.verdict, 'honoured', JSON.stringify(c));
      assert.equal(run.report.findings[0]?.code, 'server-honours-ptb');
    }
  });
});
