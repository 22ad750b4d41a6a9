import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { type CheckerLab, PORT, startCheckerLab } from '../support/checker-lab.js';
import { unescapeHtml } from '../support/html-text.js';
import { needsRoot } from '../support/root.js';

/** A healthy path: ICMP and fragments get through. `nodf` has path MTU discovery off (IPv4). */
/** The status line and headers of an answer that curl printed with -D - (header names in lower case). */
function answerHead(stdout: string): { status: number; headers: Map<string, string>; body: string } {
  const [head = '', ...body] = stdout.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = new Map(lines.map((l): [string, string] => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body: body.join('\r\n\r\n') };
}

describe('checker service on a healthy path', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;
  const started = new Date();

  before(async () => {
    c = await startCheckerLab({
      name: 'chk-healthy',
      clients: [{ name: 'client' }, { name: 'nodf', sysctls: { 'net.ipv4.ip_no_pmtu_disc': '1' } }],
    });
    // Real kernels merge segments (GRO) and build super-packets (TSO/GSO): the engine must see wire-sized packets.
    await c.lab.mustExec('server', ['ethtool', '-K', 'eth1', 'gro', 'on', 'tso', 'on', 'gso', 'on']);
    await c.lab.mustExec('client', ['ethtool', '-K', 'eth1', 'tso', 'on', 'gso', 'on']);
    // A typical server firewall: connection tracking on, which reassembles fragments at LOCAL_OUT and refragments.
    for (const tool of ['iptables', 'ip6tables']) {
      for (const chain of ['INPUT', 'OUTPUT']) await c.lab.mustExec('server', [tool, '-A', chain, '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP']);
    }
    serve = await c.serve();
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  it('IPv4 /icmp with the article\'s curl command: pass, and the route cache holds mtu 905 until flushed', async () => {
    const r = await c.curl('client', [c.url(4, '/icmp'), '--data', `@${c.payloadFile}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\nRESULT: pass\n$/);
    assert.match(r.stdout, /Verdict: pass\. Your host received our ICMP "fragmentation needed"/);
    assert.match(r.stdout, /MSS announced by the client\s+1460\n/);
    assert.match(r.stdout, /largest packet from the client\s+1500 bytes/);
    assert.match(r.stdout, /Packet Too Big messages sent\s+[1-9]/);
    const route = await c.lab.mustExec('client', ['ip', 'route', 'get', c.server4]);
    assert.match(route.stdout, /mtu 905/);
    await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
    assert.doesNotMatch((await c.lab.mustExec('client', ['ip', 'route', 'get', c.server4])).stdout, /mtu/);
  });

  it('IPv6 /icmp as JSON: pass with the evidence docs/verdicts.md asks for, and the route cache holds mtu 1280', async () => {
    const { result } = await c.icmpJson('client', 6);
    assert.equal(result.test, 'icmp');
    assert.equal(result.verdict, 'pass');
    const e = result.evidence;
    assert.equal(e.family, 'ipv6');
    assert.equal(e.clientAddress, c.lab.address('client', 6));
    assert.equal(e.serverAddress, c.server6);
    assert.equal(e.serverPort, PORT);
    assert.equal(e.clientMss, 1440);
    assert.equal(e.largestClientPacket, 1500);
    assert.equal(e.testMtu, 1280);
    // The kernel answers a packet the server received as one (GRO here) once, as the kernel's own router does.
    assert.ok(e.oversizedPackets >= 1 && e.packetTooBigSent >= 1 && e.packetTooBigSent <= e.oversizedPackets, JSON.stringify(e));
    assert.ok(e.reactionMs !== null && e.reactionMs < 1000, JSON.stringify(e));
    assert.ok(e.largestPacketAfterReaction !== null && e.largestPacketAfterReaction <= 1280 && e.largestPacketAfterReaction > 1200, JSON.stringify(e));
    assert.ok(e.durationMs >= 0);
    const route = await c.lab.mustExec('client', ['ip', '-6', 'route', 'get', c.server6]);
    assert.match(route.stdout, /mtu 1280/);
    await c.lab.mustExec('client', ['ip', '-6', 'route', 'flush', 'cache']);
  });

  it('a second /icmp while the lowered MTU is cached is inconclusive: nothing larger than the test MTU is sent', async () => {
    const first = await c.icmpJson('client', 4);
    assert.equal(first.result.verdict, 'pass');
    const second = await c.icmpJson('client', 4);
    assert.equal(second.result.verdict, 'inconclusive');
    assert.ok(second.result.evidence.largestClientPacket <= 905, JSON.stringify(second.result.evidence));
    await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
  });

  it('a client without path MTU discovery (no DF): no-df', async () => {
    const { result } = await c.icmpJson('nodf', 4);
    assert.equal(result.verdict, 'no-df');
    assert.ok(result.evidence.oversizedWithoutDf > 0);
    assert.equal(result.evidence.packetTooBigSent, 0);
  });

  it('/frag over both families: pass, after a response of at least 4 KB sent as fragments', async () => {
    const text = await c.curl('client', [c.url(4, '/frag'), '-o', '-']);
    assert.equal(text.code, 0, text.stderr);
    assert.ok(text.stdout.length > 4096);
    assert.match(text.stdout, /\nRESULT: pass\n$/);
    const { result, padding } = await c.fragJson('client', 6);
    assert.equal(result.verdict, 'pass');
    assert.ok(padding >= 4096);
    assert.ok(result.evidence.fragmentsSent >= 2 * result.evidence.segmentsFragmented && result.evidence.segmentsFragmented > 0);
    assert.equal(result.evidence.testMtu, 1280);
    const viaAccept = await c.curl('client', [c.url(4, '/frag'), '-H', 'Accept: application/json']);
    assert.equal((JSON.parse(viaAccept.stdout) as { verdict: string }).verdict, 'pass');
  });

  it('fragments really travel as fragments: a capture on the client shows them', async () => {
    const dump = c.lab.spawn('client', ['tcpdump', '-vni', 'eth1', '-c', '4', '-l', `src ${c.server4} and (ip[6:2] & 0x3fff) != 0`]);
    await dump.waitForOutput(/listening on/, 10_000);
    const { result } = await c.fragJson('client', 4);
    assert.equal(result.verdict, 'pass');
    await dump.waitForOutput(/(.*\n){4}/, 10_000);
    await dump.stop('SIGTERM');
    assert.match(dump.stdout, /flags \[\+\]/);
    assert.match(dump.stdout, /offset [1-9]\d*, flags/);
    for (const m of dump.stdout.matchAll(/, length (\d+)\)/g)) assert.ok(Number(m[1]) <= 576, `a fragment of ${m[1]} bytes`);
  });

  it('stores every run: /api/results and the summary page', async () => {
    const r = await c.curl('client', [c.url(4, '/api/results?limit=100')]);
    const body = JSON.parse(r.stdout) as { results: { test: string; verdict: string; family: string; clientAddress: string }[] };
    const seen = new Set(body.results.map((x) => `${x.test}/${x.family}/${x.verdict}`));
    for (const k of ['icmp/ipv4/pass', 'icmp/ipv6/pass', 'icmp/ipv4/inconclusive', 'icmp/ipv4/no-df', 'frag/ipv4/pass', 'frag/ipv6/pass']) {
      assert.ok(seen.has(k), `${k} missing from ${[...seen].join(', ')}`);
    }
    const filtered = JSON.parse((await c.curl('client', [c.url(4, '/api/results?test=frag')])).stdout) as { results: { test: string }[] };
    assert.ok(filtered.results.length >= 3 && filtered.results.every((x) => x.test === 'frag'));
    const bad = await c.curl('client', ['-w', '%{http_code}', c.url(4, '/api/results?limit=0')]);
    assert.match(bad.stdout, /limit.*400$/s);
    const page = await c.curl('client', [c.url(6, '/results')]);
    assert.match(page.stdout, /<title>mtuscope results<\/title>/);
    assert.match(page.stdout, /no-df/);
  });

  it('refuses bad requests with a clear error', async () => {
    const get = await c.curl('client', ['-w', '\n%{http_code}', c.url(4, '/icmp')]);
    assert.match(get.stdout, /POST a body of at least 4096 bytes.*\n405$/s);
    const small = await c.curl('client', ['-w', '\n%{http_code}', c.url(4, '/icmp'), '--data', 'tiny']);
    assert.match(small.stdout, /the body has 4 bytes; the test needs at least 4096.*\n400$/s);
    const missing = await c.curl('client', ['-w', '\n%{http_code}', c.url(6, '/nope')]);
    assert.match(missing.stdout, /no such page: \/nope.*\n404$/s);
    const stats = JSON.parse((await c.curl('client', [c.url(4, '/api/stats')])).stdout) as { counters: { packets: number; malformed: number } };
    assert.ok(stats.counters.packets > 0);
  });

  it('serves the page, its script as a revalidated asset, and an empty favicon', async () => {
    const page = await c.curl('client', [c.url(4, '/')]);
    assert.match(page.stdout, /<script type="module" src="\/page\.js"><\/script>/);
    const script = answerHead((await c.curl('client', ['-D', '-', c.url(4, '/page.js')])).stdout);
    assert.equal(script.status, 200);
    assert.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(script.headers.get('cache-control'), 'no-cache');
    assert.equal(script.headers.get('x-content-type-options'), 'nosniff');
    assert.match(script.body, /checker-config/);
    const etag = script.headers.get('etag');
    assert.match(etag ?? '', /^"[\w-]+"$/);
    const unchanged = answerHead((await c.curl('client', ['-D', '-', '-H', `If-None-Match: ${etag}`, c.url(6, '/page.js')])).stdout);
    assert.equal(unchanged.status, 304);
    assert.equal(unchanged.body, '');
    const other = answerHead((await c.curl('client', ['-D', '-', '-H', 'If-None-Match: "another-build"', c.url(4, '/page.js')])).stdout);
    assert.equal(other.status, 200);
    const icon = await c.curl('client', ['-w', '%{http_code}', c.url(4, '/favicon.ico')]);
    assert.equal(icon.stdout, '204');
  });

  it("the page's commands without a browser work as shown: each prints its report and RESULT line", async () => {
    const html = (await c.curl('client', [c.url(4, '/')])).stdout;
    const block = /<h2>Without a browser<\/h2>[^]*?<pre><code>([^]*?)<\/code><\/pre>/.exec(html)?.[1];
    assert.ok(block !== undefined, 'no commands on the page');
    const commands = unescapeHtml(block);
    assert.equal(commands.match(/\/frag/g)?.length, 2, commands);
    const r = await c.lab.exec('client', ['bash', '-ec', `cd ${c.dir}\n${commands}`], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    // Per family /icmp, /frag and /download; a healthy 1500-byte path is "clear" for /download.
    assert.deepEqual(r.stdout.match(/^RESULT: .*$/gm), ['RESULT: pass', 'RESULT: pass', 'RESULT: clear', 'RESULT: pass', 'RESULT: pass', 'RESULT: clear']);
    assert.equal(r.stdout.match(/^mtuscope IP fragmentation test \(IPv[46]\), started/gm)?.length, 2);
    assert.equal(r.stdout.match(/^mtuscope download path MTU test \(IPv[46]\), started/gm)?.length, 2);
    assert.doesNotMatch(r.stdout, /padding|reaches you as IP fragments/, 'the /frag and /download padding is skipped');
    await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
    await c.lab.mustExec('client', ['ip', '-6', 'route', 'flush', 'cache']);
  });

  it('logs one line per test: time, client, test, verdict, status and duration', async () => {
    const stored = JSON.parse((await c.curl('client', [c.url(4, '/api/results?limit=1000')])).stdout) as { results: unknown[] };
    const line = /^mtuscope serve: (\S+) client=(\S+) test=(icmp|frag|download) verdict=(\S+) status=(\S+) duration=(\d+)ms$/;
    const testLines = (): string[] => serve.stderr.split('\n').filter((l) => l.includes(' test='));
    // A test's line is written once its connection closed, which can be just after its client saw the answer.
    for (let i = 0; i < 50 && testLines().filter((l) => !l.includes(' verdict=none ')).length < stored.results.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const logged = testLines().map((l) => {
      const m = line.exec(l);
      assert.ok(m, `not a test line: ${l}`);
      const [, time = '', client, test, verdict, status, duration] = m;
      assert.ok(new Date(time) >= started && new Date(time) <= new Date(), time);
      return { client, test, verdict, status, duration: Number(duration) };
    });
    const client4 = c.lab.address('client', 4);
    const has = (client: string, test: string, verdict: string, status: string): boolean =>
      logged.some((l) => l.client === client && l.test === test && l.verdict === verdict && l.status === status);
    assert.ok(has(client4, 'icmp', 'pass', '200'));
    assert.ok(has(c.lab.address('client', 6), 'frag', 'pass', '200'));
    assert.ok(has(c.lab.address('nodf', 4), 'icmp', 'no-df', '200'));
    assert.ok(has(client4, 'icmp', 'none', '400'), 'the test with a body too small to test');
    assert.ok(logged.every((l) => l.duration < 60_000));
    assert.ok(logged.some((l) => l.test === 'frag' && l.duration > 0));
    // Each stored run was logged, and nothing that was no test (the GET /icmp answered 405, the page, the API).
    assert.equal(logged.filter((l) => l.verdict !== 'none').length, stored.results.length);
    assert.deepEqual(logged.filter((l) => l.verdict === 'none').map((l) => l.status), ['400']);
  });
});
