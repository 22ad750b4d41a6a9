import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StoredRun } from '../../src/checker/results-store.js';
import type { TestResult } from '../../src/checker/test-result.js';
import type { CommandResult } from '../../src/host/process-runner.js';
import { startLab } from '../../src/lab/lab.js';
import type { LabProcess, RunningLab } from '../../src/lab/running-lab.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import { ARTICLE_PAYLOAD, PORT } from '../support/checker-lab.js';
import { CLI } from '../support/cli.js';
import { type PostgresServer, startPostgres } from '../support/postgres-server.js';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text.js';
import { needsRoot } from '../support/root.js';

type Answer = TestResult & { resultId?: string; resultUrl?: string };

/**
 * Two checker nodes in two namespaces (srva and srvb, named node-a and node-b), one PostgreSQL server in a third (db) that both reach through
 * the router, and a client that tests both. The database listens on its lab address only.
 */
describe('several checker nodes sharing one PostgreSQL store', needsRoot(), () => {
  let lab: RunningLab;
  let db: PostgresServer;
  let dir = '';
  let payloadFile = '';
  const serves: Record<string, LabProcess> = {};

  const url = (node: string, family: IpFamily, path: string): string =>
    family === 4 ? `http://${lab.address(node, 4)}:${PORT}${path}` : `http://[${lab.address(node, 6)}]:${PORT}${path}`;
  const curl = async (args: readonly string[]): Promise<CommandResult> =>
    lab.exec('client', ['curl', '-sS', '--max-time', '60', ...args], { timeoutMs: 65_000 });
  const icmp = async (node: string, family: IpFamily): Promise<Answer> => {
    const r = await curl([url(node, family, '/icmp?format=json'), '--data-binary', `@${payloadFile}`]);
    assert.equal(r.code, 0, r.stderr);
    await flushRoutes();
    return JSON.parse(r.stdout) as Answer;
  };
  const flushRoutes = async (): Promise<void> => {
    await lab.mustExec('client', ['ip', 'route', 'flush', 'cache']);
    await lab.mustExec('client', ['ip', '-6', 'route', 'flush', 'cache']);
  };
  const serve = async (node: string, nodeName: string, store: string, extra: readonly string[] = []): Promise<LabProcess> => {
    const p = lab.spawn(node, [
      process.execPath, CLI, 'serve', '--listen', lab.address(node, 4), '--listen', lab.address(node, 6), '--port', String(PORT),
      '--store', store, '--node-name', nodeName, ...extra,
    ]);
    await p.waitForOutput(/listening on/, 20_000);
    return p;
  };
  const results = async (node: string): Promise<(Omit<StoredRun, 'publicId'> & { publicId?: string })[]> =>
    (JSON.parse((await curl([url(node, 4, '/api/results?limit=100')])).stdout) as { results: (Omit<StoredRun, 'publicId'> & { publicId?: string })[] }).results;

  before(async () => {
    lab = await startLab({
      name: 'chk-nodes',
      nodes: [
        { name: 'client', kind: 'host' },
        { name: 'router', kind: 'router' },
        { name: 'srva', kind: 'host' },
        { name: 'srvb', kind: 'host' },
        { name: 'db', kind: 'host' },
      ],
      links: [
        { endpoints: [{ node: 'client', ifname: 'eth1' }, { node: 'router', ifname: 'eth1' }] },
        { endpoints: [{ node: 'router', ifname: 'eth2' }, { node: 'srva', ifname: 'eth1' }] },
        { endpoints: [{ node: 'router', ifname: 'eth3' }, { node: 'srvb', ifname: 'eth1' }] },
        { endpoints: [{ node: 'router', ifname: 'eth4' }, { node: 'db', ifname: 'eth1' }] },
      ],
    });
    dir = mkdtempSync(join(tmpdir(), 'mtuscope-nodes-'));
    payloadFile = join(dir, 'payload.bin');
    writeFileSync(payloadFile, ARTICLE_PAYLOAD);
    db = await startPostgres({ listenAddress: lab.address('db', 4), commandPrefix: ['ip', 'netns', 'exec', lab.namespace('db')] });
    await db.createDatabase('shared');
    const store = db.tcpUrl('shared');
    serves['node-a'] = await serve('srva', 'node-a', store);
    // With a password, which trust authentication ignores: the service must not print it.
    serves['node-b'] = await serve('srvb', 'node-b', store.replace('mtuscope@', 'mtuscope:s3cret-word@'), ['--truncate-addresses']);
  });
  after(async () => {
    for (const p of Object.values(serves)) await p.stop('SIGTERM');
    await db?.stop();
    await lab?.destroy();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('the database is reachable from the nodes over the lab only, not from the client side of the root namespace', async () => {
    assert.match(serves['node-a']!.stderr, new RegExp(`results in postgres://mtuscope@${lab.address('db', 4).replace(/\./g, '\\.')}:5432/shared, node node-a`));
    const listening = await lab.mustExec('db', ['ss', '-Htln', 'sport', '= :5432']);
    assert.match(listening.stdout, new RegExp(lab.address('db', 4).replace(/\./g, '\\.')));
    assert.match(serves['node-b']!.stderr, /results in postgres:\/\/mtuscope:\*\*\*@/);
    assert.ok(!serves['node-b']!.stderr.includes('s3cret-word'), 'the password stays out of the log');
  });

  it('a node whose store cannot be reached when it starts exits 1, naming the store and the reason', async () => {
    const unreachable = `postgres://mtuscope:s3cret-word@${lab.address('db', 4)}:1/shared`;
    const p = lab.spawn('srva', [process.execPath, CLI, 'serve', '--listen', lab.address('srva', 4), '--port', String(PORT + 1), '--store', unreachable]);
    await p.waitForOutput(/cannot open results store/, 20_000);
    for (let i = 0; i < 100 && p.running; i++) await new Promise((r) => setTimeout(r, 100));
    const end = await p.stop('SIGTERM');
    assert.equal(end.code, 1, p.stderr);
    assert.match(p.stderr, new RegExp(`cannot open results store postgres://mtuscope:\\*\\*\\*@${lab.address('db', 4).replace(/\./g, '\\.')}:1/shared: connect ECONNREFUSED`));
    assert.ok(!p.stderr.includes('s3cret-word'));
  });

  it('both nodes store their runs in one store; /results counts them together and names the node of each run', async () => {
    const a = await icmp('srva', 4);
    const b = await icmp('srvb', 6);
    assert.equal(a.verdict, 'pass');
    assert.equal(b.verdict, 'pass');
    const fromA = await results('srva');
    const fromB = await results('srvb');
    assert.deepEqual(fromA.map((r) => [r.node, r.test, r.family]), [['node-b', 'icmp', 'ipv6'], ['node-a', 'icmp', 'ipv4']]);
    assert.deepEqual(fromB.map((r) => r.id), fromA.map((r) => r.id), 'each node lists the same runs');
    assert.ok(fromA.every((r) => r.publicId === undefined), 'the list does not give away page ids');
    assert.match(fromA[0]!.clientAddress, /\/48$/, 'node-b truncates what it stores');
    assert.equal(fromB[1]?.clientAddress.endsWith('/24'), true, 'node-b shows networks only, also of runs node-a stored whole');
    assert.equal(fromA[1]?.clientAddress, lab.address('client', 4), 'node-a shows what node-a stored');
    const page = (await curl([url('srvb', 6, '/results')])).stdout;
    assert.match(page, /<p>2 runs from /);
    assert.match(page, /Run by 2 checker nodes: node-a \(1\), node-b \(1\)\./);
    assert.match(page, /<td class="text">node-a<\/td>/);
    assert.match(page, /<td class="text">node-b<\/td>/);
  });

  it('every answer links to its result page, which any node of the store shows, as HTML and JSON', async () => {
    const answered = await icmp('srvb', 4);
    assert.match(answered.resultId ?? '', /^[A-Za-z0-9_-]{22}$/);
    assert.equal(answered.resultUrl, `${url('srvb', 4, '')}/r/${answered.resultId}`);
    const viaA = await curl(['-w', '\n%{http_code}', url('srva', 4, `/r/${answered.resultId}`)]);
    assert.match(viaA.stdout, /\n200$/);
    assert.match(viaA.stdout, /<title>mtuscope result: \/icmp over IPv4: pass<\/title>/);
    assert.match(viaA.stdout, /checker node<\/th><td>node-b</);
    assert.ok(!viaA.stdout.includes(lab.address('client', 4)), 'node-b stored the network only');
    const json = JSON.parse((await curl([url('srva', 6, `/api/results/${answered.resultId}`)])).stdout) as StoredRun;
    assert.equal(json.publicId, answered.resultId);
    assert.equal(json.verdict, 'pass');
    assert.equal(json.node, 'node-b');
    const text = await curl([url('srva', 4, '/icmp'), '--data-binary', `@${payloadFile}`]);
    await flushRoutes();
    const link = /^This result's page, to send to your ISP or support team: (http:\/\/\S+\/r\/([A-Za-z0-9_-]{22}))$/m.exec(text.stdout);
    assert.ok(link, text.stdout);
    assert.match(text.stdout, /\nRESULT: pass\n$/);
    const linked = await curl(['-w', '\n%{http_code}', link[1]!]);
    assert.match(linked.stdout, /data-verdict="pass"/);
    assert.ok(linked.stdout.includes(lab.address('client', 4)), 'node-a does not truncate');
    const unknown = await curl(['-w', '\n%{http_code}', url('srva', 4, '/r/AAAAAAAAAAAAAAAAAAAAAA')]);
    assert.match(unknown.stdout, /error: no result with id "AAAAAAAAAAAAAAAAAAAAAA".*\n404$/s);
    const malformed = await curl(['-w', '\n%{http_code}', url('srva', 4, '/api/results/..%2F1')]);
    assert.match(malformed.stdout, /"error":"no result with id.*\n404$/s);
  });

  it('a store stopped in the middle of a run: verdicts still arrive, failures are counted, results are stored again once it is back', async () => {
    const before = (await results('srva')).length;
    await db.stopServer();
    try {
      const text = await curl([url('srva', 4, '/icmp'), '--data-binary', `@${payloadFile}`]);
      await flushRoutes();
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /\nRESULT: pass\n$/);
      assert.doesNotMatch(text.stdout, /This result's page/, 'no link to a page that was not stored');
      const json = await icmp('srvb', 6);
      assert.equal(json.verdict, 'pass');
      assert.equal(json.resultUrl, undefined);
      const frag = JSON.parse((await curl([url('srva', 6, '/frag?format=json')])).stdout) as Answer;
      assert.equal(frag.verdict, 'pass');
      const summary = await curl(['-w', '\n%{http_code}', url('srva', 4, '/results')]);
      assert.match(summary.stdout, /results store is not available.*\n503$/s);
      const stats = JSON.parse((await curl([url('srva', 4, '/api/stats')])).stdout) as { storeFailures: { writes: number; reads: number } };
      // Two writes (the /icmp and /frag runs), and the summary page's two reads (counts and recent runs).
      assert.deepEqual(stats.storeFailures, { writes: 2, reads: 2 });
      // /metrics counts the results not stored: the writes, not the failed reads of pages.
      const metrics = parsePrometheusText((await curl([url('srva', 4, '/metrics')])).stdout);
      assert.equal(sampleValue(metrics, 'mtuscope_store_failures_total'), 2);
      assert.match(serves['node-a']!.stderr, /results store postgres:\/\/\S+: this icmp result was not stored \(1 failed so far\)/);
      assert.equal(serves['node-a']!.running, true);
      assert.equal(serves['node-b']!.running, true);
    } finally {
      await db.startServer();
    }
    const again = await icmp('srva', 4);
    assert.match(again.resultUrl ?? '', /\/r\//);
    const stored = await results('srvb');
    assert.equal(stored.length, before + 1, 'the runs during the outage are not stored; the one after it is');
    assert.equal(stored[0]?.node, 'node-a');
  });

  it('an unreachable store (its packets dropped) delays a verdict by its timeouts at most; the service reconnects once it is reachable', async (t) => {
    const rule = ['INPUT', '-p', 'tcp', '--dport', String(db.port), '-j', 'DROP'];
    const failedBefore = (JSON.parse((await curl([url('srva', 4, '/api/stats')])).stdout) as { storeFailures: { writes: number } }).storeFailures.writes;
    await lab.mustExec('db', ['iptables', '-I', ...rule]);
    let ms: number;
    try {
      const t = performance.now();
      const answered = await icmp('srva', 4);
      ms = performance.now() - t;
      assert.equal(answered.verdict, 'pass');
      assert.equal(answered.resultUrl, undefined);
    } finally {
      await lab.mustExec('db', ['iptables', '-D', ...rule]);
    }
    // A live pooled connection times out after 5 s, a new one after 3 s: the answer waits for one of them.
    assert.ok(ms < 8000, `the verdict took ${Math.round(ms)} ms`);
    const failedAfter = (JSON.parse((await curl([url('srva', 4, '/api/stats')])).stdout) as { storeFailures: { writes: number } }).storeFailures.writes;
    assert.equal(failedAfter, failedBefore + 1);
    const again = await icmp('srva', 4);
    assert.match(again.resultUrl ?? '', /\/r\//, 'stored again once reachable');
    t.diagnostic(`verdict with an unreachable store: ${Math.round(ms)} ms`);
  });
});
