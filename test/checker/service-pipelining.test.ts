import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { ARTICLE_PAYLOAD, type CheckerLab, PORT, startCheckerLab } from '../support/checker-lab.js';
import { MAX_REQUESTS_PER_CONNECTION } from '../../src/checker/connection-requests.js';
import { needsRoot } from '../support/root.js';

const PIPELINED = 5;

const ICMP_REQUEST = `POST /icmp?format=json HTTP/1.1\r\nHost: checker\r\nContent-Type: application/octet-stream\r\nContent-Length: ${ARTICLE_PAYLOAD.length}\r\n\r\n${ARTICLE_PAYLOAD}`;

/**
 * A client in the lab that writes `count` copies of `request` (by default POST /icmp with the article's payload) in
 * one write on one TCP connection, then reads until the server closes it (or closes at once, `hangUp`), and prints
 * what it read.
 */
function pipeliningClient(host: string, count: number, hangUp: boolean, request = ICMP_REQUEST): string[] {
  const script = `
    const net = require('node:net');
    const [host, port, count, hangUp, request] = process.argv.slice(1);
    const socket = net.connect({ host, port: Number(port) }, () => {
      socket.write(request.repeat(Number(count)), () => { if (hangUp === 'yes') socket.destroy(); });
    });
    const chunks = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('close', () => process.stdout.write(Buffer.concat(chunks)));
    socket.on('error', (e) => process.stderr.write(String(e)));
  `;
  return [process.execPath, '-e', script, host, String(PORT), String(count), hangUp ? 'yes' : 'no', request];
}

interface Stats {
  readonly runningTests: number;
}
interface Stored {
  readonly results: readonly { readonly result: { readonly evidence: { readonly clientPort: number; readonly family: string } } }[];
}

describe('checker service: requests pipelined on one connection', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;

  before(async () => {
    c = await startCheckerLab({ name: 'chk-pipe', clients: [{ name: 'client' }] });
    serve = await c.serve(['--tests-per-client', '1000']);
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  const stats = async (): Promise<Stats> => JSON.parse((await c.curl('client', [c.url(4, '/api/stats')])).stdout) as Stats;
  const stored = async (): Promise<Stored['results']> => (JSON.parse((await c.curl('client', [c.url(4, '/api/results?limit=500')])).stdout) as Stored).results;
  /** runningTests once the server has seen the connections close (it polls for up to 5 s). */
  const settledRunningTests = async (): Promise<number> => {
    let running = (await stats()).runningTests;
    for (let i = 0; i < 50 && running !== 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      running = (await stats()).runningTests;
    }
    return running;
  };

  for (const family of [4, 6] as const) {
    it(`IPv${family}: five POST /icmp in one write: the first is the test (one result stored), the other four are refused, no slot stays taken`, async () => {
      const server = family === 4 ? c.server4 : c.server6;
      await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', server]);
      const before = (await stored()).length;
      const r = await c.lab.exec('client', pipeliningClient(server, PIPELINED, false), { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      const statuses = [...r.stdout.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]));
      assert.deepEqual(statuses, [200, 400, 400, 400, 400], r.stdout.slice(0, 2000));
      const answers = r.stdout.split(/^HTTP\/1\.1 /m).slice(1);
      assert.match(answers[0]!, /"verdict":"pass"/);
      assert.match(answers[0]!, /^Connection: keep-alive\r$/im, 'the test answer leaves the connection open for the refusals behind it');
      for (const refusal of answers.slice(1)) assert.match(refusal, /"error":"one request per connection: this server answers only the first request of a connection/);
      // Refusals leave the connection open for requests still on their way; the server's keep-alive timeout closes it
      // (the client reads until then, so the exec's timeout would catch a connection left open).
      for (const refusal of answers.slice(1)) assert.match(refusal, /^Connection: keep-alive\r$/im);
      const results = await stored();
      assert.equal(results.length - before, 1, 'one result stored, not five');
      assert.equal(results[0]!.result.evidence.family, `ipv${family}`);
      assert.equal(await settledRunningTests(), 0);
    });
  }

  it('a client that pipelines five tests and hangs up at once leaves no slot taken and at most one result', async () => {
    await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
    const before = (await stored()).length;
    for (let i = 0; i < 3; i++) {
      const r = await c.lab.exec('client', pipeliningClient(c.server4, PIPELINED, true), { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal(await settledRunningTests(), 0);
    assert.ok((await stored()).length - before <= 3, 'at most one result per connection');
    // The service still serves a test as usual.
    await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
    assert.equal((await c.icmpJson('client', 4)).result.verdict, 'pass');
    assert.equal(await settledRunningTests(), 0);
  });

  it(`a connection that pipelines more than ${MAX_REQUESTS_PER_CONNECTION} requests is closed; the service keeps serving`, async () => {
    const r = await c.lab.exec('client', pipeliningClient(c.server4, 1000, false, 'GET /favicon.ico HTTP/1.1\r\nHost: checker\r\n\r\n'), { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    const answers = [...r.stdout.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].length;
    assert.ok(answers <= MAX_REQUESTS_PER_CONNECTION, `${answers} answers`);
    assert.equal((await c.curl('client', ['-o', '/dev/null', '-w', '%{http_code}', c.url(4, '/favicon.ico')])).stdout, '204');
    assert.equal(await settledRunningTests(), 0);
  });

  it('a single test answers with Connection: close, as before', async () => {
    await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
    const r = await c.curl('client', ['-i', c.url(4, '/icmp?format=json'), '--data-binary', `@${c.payloadFile}`]);
    assert.match(r.stdout, /^HTTP\/1\.1 200 /);
    assert.match(r.stdout, /^Connection: close\r$/im);
    assert.match(r.stdout, /"verdict":"pass"/);
  });
});
