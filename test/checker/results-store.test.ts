import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { redactClientAddress } from '../../src/checker/redact-client-address.js';
import { isResultId } from '../../src/checker/result-id.js';
import { LATEST_SCHEMA_VERSION, RESULTS_MIGRATIONS } from '../../src/checker/results-migrations.js';
import type { ResultsStore, StoredRun } from '../../src/checker/results-store.js';
import { SqliteResultsStore } from '../../src/checker/sqlite-results-store.js';
import type { TestResult } from '../../src/checker/test-result.js';
import { freshStore, storeBackends } from './results-backends.js';
import { sampleResult, sampleTimeline, steppingClock } from './results-fixtures.js';

const STORE_MODULE = new URL('../../src/checker/sqlite-results-store.js', import.meta.url).href;

let tempRoot = '';
before(() => {
  tempRoot = mkdtempSync(join(tmpdir(), 'mtuscope-results-store-'));
});
after(() => {
  rmSync(tempRoot, { recursive: true, force: true });
});

let dirCount = 0;
/** A fresh directory per test, inside the suite's temp dir. */
function freshDir(): string {
  const dir = join(tempRoot, `t${++dirCount}`);
  mkdirSync(dir);
  return dir;
}

/** A store's bytes as they are on disk: the database and, while open or after a crash, its WAL and shared memory. */
function storeBytes(path: string): Buffer {
  return Buffer.concat([path, `${path}-wal`, `${path}-shm`].filter((p) => existsSync(p)).map((p) => readFileSync(p)));
}

/** Six runs, oldest first: icmp and frag, both families, several verdicts. */
function mixedRuns(): TestResult[] {
  return [
    sampleResult(),
    sampleResult({ verdict: 'blackhole', evidence: { reactionMs: null, clientAddress: '10.9.9.9' } }),
    sampleResult({ test: 'frag', verdict: 'pass', evidence: { family: 'ipv6', clientAddress: 'fd00:1:2:3::4', fragmentsSent: 6 } }),
    sampleResult({ test: 'frag', verdict: 'blocked', evidence: { fragmentsSent: 12 } }),
    sampleResult({ verdict: 'blackhole', evidence: { family: 'ipv6', clientAddress: 'fd00:5::6' } }),
    sampleResult({ verdict: 'blackhole', evidence: { clientAddress: '10.1.2.4' } }),
  ];
}

/** Records `results` one after the other (ids in this order). */
async function recordAll(store: ResultsStore, results: readonly TestResult[]): Promise<StoredRun[]> {
  const runs: StoredRun[] = [];
  for (const r of results) runs.push(await store.record(r));
  return runs;
}

/** Runs `body` with the store, closing it however body ends. */
async function using<T>(store: ResultsStore, body: (store: ResultsStore) => Promise<T>): Promise<T> {
  try {
    return await body(store);
  } finally {
    await store.close();
  }
}

const ids = (list: readonly StoredRun[]): number[] => list.map((r) => r.id);

for (const backend of storeBackends()) {
  describe(`ResultsStore in ${backend.name}`, { skip: backend.skip }, () => {
    backend.setUp();

    it('gives back what it stored, with ids, the time of storing, the node and a page id', async () => {
      await using(await freshStore(backend, { now: steppingClock('2024-05-01T10:00:00.000Z'), nodeName: 'node-a' }), async (store) => {
        const input = sampleResult({ advice: ['Run `ip route get 10.0.2.2`.', 'Then flush.'] });
        const run = await store.record(input);
        assert.equal(run.id, 1);
        assert.equal(run.storedAt, '2024-05-01T10:00:00.000Z');
        assert.equal(run.node, 'node-a');
        assert.match(run.publicId, /^[A-Za-z0-9_-]{22}$/);
        assert.ok(isResultId(run.publicId));
        assert.equal(run.test, 'icmp');
        assert.equal(run.verdict, 'pass');
        assert.equal(run.family, 'ipv4');
        assert.equal(run.clientAddress, '10.1.2.3');
        assert.deepEqual(run.result, input);
        assert.deepEqual(await store.list(), [run]);
        const second = await store.record(sampleResult({ test: 'frag', verdict: 'blocked' }));
        assert.equal(second.id, 2);
        assert.equal(second.storedAt, '2024-05-01T10:00:01.000Z');
        assert.notEqual(second.publicId, run.publicId);
      });
    });

    it('finds a run by its page id, and nothing for an id it never gave', async () => {
      await using(await freshStore(backend), async (store) => {
        const runs = await recordAll(store, mixedRuns());
        for (const run of runs) assert.deepEqual(await store.find(run.publicId), run);
        assert.equal(await store.find('AAAAAAAAAAAAAAAAAAAAAA'), undefined);
        assert.equal(await store.find(runs[0]!.publicId.toLowerCase() === runs[0]!.publicId ? 'x' : runs[0]!.publicId.toLowerCase()), undefined, 'ids are case-sensitive');
        assert.equal(new Set(runs.map((r) => r.publicId)).size, runs.length);
      });
    });

    it('lists newest first, filtered by test, verdict and family', async () => {
      await using(await freshStore(backend), async (store) => {
        const runs = await recordAll(store, mixedRuns());
        assert.deepEqual(ids(await store.list()), [6, 5, 4, 3, 2, 1]);
        assert.deepEqual(ids(await store.list({ test: 'frag' })), [4, 3]);
        assert.deepEqual(ids(await store.list({ verdict: 'blackhole' })), [6, 5, 2]);
        assert.deepEqual(ids(await store.list({ verdict: 'pass' })), [3, 1], 'pass is a verdict of both tests');
        assert.deepEqual(ids(await store.list({ family: 'ipv6' })), [5, 3]);
        assert.deepEqual(ids(await store.list({ test: 'icmp', verdict: 'blackhole', family: 'ipv4' })), [6, 2]);
        assert.deepEqual(ids(await store.list({ test: 'frag', verdict: 'pass', family: 'ipv4' })), []);
        assert.deepEqual(await store.list({ limit: 1, family: 'ipv6' }), [runs[4]]);
        const nothingSent = await store.record(sampleResult({ test: 'frag', verdict: 'inconclusive', evidence: { fragmentsSuppressed: 9 } }));
        assert.deepEqual(ids(await store.list({ test: 'frag', verdict: 'inconclusive' })), [nothingSent.id]);
        assert.equal((await store.list({ test: 'frag', verdict: 'inconclusive' }))[0]?.result.evidence.fragmentsSuppressed, 9);
      });
    });

    it('pages with beforeId without gaps or repeats, and returns 50 by default', async () => {
      await using(await freshStore(backend), async (store) => {
        await recordAll(store, Array.from({ length: 123 }, (_, i) => sampleResult({ verdict: i % 3 === 0 ? 'blackhole' : 'pass' })));
        assert.equal((await store.list()).length, 50);
        assert.equal((await store.list({ limit: 1000 })).length, 123);
        const seen: number[] = [];
        let beforeId: number | undefined;
        for (;;) {
          const page = await store.list({ limit: 20, ...(beforeId === undefined ? {} : { beforeId }) });
          if (page.length === 0) break;
          seen.push(...ids(page));
          beforeId = page.at(-1)!.id;
        }
        assert.deepEqual(seen, Array.from({ length: 123 }, (_, i) => 123 - i));
        assert.deepEqual(ids(await store.list({ verdict: 'blackhole', beforeId: 10, limit: 2 })), [7, 4]);
      });
    });

    it('refuses limits and beforeIds out of range', async () => {
      await using(await freshStore(backend), async (store) => {
        for (const limit of [0, -1, 1001, 2.5, Number.NaN]) await assert.rejects(store.list({ limit }), RangeError, String(limit));
        for (const beforeId of [0, -3, 1.5]) await assert.rejects(store.list({ beforeId }), RangeError, String(beforeId));
        assert.equal((await store.list({ limit: 1000 })).length, 0);
        assert.deepEqual({ ...store.failures }, { writes: 0, reads: 0 }, 'a refused query is no failure of the store');
      });
    });

    it('counts runs per test, family and verdict, and per node', async () => {
      const location = await backend.freshLocation();
      const clock = steppingClock('2024-05-01T10:00:00.000Z');
      const nodeA = await backend.open(location, { now: clock, nodeName: 'node-a' });
      const nodeB = await backend.open(location, { now: clock, nodeName: 'node-b' });
      try {
        assert.deepEqual(await nodeA.summary(), { total: 0, nodes: [], counts: [], firstStoredAt: null, lastStoredAt: null });
        const runs = mixedRuns();
        for (const [i, r] of runs.entries()) await (i % 3 === 0 ? nodeB : nodeA).record(r);
        const expected = {
          total: 6,
          nodes: [
            { node: 'node-a', count: 4 },
            { node: 'node-b', count: 2 },
          ],
          counts: [
            { test: 'frag', family: 'ipv4', verdict: 'blocked', count: 1 },
            { test: 'frag', family: 'ipv6', verdict: 'pass', count: 1 },
            { test: 'icmp', family: 'ipv4', verdict: 'blackhole', count: 2 },
            { test: 'icmp', family: 'ipv4', verdict: 'pass', count: 1 },
            { test: 'icmp', family: 'ipv6', verdict: 'blackhole', count: 1 },
          ],
          firstStoredAt: '2024-05-01T10:00:00.000Z',
          lastStoredAt: '2024-05-01T10:00:05.000Z',
        };
        assert.deepEqual(await nodeA.summary(), expected);
        assert.deepEqual(await nodeB.summary(), expected, 'both nodes see all runs');
        assert.deepEqual((await nodeB.list()).map((r) => r.node), ['node-a', 'node-a', 'node-b', 'node-a', 'node-a', 'node-b']);
      } finally {
        await nodeA.close();
        await nodeB.close();
      }
    });

    it("keeps each run's packet timeline in a column of its own: its page has it, lists leave it out", async () => {
      const location = await backend.freshLocation();
      await using(await backend.open(location, { truncateClientAddress: true }), async (store) => {
        const timeline = sampleTimeline();
        const withTimeline = await store.record({ ...sampleResult(), timeline });
        const without = await store.record(sampleResult({ verdict: 'blackhole' }));
        assert.deepEqual(withTimeline.result.timeline, timeline, 'record gives back what find will');
        assert.deepEqual((await store.find(withTimeline.publicId))?.result.timeline, timeline);
        assert.equal((await store.find(without.publicId))?.result.timeline, undefined, 'a run without a timeline has none, not an empty one');
        assert.deepEqual(
          (await store.list()).map((r) => 'timeline' in r.result),
          [false, false],
        );
        const rows = await backend.rawQuery(location, 'SELECT timeline_json, result_json FROM runs ORDER BY id');
        assert.deepEqual(JSON.parse(String(rows[0]?.['timeline_json'])), timeline);
        assert.equal(rows[1]?.['timeline_json'], null);
        assert.ok(!String(rows[0]?.['result_json']).includes('"events"'), 'the result column does not repeat it');
      });
    });

    it('keeps its runs across close and reopen, and numbers on', async () => {
      const location = await backend.freshLocation();
      const first = await backend.open(location);
      await first.record(sampleResult());
      await first.record(sampleResult({ verdict: 'blackhole' }));
      await first.close();
      await first.close();
      await using(await backend.open(location), async (second) => {
        assert.deepEqual((await second.list()).map((r) => r.verdict), ['blackhole', 'pass']);
        assert.equal((await second.record(sampleResult())).id, 3);
      });
    });

    it('records its schema migrations, in order, once', async () => {
      const location = await backend.freshLocation();
      await (await backend.open(location)).close();
      await (await backend.open(location)).close();
      const rows = await backend.rawQuery(location, 'SELECT version, description FROM schema_migrations ORDER BY version');
      assert.deepEqual(
        rows.map((r) => [Number(r['version']), r['description']]),
        RESULTS_MIGRATIONS.map((m) => [m.version, m.description]),
      );
      assert.equal(LATEST_SCHEMA_VERSION, 3);
    });

    it('refuses a store written by a newer version of its schema, naming it', async () => {
      const location = await backend.freshLocation();
      await (await backend.open(location)).close();
      await backend.rawQuery(location, "INSERT INTO schema_migrations (version, description, applied_at) VALUES (7, 'from the future', 'x')");
      await assert.rejects(backend.open(location), (e: unknown) => e instanceof Error && /schema version 7 .*newer/.test(e.message) && e.message.startsWith('cannot open results store '));
    });

    it('stores the network only when it truncates, and shows networks only, also of runs stored whole by another node', async () => {
      const location = await backend.freshLocation();
      const whole = await backend.open(location, { nodeName: 'plain' });
      const truncating = await backend.open(location, { nodeName: 'private', truncateClientAddress: true });
      try {
        const plainRun = await whole.record(sampleResult({ explanation: 'From 10.1.2.3.', evidence: { clientAddress: '10.1.2.3' } }));
        const truncatedRun = await truncating.record(sampleResult({ evidence: { family: 'ipv6', clientAddress: 'fd00:1:2:3::4' } }));
        assert.equal(truncatedRun.clientAddress, 'fd00:1:2::/48');
        assert.equal(plainRun.clientAddress, '10.1.2.3');
        assert.deepEqual((await truncating.list()).map((r) => r.clientAddress), ['fd00:1:2::/48', '10.1.2.0/24']);
        const seenTruncated = await truncating.find(plainRun.publicId);
        assert.equal(seenTruncated?.result.explanation, 'From 10.1.2.0/24.');
        assert.equal(seenTruncated?.result.evidence.clientPort, 0);
        assert.equal((await whole.find(plainRun.publicId))?.clientAddress, '10.1.2.3', 'a node that does not truncate shows what was stored');
      } finally {
        await whole.close();
        await truncating.close();
      }
    });

    it('refuses a client address it cannot truncate, rather than storing it whole, and counts the failure', async () => {
      await using(await freshStore(backend, { truncateClientAddress: true }), async (store) => {
        await assert.rejects(store.record(sampleResult({ evidence: { clientAddress: 'client.example' } })), /"client\.example"/);
        await assert.rejects(store.record(sampleResult({ evidence: { clientAddress: 'fd00::1', family: 'ipv4' } })), /not an ipv4 address/);
        assert.equal((await store.summary()).total, 0);
        assert.deepEqual({ ...store.failures }, { writes: 2, reads: 0 });
      });
    });
  });
}

describe('ResultsStore in PostgreSQL, when the server goes away', { skip: storeBackends()[1]!.skip }, () => {
  const backend = storeBackends()[1]!;
  backend.setUp();

  it('fails and counts each call while the server is down, without crashing, and works again once it is back', async () => {
    const server = backend.server!;
    const store = await backend.open(await backend.freshLocation(), { nodeName: 'n' });
    try {
      const before = await store.record(sampleResult());
      await server.stopServer();
      await assert.rejects(store.record(sampleResult({ verdict: 'blackhole' })));
      await assert.rejects(store.list());
      await assert.rejects(store.summary());
      await assert.rejects(store.find(before.publicId));
      assert.deepEqual({ ...store.failures }, { writes: 1, reads: 3 });
      await server.startServer();
      const after = await store.record(sampleResult({ verdict: 'no-df' }));
      assert.deepEqual((await store.list()).map((r) => r.verdict), ['no-df', 'pass'], 'the run recorded while down is not there');
      assert.ok(after.id > before.id);
      assert.deepEqual({ ...store.failures }, { writes: 1, reads: 3 });
    } finally {
      await store.close();
    }
  });
});

describe('ResultsStore in SQLite: the file', () => {
  it('fills the evidence columns, for those who query the file with sqlite3', async () => {
    const path = join(freshDir(), 'results.db');
    const store = SqliteResultsStore.open(path, { nodeName: 'n1' });
    await store.record(sampleResult({ evidence: { testMtu: 1280, clientMss: null, reactionMs: 2.5, fragmentsSent: 7 } }));
    await store.close();
    const db = new Database(path, { readonly: true });
    try {
      assert.deepEqual(
        db.prepare('SELECT test, verdict, family, client_address, test_mtu, client_mss, reaction_ms, fragments_sent, node FROM runs').get(),
        { test: 'icmp', verdict: 'pass', family: 'ipv4', client_address: '10.1.2.3', test_mtu: 1280, client_mss: null, reaction_ms: 2.5, fragments_sent: 7, node: 'n1' },
      );
      assert.equal(db.pragma('user_version', { simple: true }), LATEST_SCHEMA_VERSION);
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      db.close();
    }
  });

  it('brings a store of schema version 1 (before migrations were recorded) up to date, keeping its runs and ids', async () => {
    const path = join(freshDir(), 'v1.db');
    const db = new Database(path);
    db.exec(RESULTS_MIGRATIONS[0]!.sqlite);
    db.pragma('user_version = 1');
    const insert = db.prepare(
      `INSERT INTO runs (stored_at, started_at, test, verdict, family, client_address, client_mss, largest_client_packet, test_mtu,
        packet_too_big_sent, fragments_sent, retransmissions, reaction_ms, duration_ms, result_json)
       VALUES (?, ?, ?, ?, 'ipv4', '10.1.2.3', 1460, 1500, 905, 2, 0, 3, 1.25, 812, ?)`,
    );
    for (const verdict of ['pass', 'blackhole', 'no-df'] as const) {
      const r = sampleResult({ verdict });
      insert.run('2024-05-01T10:00:00.000Z', r.startedAt, r.test, verdict, JSON.stringify(r));
    }
    db.exec('DELETE FROM runs WHERE id = 3');
    db.close();
    const store = SqliteResultsStore.open(path, { nodeName: 'new' });
    try {
      const old = await store.list();
      assert.deepEqual(old.map((r) => [r.id, r.verdict, r.node]), [[2, 'blackhole', null], [1, 'pass', null]]);
      for (const run of old) {
        assert.match(run.publicId, /^[0-9a-f]{32}$/);
        assert.ok(isResultId(run.publicId));
        assert.deepEqual(await store.find(run.publicId), run);
      }
      assert.equal((await store.record(sampleResult())).id, 4, 'an id once given (3, deleted) is not given again');
      assert.equal((await store.summary()).nodes.at(-1)?.node, null, 'runs of unknown node count last');
    } finally {
      await store.close();
    }
    const check = new Database(path, { readonly: true });
    try {
      assert.deepEqual(check.prepare('SELECT version FROM schema_migrations ORDER BY version').all(), [{ version: 1 }, { version: 2 }, { version: 3 }]);
      assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      check.close();
    }
  });

  it('keeps every acknowledged run when the writing process is killed with SIGKILL', async () => {
    const dir = freshDir();
    const path = join(dir, 'results.db');
    const target = 150;
    // Records as fast as it can and says so after each record() returned; pipes are synchronous on Linux, so a
    // line we read was written after its run was acknowledged.
    const writer = `
      import { SqliteResultsStore } from ${JSON.stringify(STORE_MODULE)};
      const store = SqliteResultsStore.open(process.argv[1]);
      const sample = JSON.parse(process.argv[2]);
      for (let n = 1; ; n++) {
        const run = await store.record(sample);
        process.stdout.write('acknowledged ' + n + ' ' + run.id + '\\n');
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', writer, path, JSON.stringify(sampleResult())], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const acknowledgedIds: number[] = [];
    try {
      for await (const line of createInterface({ input: child.stdout })) {
        const m = /^acknowledged (\d+) (\d+)$/.exec(line);
        assert.ok(m, `unexpected output: ${line}`);
        acknowledgedIds.push(Number(m[2]));
        if (Number(m[1]) === target) child.kill('SIGKILL');
      }
    } finally {
      child.kill('SIGKILL');
    }
    assert.equal(await exited, 'SIGKILL', `the writer ended by itself: ${stderr}`);
    assert.ok(acknowledgedIds.length >= target, `only ${acknowledgedIds.length} acknowledged: ${stderr}`);
    assert.ok(existsSync(`${path}-wal`), 'a killed writer leaves its WAL behind (a clean close removes it)');

    const store = SqliteResultsStore.open(path);
    try {
      const storedIds = new Set((await store.list({ limit: 1000 })).map((r) => r.id));
      const lost = acknowledgedIds.filter((id) => !storedIds.has(id));
      assert.deepEqual(lost, [], 'acknowledged runs missing after the crash');
      assert.ok((await store.summary()).total >= acknowledgedIds.length);
    } finally {
      await store.close();
    }
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      db.close();
    }
  });

  it('refuses a path that is a directory, naming it', () => {
    const dir = freshDir();
    assert.throws(() => SqliteResultsStore.open(dir), (e: unknown) => e instanceof Error && e.message === `cannot open results store ${dir}: it is a directory`);
  });

  it('refuses a path below a regular file, naming both', () => {
    const dir = freshDir();
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'not a directory\n');
    const path = join(file, 'sub', 'results.db');
    assert.throws(
      () => SqliteResultsStore.open(path),
      (e: unknown) => e instanceof Error && e.message === `cannot open results store ${path}: ${file} is not a directory`,
    );
  });

  it('refuses a file that is no SQLite database, and leaves it alone', () => {
    const path = join(freshDir(), 'notes.txt');
    const text = 'These are my notes, not a database. '.repeat(200);
    writeFileSync(path, text);
    assert.throws(() => SqliteResultsStore.open(path), (e: unknown) => e instanceof Error && e.message.startsWith(`cannot open results store ${path}: `) && /not a database/.test(e.message));
    assert.equal(readFileSync(path, 'utf8'), text);
  });

  it('migrates a version 1 store (icmp and frag only): its runs stay, ids go on, and /download runs can be stored', async () => {
    const path = join(freshDir(), 'results.db');
    const old = new Database(path);
    old.exec(`CREATE TABLE runs (
      id INTEGER PRIMARY KEY AUTOINCREMENT, stored_at TEXT NOT NULL, started_at TEXT NOT NULL,
      test TEXT NOT NULL CHECK (test IN ('icmp', 'frag')), verdict TEXT NOT NULL,
      family TEXT NOT NULL CHECK (family IN ('ipv4', 'ipv6')), client_address TEXT NOT NULL, client_mss INTEGER,
      largest_client_packet INTEGER NOT NULL, test_mtu INTEGER NOT NULL, packet_too_big_sent INTEGER NOT NULL,
      fragments_sent INTEGER NOT NULL, retransmissions INTEGER NOT NULL, reaction_ms REAL, duration_ms REAL NOT NULL,
      result_json TEXT NOT NULL);
      CREATE INDEX runs_by_test_family_verdict ON runs (test, family, verdict, id);`);
    const first = sampleResult({ test: 'frag', verdict: 'blocked' });
    old.prepare(`INSERT INTO runs VALUES (1, '2024-05-01T10:00:00.000Z', @startedAt, 'frag', 'blocked', 'ipv4', '10.1.2.3', 1460, 1500, 576, 0, 7, 3, NULL, 900, @json)`).run({
      startedAt: first.startedAt,
      json: JSON.stringify(first),
    });
    old.pragma('user_version = 1');
    old.close();
    const store = SqliteResultsStore.open(path);
    try {
      assert.deepEqual((await store.list()).map((r) => [r.id, r.test, r.verdict]), [[1, 'frag', 'blocked']]);
      const added = await store.record(sampleResult({ test: 'download', verdict: 'clear' }));
      assert.equal(added.id, 2);
      assert.deepEqual((await store.list({ test: 'download' })).map((r) => r.verdict), ['clear']);
    } finally {
      await store.close();
    }
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma('user_version', { simple: true }), LATEST_SCHEMA_VERSION);
    } finally {
      db.close();
    }
  });

  it('refuses a store written by a newer version of its schema', () => {
    const path = join(freshDir(), 'results.db');
    const db = new Database(path);
    db.pragma('user_version = 7');
    db.close();
    assert.throws(() => SqliteResultsStore.open(path), (e: unknown) => e instanceof Error && e.message.includes(path) && /schema version 7 .*newer/.test(e.message));
  });
});

describe('ResultsStore with truncateClientAddress', () => {
  const ipv4Client = sampleResult({
    explanation: 'Packets from 10.1.2.3 (::ffff:10.1.2.3 on our socket) did not shrink.',
    advice: ['On 10.1.2.3 run: ip route get 10.0.2.2'],
    evidence: { clientAddress: '::ffff:10.1.2.3', clientPort: 54321 },
  });
  const ipv6Client = sampleResult({
    test: 'frag',
    verdict: 'blocked',
    explanation: 'Fragments to fd00:1:2:3::4 were dropped on the way.',
    evidence: { family: 'ipv6', clientAddress: 'fd00:1:2:3::4', clientPort: 43210 },
  });

  it('stores the network only, with no port, and says so in what it returns', async () => {
    const store = SqliteResultsStore.open(':memory:', { truncateClientAddress: true });
    try {
      const v4 = await store.record(ipv4Client);
      const v6 = await store.record(ipv6Client);
      assert.equal(v4.clientAddress, '10.1.2.0/24');
      assert.equal(v4.result.evidence.clientAddress, '10.1.2.0/24');
      assert.equal(v4.result.evidence.clientPort, 0);
      assert.equal(v4.result.explanation, 'Packets from 10.1.2.0/24 (10.1.2.0/24 on our socket) did not shrink.');
      assert.deepEqual(v4.result.advice, ['On 10.1.2.0/24 run: ip route get 10.0.2.2'], 'the server address stays');
      assert.equal(v6.clientAddress, 'fd00:1:2::/48');
      assert.equal(v6.result.explanation, 'Fragments to fd00:1:2::/48 were dropped on the way.');
      assert.deepEqual(await store.list(), [v6, v4]);
      assert.deepEqual((await store.list({ family: 'ipv6' })).map((r) => r.clientAddress), ['fd00:1:2::/48']);
    } finally {
      await store.close();
    }
  });

  it('leaves no full address or port anywhere in the database file, open or closed', async () => {
    const secrets = ['10.1.2.3', 'fd00:1:2:3::4', '54321', '43210'];
    const plainPath = join(freshDir(), 'plain.db');
    const plain = SqliteResultsStore.open(plainPath);
    await plain.record(ipv4Client);
    await plain.record(ipv6Client);
    await plain.close();
    const plainBytes = storeBytes(plainPath);
    for (const s of secrets) assert.ok(plainBytes.includes(s), `control: without truncation ${s} is in the file`);

    const path = join(freshDir(), 'truncated.db');
    const store = SqliteResultsStore.open(path, { truncateClientAddress: true });
    try {
      for (let i = 0; i < 20; i++) {
        await store.record(ipv4Client);
        await store.record(ipv6Client);
      }
      const whileOpen = storeBytes(path);
      assert.ok(whileOpen.includes('10.1.2.0/24'));
      for (const s of secrets) assert.ok(!whileOpen.includes(s), `${s} in the open store's files`);
    } finally {
      await store.close();
    }
    const closed = storeBytes(path);
    assert.ok(closed.includes('fd00:1:2::/48'));
    for (const s of secrets) assert.ok(!closed.includes(s), `${s} in the closed store's file`);
  });

});

describe('redactClientAddress', () => {
  it('replaces every spelling of the address in the texts, and nothing else', () => {
    const redacted = redactClientAddress(
      sampleResult({
        explanation:
          'FD00:1:2:3:0:0:0:4 and fd00:1:2:3::4 and [fd00:1:2:3::4]:43210 and fd00:1:2:3:0::4. are you; fd00:1:2:4::4 is not.',
        advice: ['ping fd00:1:2:3::4%eth0'],
        evidence: { family: 'ipv6', clientAddress: 'fd00:1:2:3::4%eth0', clientPort: 43210 },
      }),
    );
    assert.equal(
      redacted.explanation,
      'fd00:1:2::/48 and fd00:1:2::/48 and [fd00:1:2::/48]:43210 and fd00:1:2::/48. are you; fd00:1:2:4::4 is not.',
    );
    assert.deepEqual(redacted.advice, ['ping fd00:1:2::/48%eth0']);
    assert.equal(redacted.evidence.clientAddress, 'fd00:1:2::/48');
    assert.equal(redacted.evidence.clientPort, 0);
    assert.equal(redacted.evidence.serverAddress, '10.0.2.2');
  });

  it('replaces an IPv4 client in all its spellings, also glued to a port, but not longer addresses', () => {
    const redacted = redactClientAddress(
      sampleResult({
        explanation: '::ffff:10.1.2.3 is 10.1.2.3:54321, is ::FFFF:a01:203, is 10.1.2.3. Not 10.1.2.30 or 110.1.2.3.',
        evidence: { clientAddress: '10.1.2.3' },
      }),
    );
    assert.equal(
      redacted.explanation,
      '10.1.2.0/24 is 10.1.2.0/24:54321, is 10.1.2.0/24, is 10.1.2.0/24. Not 10.1.2.30 or 110.1.2.3.',
    );
  });
});
