import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DEFAULT_ENGINE_SETTINGS } from '../../src/engine/engine-settings.js';
import type { TestResult } from '../../src/checker/test-result.js';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { type CheckerLab, PORT, startCheckerLab } from '../support/checker-lab.js';
import { needsRoot } from '../support/root.js';

const WINDOW_MS = DEFAULT_ENGINE_SETTINGS.icmpWindowMs;
/** The window, the look that decides a second later, and time for the answer to travel. */
const VERDICT_BOUND_MS = WINDOW_MS + 3000;

/**
 * examples/labs/pmtu-blackhole.yaml as a checker lab: the client's router owns a 1400-byte link toward the server and
 * drops the Packet Too Big it should send (and every other one). The client's full-size packets die before they reach
 * the server; with curl's one write of headers and body, even the request line never arrives, only the small last
 * segment does.
 */
describe('checker service: a client behind a real black hole on its own side', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;

  before(async () => {
    c = await startCheckerLab({ name: 'chk-bhole', router: { dropPacketTooBig: true }, bottleneckMtu: 1400, clients: [{ name: 'plain' }] });
    serve = await c.serve();
  });
  // The server learns the 1400-byte path toward the client from the core router's Packet Too Big for its own answers,
  // and then announces MSS 1360: the client's packets would fit the path and reach the engine. Each test starts fresh.
  beforeEach(async () => {
    await c.lab.mustExec('server', ['ip', 'route', 'flush', 'cache']);
    await c.lab.mustExec('server', ['ip', '-6', 'route', 'flush', 'cache']);
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  it('/icmp: blackhole for both families, within the window plus a few seconds, with what arrived and what did not', async () => {
    const results = await Promise.all(
      ([4, 6] as const).map(async (family) => {
        const t = performance.now();
        const r = await c.curl('plain', [c.url(family, '/icmp'), '--data-binary', `@${c.payloadFile}`], VERDICT_BOUND_MS + 10_000);
        return { family, r, ms: performance.now() - t };
      }),
    );
    for (const { family, r, ms } of results) {
      const what = `IPv${family}: curl exit ${r.code}, ${Math.round(ms)} ms\n${r.stdout}\n${r.stderr}`;
      assert.match(r.stdout, /\nRESULT: blackhole\n$/, what);
      assert.ok(ms >= WINDOW_MS && ms < VERDICT_BOUND_MS, what);
      assert.match(r.stdout, /request line seen +no\n/, what);
      assert.match(r.stdout, /request bytes received in order +0\n/, what);
      // The last segment of the 8 KB upload is the only one small enough to pass the 1400-byte link.
      const seen = /highest request byte that arrived +(\d+)\n/.exec(r.stdout);
      assert.ok(seen !== null && Number(seen[1]) > 8100, what);
      const largest = /largest packet from the client +(\d+) bytes\n/.exec(r.stdout);
      assert.ok(largest !== null && Number(largest[1]) <= 1400 && Number(largest[1]) > 0, what);
      assert.match(r.stdout, /Packet Too Big messages sent +0\n/, what);
      assert.match(r.stdout, /not even the start of your request reached the server/, what);
    }
  });

  it('/icmp: headers first and the body after them (as browsers send it): blackhole in JSON, with the headers received', async () => {
    const answers = await Promise.all(
      ([4, 6] as const).map(async (family) => {
        const host = family === 4 ? c.server4 : c.server6;
        // 5 full-size segments and a last one of 300 bytes, which passes both the link and the test MTU.
        const length = 5 * (family === 4 ? 1448 : 1428) + 300;
        const script = `exec 3<>/dev/tcp/${host}/${PORT}; printf 'POST /icmp?format=json HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: ${length}\\r\\n\\r\\n' >&3; sleep 0.2; head -c ${length} ${c.payloadFile} >&3; cat <&3`;
        const t = performance.now();
        const r = await c.lab.exec('plain', ['bash', '-c', script], { timeoutMs: VERDICT_BOUND_MS + 10_000 });
        return { r, ms: performance.now() - t };
      }),
    );
    for (const { r, ms } of answers) {
      const body = r.stdout.slice(r.stdout.indexOf('{'), r.stdout.lastIndexOf('}') + 1);
      const result = JSON.parse(body) as TestResult;
      const stall = result.evidence.requestStall;
      assert.equal(result.verdict, 'blackhole', body);
      assert.ok(stall !== undefined && stall.requestLineSeen && stall.bytesReceived > 40 && stall.bytesReceived < 200 && stall.bytesSeen > stall.bytesReceived + 7000, body);
      assert.equal(result.evidence.packetTooBigSent, 0, body);
      assert.match(result.explanation, /^In \d+ s only the first \d+ bytes of your request reached the server in order, although later bytes/);
      assert.ok(ms >= WINDOW_MS && ms < VERDICT_BOUND_MS, `${ms} ms`);
    }
  });

  it('/icmp: a client that stops sending part-way, in packets that pass, is inconclusive, not blackhole', async () => {
    const answers = await Promise.all(
      ([4, 6] as const).map(async (family) => {
        const host = family === 4 ? c.server4 : c.server6;
        // Headers that promise 8100 bytes and 500 of them, in one small packet; then it waits for the answer.
        const script = `exec 3<>/dev/tcp/${host}/${PORT}; printf 'POST /icmp?format=json HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 8100\\r\\n\\r\\n' >&3; head -c 500 ${c.payloadFile} >&3; cat <&3`;
        const t = performance.now();
        const r = await c.lab.exec('plain', ['bash', '-c', script], { timeoutMs: VERDICT_BOUND_MS + 10_000 });
        return { r, ms: performance.now() - t };
      }),
    );
    for (const { r, ms } of answers) {
      // The raw HTTP answer (its body may be chunked): the JSON object in it.
      const body = r.stdout.slice(r.stdout.indexOf('{'), r.stdout.lastIndexOf('}') + 1);
      const result = JSON.parse(body) as TestResult;
      assert.equal(result.verdict, 'inconclusive', body);
      assert.deepEqual(result.evidence.requestStall, { bytesReceived: result.evidence.requestStall?.bytesSeen, bytesSeen: result.evidence.requestStall?.bytesSeen, requestLineSeen: true }, body);
      assert.ok((result.evidence.requestStall?.bytesSeen ?? 0) > 500, body);
      assert.match(result.explanation, /cannot tell which/);
      assert.ok(ms >= WINDOW_MS && ms < VERDICT_BOUND_MS, `${ms} ms`);
    }
  });

  it('/frag whose long headers never arrive whole: inconclusive, saying what arrived, in the window plus a few seconds', async () => {
    const answers = await Promise.all(
      ([4, 6] as const).map(async (family) => {
        const host = family === 4 ? c.server4 : c.server6;
        // The request line in a packet of its own, then 3 KB of headers: two full-size segments and a small last one.
        const script = `exec 3<>/dev/tcp/${host}/${PORT}; printf 'GET /frag HTTP/1.1\\r\\n' >&3; sleep 0.2; printf 'X-Pad: %03000d\\r\\nHost: x\\r\\n\\r\\n' 0 >&3; cat <&3`;
        const t = performance.now();
        const r = await c.lab.exec('plain', ['bash', '-c', script], { timeoutMs: VERDICT_BOUND_MS + 10_000 });
        return { r, ms: performance.now() - t };
      }),
    );
    for (const { r, ms } of answers) {
      assert.match(r.stdout, /\nRESULT: inconclusive\n$/, r.stdout);
      assert.match(r.stdout, /request line seen +yes\n/, r.stdout);
      assert.match(r.stdout, /request bytes received in order +20\n/, r.stdout);
      assert.match(r.stdout, /Verdict: inconclusive\. In \d+ s only the first 20 bytes of your request reached the server in order, although later bytes .*nothing was tested\.\n/, r.stdout);
      assert.ok(ms >= WINDOW_MS && ms < VERDICT_BOUND_MS, `${ms} ms`);
    }
  });

  it('/icmp stored: the results say blackhole for both families', async () => {
    const r = await c.curl('plain', [c.url(4, '/api/results?test=icmp')]);
    const runs = (JSON.parse(r.stdout) as { results: { result: { verdict: string; evidence: { family: string; requestStall?: unknown } } }[] }).results;
    const families = runs.filter((x) => x.result.verdict === 'blackhole' && x.result.evidence.requestStall !== undefined).map((x) => x.result.evidence.family);
    assert.deepEqual([...new Set(families)].sort(), ['ipv4', 'ipv6'], r.stdout.slice(0, 600));
  });

  it('/frag: pass for both families, at once: the request is small, and fragments of the response fit the path', async () => {
    const [v4, v6] = await Promise.all([c.fragJson('plain', 4, 20_000), c.fragJson('plain', 6, 20_000)]);
    for (const { result, padding, ms } of [v4, v6]) {
      assert.equal(result.verdict, 'pass', JSON.stringify(result.evidence));
      assert.equal(padding, 8192);
      assert.equal(result.evidence.requestStall, undefined);
      assert.ok(ms < 5000, `response took ${ms} ms`);
    }
  });
});
