import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { put16 } from '../../src/packet/bytes.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { emitIpv4 } from '../../src/packet/ipv4.js';
import { emitIpv6 } from '../../src/packet/ipv6.js';
import { type CheckerLab, PORT, startCheckerLab } from '../support/checker-lab.js';
import { mtuscope } from '../support/cli.js';
import { RawInjector } from '../support/raw-inject.js';
import { needsRoot } from '../support/root.js';

async function rules(c: CheckerLab): Promise<string> {
  const v4 = await c.lab.mustExec('server', ['iptables-save']);
  const v6 = await c.lab.mustExec('server', ['ip6tables-save']);
  return v4.stdout + v6.stdout;
}

/** Runs `mtuscope` in the server's namespace, through `through` (e.g. setpriv) if given. */
function inServer(c: CheckerLab, ...through: string[]): { prefix: string[] } {
  return { prefix: ['ip', 'netns', 'exec', c.lab.namespace('server'), ...through] };
}

/** The harness of `mtuscope serve` whose report renderer fails the first N times. */
const FAILING_RENDERER_SERVICE = fileURLToPath(new URL('../support/failing-renderer-service.js', import.meta.url));

/** A 20-byte TCP header whose data offset claims 60 bytes: the kernel's IP layer passes it, our parser must not choke. */
function badTcp(srcPort: number): Uint8Array {
  const t = new Uint8Array(20);
  put16(t, 0, srcPort);
  put16(t, 2, PORT);
  t[12] = 0xf0;
  t[13] = 0x10;
  return t;
}

describe('checker service lifecycle: rules, restarts, privileges, hostile packets', needsRoot(), () => {
  let c: CheckerLab;

  before(async () => {
    c = await startCheckerLab({ name: 'chk-life', clients: [{ name: 'client' }] });
  });
  after(async () => {
    await c?.destroy();
  });

  it('installs NFQUEUE rules for its port while serving and removes them on SIGTERM and SIGINT', async () => {
    const before = await rules(c);
    assert.doesNotMatch(before, /NFQUEUE/);
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const serve = await c.serve();
      const during = await rules(c);
      assert.match(during, new RegExp(`--dport ${PORT} .*-j NFQUEUE --queue-num ${PORT} --queue-bypass`));
      assert.match(during, new RegExp(`--sport ${PORT} .*-j NFQUEUE --queue-num ${PORT} --queue-bypass`));
      assert.match(during, /mtuscope pid=\d+/);
      const end = await serve.stop(signal);
      assert.equal(end.code, 0, serve.stderr);
      assert.equal(serve.running, false);
      assert.doesNotMatch(await rules(c), /NFQUEUE|MTUSCOPE/, `rules left after ${signal}`);
      // Neither the service nor its engine process is left in the server's namespace.
      const pids = spawnSync('ip', ['netns', 'pids', c.lab.namespace('server')], { encoding: 'utf8' }).stdout.trim();
      assert.equal(pids, '', `processes left in the server namespace after ${signal}: ${pids}`);
    }
  });

  it('a killed engine ends the service with status 1, and the service removes the rules the engine left; results survive', async () => {
    const first = await c.serve([], 'restart.sqlite');
    const { result } = await c.icmpJson('client', 4);
    assert.equal(result.verdict, 'pass');
    const stats = JSON.parse((await c.curl('client', [c.url(4, '/api/stats')])).stdout) as { pid: number };
    assert.match(await rules(c), new RegExp(`mtuscope pid=${stats.pid} `));
    process.kill(stats.pid, 'SIGKILL');
    await first.waitForOutput(new RegExp(`the packet engine \\(pid ${stats.pid}\\) was killed by SIGKILL: stopping`), 10_000);
    for (let i = 0; i < 50 && first.running; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(first.running, false, 'the service ends when its engine dies');
    assert.equal((await first.stop()).code, 1);
    assert.match(first.stderr, new RegExp(`removed the firewall rules the packet engine \\(pid ${stats.pid}\\) left when it was killed by SIGKILL`));
    assert.doesNotMatch(await rules(c), /NFQUEUE|MTUSCOPE/, 'no rule of the service is left (iptables-save, ip6tables-save)');
    const pids = spawnSync('ip', ['netns', 'pids', c.lab.namespace('server')], { encoding: 'utf8' }).stdout.trim();
    assert.equal(pids, '', `processes left in the server namespace: ${pids}`);
    // The next start finds nothing to replace, and the run before the kill is stored.
    const second = await c.serve([], 'restart.sqlite');
    assert.doesNotMatch(second.stderr, /replaced the firewall rules/);
    const stored = JSON.parse((await c.curl('client', [c.url(4, '/api/results')])).stdout) as { results: { verdict: string; result: { evidence: { clientPort: number } } }[] };
    assert.ok(stored.results.some((r) => r.result.evidence.clientPort === result.evidence.clientPort), 'the run before the kill is stored');
    await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
    assert.equal((await c.icmpJson('client', 4)).result.verdict, 'pass');
    // SIGKILL of the service itself: its engine notices the closed channel, removes the rules and exits.
    await second.stop('SIGKILL');
    for (let i = 0; i < 50 && /NFQUEUE/.test(await rules(c)); i++) await new Promise((r) => setTimeout(r, 100));
    assert.doesNotMatch(await rules(c), /NFQUEUE|MTUSCOPE/);
    await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
  });

  it('rules of a run killed whole (service and engine) are replaced by the next start, which says so', async () => {
    const first = await c.serve([], 'whole.sqlite');
    const stats = JSON.parse((await c.curl('client', [c.url(4, '/api/stats')])).stdout) as { pid: number };
    // Stopped first, so that the engine cannot notice its service going and clean up.
    process.kill(stats.pid, 'SIGSTOP');
    await first.stop('SIGKILL');
    process.kill(stats.pid, 'SIGKILL');
    for (let i = 0; i < 50 && spawnSync('ip', ['netns', 'pids', c.lab.namespace('server')], { encoding: 'utf8' }).stdout.trim() !== ''; i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(await rules(c), new RegExp(`mtuscope pid=${stats.pid} `), 'nobody was left to remove them');
    // With the owner dead, --queue-bypass keeps the port usable: nothing is queued to a reader that is gone.
    const second = await c.serve([], 'whole.sqlite');
    assert.match(second.stderr, /replaced the firewall rules a previous run for port 8080 left behind/);
    assert.equal((await c.icmpJson('client', 4)).result.verdict, 'pass');
    assert.equal((await second.stop('SIGTERM')).code, 0);
    assert.doesNotMatch(await rules(c), /NFQUEUE|MTUSCOPE/);
    await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
  });

  it('refuses to start without CAP_NET_ADMIN and CAP_NET_RAW, saying so', async () => {
    const r = await mtuscope(['serve', '--store', `${c.dir}/x.sqlite`], inServer(c, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /needs root, or the capabilities CAP_NET_ADMIN and CAP_NET_RAW/);
    const dropped = await mtuscope(['serve', '--store', `${c.dir}/x.sqlite`], inServer(c, 'setpriv', '--inh-caps=-all', '--bounding-set=-net_raw'));
    assert.equal(dropped.code, 1);
    assert.match(dropped.stderr, /lacks CAP_NET_RAW/);
    assert.doesNotMatch(await rules(c), /NFQUEUE/);
  });

  it('names a bad flag and exits 2', async () => {
    const r = await mtuscope(['serve', '--ipv4-mtu', '500'], inServer(c));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^mtuscope serve: --ipv4-mtu: "500" is not an integer from 576 to 9000; see "mtuscope serve --help"$/m);
    const help = await mtuscope(['serve', '--help'], inServer(c));
    assert.equal(help.code, 0);
    for (const flag of ['--listen', '--port', '--ipv4-mtu', '--ipv6-mtu', '--window', '--store', '--truncate-addresses', '--tests-per-client', '--max-concurrent', '--max-body']) {
      assert.ok(help.stdout.includes(flag), `--help documents ${flag}`);
    }
  });

  it('accepts malformed packets in the queue untouched, counts them, and keeps working', async () => {
    const serve = await c.serve();
    const client4 = c.lab.address('client', 4);
    const client6 = c.lab.address('client', 6);
    const v4 = emitIpv4(
      { src: client4, dst: c.server4, protocol: IpProtocol.Tcp, ttl: 64, dscp: 0, ecn: 0, ident: 1, reservedFlag: false, dontFragment: true, moreFragments: false, fragmentOffset: 0, options: new Uint8Array(0), payloadLength: 20 },
      badTcp(40000),
    );
    const v6 = emitIpv6({ src: client6, dst: c.server6, nextHeader: IpProtocol.Tcp, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLength: 20 }, badTcp(40001));
    // A well-formed oversized segment with DF of a connection that never completed a handshake with us (spoofed):
    // answering it would reflect ICMP at whoever owns the address.
    const tcp = new Uint8Array(1480);
    put16(tcp, 0, 5555);
    put16(tcp, 2, PORT);
    tcp[12] = 0x50;
    tcp[13] = 0x10;
    const spoofed = emitIpv4(
      { src: client4, dst: c.server4, protocol: IpProtocol.Tcp, ttl: 64, dscp: 0, ecn: 0, ident: 2, reservedFlag: false, dontFragment: true, moreFragments: false, fragmentOffset: 0, options: new Uint8Array(0), payloadLength: tcp.length },
      tcp,
    );
    const injector = await RawInjector.open(c.lab, { node: 'router', ifname: 'eth1', peerNode: 'server', peerIfname: 'eth1' });
    await injector.send([v4, v6, v4, v6, spoofed, spoofed]);
    const stats = JSON.parse((await c.curl('client', [c.url(4, '/api/stats')])).stdout) as {
      counters: { malformed: number; untracked: number; packetTooBigSent: number };
      lastMalformed: string;
    };
    assert.ok(stats.counters.malformed >= 4, JSON.stringify(stats));
    assert.match(stats.lastMalformed, /^tcp\.data_offset at offset \d+/);
    assert.ok(stats.counters.untracked >= 2, JSON.stringify(stats));
    assert.equal(stats.counters.packetTooBigSent, 0);
    assert.equal((await c.icmpJson('client', 6)).result.verdict, 'pass');
    assert.equal((await serve.stop('SIGTERM')).code, 0);
  });

  it('bounds body size, concurrent tests and tests per client, and closes idle connections', async () => {
    const serve = await c.serve(['--max-body', '5000', '--idle-timeout', '2', '--max-concurrent', '1', '--tests-per-client', '1']);
    try {
      const big = await c.curl('client', ['-w', '\n%{http_code}', c.url(4, '/icmp'), '--data-binary', `@${c.payloadFile}`]);
      assert.match(big.stdout, /larger than 5000 bytes.*\n413$/s);
      // A client that announces a body and then goes quiet holds the only test slot until the idle timeout.
      const t = performance.now();
      const stalled = c.lab.exec(
        'client',
        ['bash', '-c', `exec 3<>/dev/tcp/${c.server4}/${PORT}; printf 'POST /icmp HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 10000\\r\\n\\r\\nabc' >&3; cat <&3; echo closed`],
        { timeoutMs: 20_000 },
      );
      await new Promise((r) => setTimeout(r, 500));
      const busy = await c.curl('client', ['-w', '\n%{http_code}', c.url(4, '/frag')]);
      assert.match(busy.stdout, /tests are running, the most this server runs at once.*\n503$/s);
      const closed = await stalled;
      const waited = performance.now() - t;
      assert.match(closed.stdout, /closed/);
      assert.ok(waited > 1500 && waited < 10_000, `idle connection closed after ${waited} ms`);
      // The per-client budget is a burst of 6 (the page's tests), then 1 a minute; it is counted per address (this is the IPv6 one).
      for (let i = 0; i < 6; i++) assert.match((await c.curl('client', [c.url(6, '/frag')])).stdout, /RESULT: pass\n$/);
      const limited = await c.curl('client', ['-w', '\n%{http_code}', c.url(6, '/frag')]);
      assert.match(limited.stdout, /too many tests from your address.*\n429$/s);
    } finally {
      await serve.stop('SIGTERM');
    }
  });

  it('a request whose handler throws is answered 500, or cut short once its answer began; the service keeps serving', async () => {
    const harness = await c.serveWith([process.execPath, FAILING_RENDERER_SERVICE, '2'], [], 'harness.sqlite');
    try {
      const client4 = c.lab.address('client', 4);
      // An earlier upload may have left the lowered path MTU cached, which would make this test inconclusive.
      await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
      const icmp = await c.curl('client', ['-w', '\n%{http_code}', c.url(4, '/icmp'), '--data-binary', `@${c.payloadFile}`]);
      assert.match(icmp.stdout, /^error: the server failed to answer this request \(it logged why\)\n\n500$/);
      await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
      // /frag sends its padding before the report: a failure after that can only cut the answer short.
      const frag = await c.curl('client', [c.url(4, '/frag')]);
      assert.equal(frag.code, 18, `curl: transfer closed with data outstanding (${frag.stderr})`);
      assert.match(frag.stdout, /^mtuscope: this response reaches you as IP fragments/);
      assert.doesNotMatch(frag.stdout, /RESULT:/);
      assert.ok(harness.running, 'the service survived both failures');
      const next = await c.curl('client', [c.url(4, '/icmp'), '--data-binary', `@${c.payloadFile}`]);
      assert.match(next.stdout, /\nRESULT: pass\n$/, next.stdout);
      assert.match(harness.stderr, new RegExp(`^harness: POST /icmp from ${client4} failed: injected renderer failure$`, 'm'));
      assert.match(harness.stderr, new RegExp(`^harness: GET /frag from ${client4} failed: injected renderer failure$`, 'm'));
      // The log line of each test tells how its answer went; the last one is written once its connection closed.
      await harness.waitForOutput(/test=icmp verdict=pass status=200 /, 5000);
      const tests = harness.stderr.split('\n').filter((l) => / test=/.test(l)).map((l) => l.replace(/^harness: \S+ /, '').replace(/ duration=\d+ms$/, ''));
      assert.deepEqual(tests, [
        `client=${client4} test=icmp verdict=pass status=500`,
        `client=${client4} test=frag verdict=pass status=200-incomplete`,
        `client=${client4} test=icmp verdict=pass status=200`,
      ]);
    } finally {
      await harness.stop('SIGTERM');
      await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
    }
  });
});
