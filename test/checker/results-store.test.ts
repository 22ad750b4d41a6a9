import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { redactClientAddress } from '../../src/checker/redact-client-address.js';
import { ResultsStore, type StoredRun } from '../../src/checker/results-store.js';
import type { TestResult } from '../../src/checker/test-result.js';
import { sampleResult, steppingClock } from './results-fixtures.js';

const STORE_MODULE = new URL('../../src/checker/results-store.js', import.meta.url).href;

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

describe('ResultsStore', () => {
  it('gives back what it stored, with ids and the time of storing', () => {
    const store = ResultsStore.open(':memory:', { now: steppingClock('2024-05-01T10:00:00.000Z') });
    try {
      const input = sampleResult({ advice: ['Run `ip route get 10.0.2.2`.', 'Then flush.'] });
      const run = store.record(input);
      assert.equal(run.id, 1);
      assert.equal(run.storedAt, '2024-05-01T10:00:00.000Z');
      assert.equal(run.test, 'icmp');
      assert.equal(run.verdict, 'pass');
      assert.equal(run.family, 'ipv4');
      assert.equal(run.clientAddress, '10.1.2.3');
      assert.deepEqual(run.result, input);
      assert.deepEqual(store.list(), [run]);
      const second = store.record(sampleResult({ test: 'frag', verdict: 'blocked' }));
      assert.equal(second.id, 2);
      assert.equal(second.storedAt, '2024-05-01T10:00:01.000Z');
    } finally {
      store.close();
    }
  });

  it('fills the evidence columns, for those who query the file with sqlite3', () => {
    const path = join(freshDir(), 'results.db');
    const store = ResultsStore.open(path);
    store.record(sampleResult({ evidence: { testMtu: 1280, clientMss: null, reactionMs: 2.5, fragmentsSent: 7 } }));
    store.close();
    const db = new Database(path, { readonly: true });
    try {
      assert.deepEqual(
        db.prepare('SELECT test, verdict, family, client_address, test_mtu, client_mss, reaction_ms, fragments_sent FROM runs').get(),
        { test: 'icmp', verdict: 'pass', family: 'ipv4', client_address: '10.1.2.3', test_mtu: 1280, client_mss: null, reaction_ms: 2.5, fragments_sent: 7 },
      );
      assert.equal(db.pragma('user_version', { simple: true }), 2);
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      db.close();
    }
  });

  it('lists newest first, filtered by test, verdict and family', () => {
    const store = ResultsStore.open(':memory:');
    try {
      const runs = mixedRuns().map((r) => store.record(r));
      const ids = (list: StoredRun[]): number[] => list.map((r) => r.id);
      assert.deepEqual(ids(store.list()), [6, 5, 4, 3, 2, 1]);
      assert.deepEqual(ids(store.list({ test: 'frag' })), [4, 3]);
      assert.deepEqual(ids(store.list({ verdict: 'blackhole' })), [6, 5, 2]);
      assert.deepEqual(ids(store.list({ verdict: 'pass' })), [3, 1], 'pass is a verdict of both tests');
      assert.deepEqual(ids(store.list({ family: 'ipv6' })), [5, 3]);
      assert.deepEqual(ids(store.list({ test: 'icmp', verdict: 'blackhole', family: 'ipv4' })), [6, 2]);
      assert.deepEqual(ids(store.list({ test: 'frag', verdict: 'pass', family: 'ipv4' })), []);
      assert.deepEqual(store.list({ limit: 1, family: 'ipv6' }), [runs[4]]);
      const nothingSent = store.record(sampleResult({ test: 'frag', verdict: 'inconclusive', evidence: { fragmentsSuppressed: 9 } }));
      assert.deepEqual(ids(store.list({ test: 'frag', verdict: 'inconclusive' })), [nothingSent.id]);
      assert.equal(store.list({ test: 'frag', verdict: 'inconclusive' })[0]?.result.evidence.fragmentsSuppressed, 9);
    } finally {
      store.close();
    }
  });

  it('pages with beforeId without gaps or repeats, and returns 50 by default', () => {
    const store = ResultsStore.open(':memory:');
    try {
      for (let i = 0; i < 123; i++) store.record(sampleResult({ verdict: i % 3 === 0 ? 'blackhole' : 'pass' }));
      assert.equal(store.list().length, 50);
      assert.equal(store.list({ limit: 1000 }).length, 123);
      const seen: number[] = [];
      let beforeId: number | undefined;
      for (;;) {
        const page = store.list({ limit: 20, ...(beforeId === undefined ? {} : { beforeId }) });
        if (page.length === 0) break;
        seen.push(...page.map((r) => r.id));
        beforeId = page.at(-1)!.id;
      }
      assert.deepEqual(seen, Array.from({ length: 123 }, (_, i) => 123 - i));
      const blackholes = store.list({ verdict: 'blackhole', beforeId: 10, limit: 2 });
      assert.deepEqual(blackholes.map((r) => r.id), [7, 4]);
    } finally {
      store.close();
    }
  });

  it('refuses limits and beforeIds out of range', () => {
    const store = ResultsStore.open(':memory:');
    try {
      for (const limit of [0, -1, 1001, 2.5, Number.NaN]) assert.throws(() => store.list({ limit }), RangeError, String(limit));
      for (const beforeId of [0, -3, 1.5]) assert.throws(() => store.list({ beforeId }), RangeError, String(beforeId));
      assert.equal(store.list({ limit: 1000 }).length, 0);
    } finally {
      store.close();
    }
  });

  it('counts runs per test, family and verdict', () => {
    const store = ResultsStore.open(':memory:', { now: steppingClock('2024-05-01T10:00:00.000Z') });
    try {
      assert.deepEqual(store.summary(), { total: 0, counts: [], firstStoredAt: null, lastStoredAt: null });
      for (const r of mixedRuns()) store.record(r);
      assert.deepEqual(store.summary(), {
        total: 6,
        counts: [
          { test: 'frag', family: 'ipv4', verdict: 'blocked', count: 1 },
          { test: 'frag', family: 'ipv6', verdict: 'pass', count: 1 },
          { test: 'icmp', family: 'ipv4', verdict: 'blackhole', count: 2 },
          { test: 'icmp', family: 'ipv4', verdict: 'pass', count: 1 },
          { test: 'icmp', family: 'ipv6', verdict: 'blackhole', count: 1 },
        ],
        firstStoredAt: '2024-05-01T10:00:00.000Z',
        lastStoredAt: '2024-05-01T10:00:05.000Z',
      });
    } finally {
      store.close();
    }
  });

  it('keeps its runs across close and reopen, and numbers on', () => {
    const path = join(freshDir(), 'nested', 'deeper', 'results.db');
    const first = ResultsStore.open(path);
    first.record(sampleResult());
    first.record(sampleResult({ verdict: 'blackhole' }));
    first.close();
    first.close();
    const second = ResultsStore.open(path);
    try {
      assert.deepEqual(second.list().map((r) => r.verdict), ['blackhole', 'pass']);
      assert.equal(second.record(sampleResult()).id, 3);
    } finally {
      second.close();
    }
  });

  it('keeps every acknowledged run when the writing process is killed with SIGKILL', async () => {
    const dir = freshDir();
    const path = join(dir, 'results.db');
    const target = 150;
    // Records as fast as it can and says so after each record() returned; pipes are synchronous on Linux, so a
    // line we read was written after its run was acknowledged.
    const writer = `
      import { ResultsStore } from ${JSON.stringify(STORE_MODULE)};
      const store = ResultsStore.open(process.argv[1]);
      const sample = JSON.parse(process.argv[2]);
      for (let n = 1; ; n++) {
        const run = store.record(sample);
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

    const store = ResultsStore.open(path);
    try {
      const storedIds = new Set(store.list({ limit: 1000 }).map((r) => r.id));
      const lost = acknowledgedIds.filter((id) => !storedIds.has(id));
      assert.deepEqual(lost, [], 'acknowledged runs missing after the crash');
      assert.ok(store.summary().total >= acknowledgedIds.length);
    } finally {
      store.close();
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
    assert.throws(() => ResultsStore.open(dir), (e: unknown) => e instanceof Error && e.message === `cannot open results store ${dir}: it is a directory`);
  });

  it('refuses a path below a regular file, naming both', () => {
    const dir = freshDir();
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'not a directory\n');
    const path = join(file, 'sub', 'results.db');
    assert.throws(
      () => ResultsStore.open(path),
      (e: unknown) => e instanceof Error && e.message === `cannot open results store ${path}: ${file} is not a directory`,
    );
  });

  it('refuses a file that is no SQLite database, and leaves it alone', () => {
    const path = join(freshDir(), 'notes.txt');
    const text = 'These are my notes, not a database. '.repeat(200);
    writeFileSync(path, text);
    assert.throws(() => ResultsStore.open(path), (e: unknown) => e instanceof Error && e.message.startsWith(`cannot open results store ${path}: `) && /not a database/.test(e.message));
    assert.equal(readFileSync(path, 'utf8'), text);
  });

  it('migrates a version 1 store (icmp and frag only): its runs stay, ids go on, and /download runs can be stored', () => {
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
    const store = ResultsStore.open(path);
    try {
      assert.deepEqual(store.list().map((r) => [r.id, r.test, r.verdict]), [[1, 'frag', 'blocked']]);
      const added = store.record(sampleResult({ test: 'download', verdict: 'clear' }));
      assert.equal(added.id, 2);
      assert.deepEqual(store.list({ test: 'download' }).map((r) => r.verdict), ['clear']);
    } finally {
      store.close();
    }
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma('user_version', { simple: true }), 2);
    } finally {
      db.close();
    }
  });

  it('refuses a store written by a newer version of its schema', () => {
    const path = join(freshDir(), 'results.db');
    const db = new Database(path);
    db.pragma('user_version = 7');
    db.close();
    assert.throws(() => ResultsStore.open(path), (e: unknown) => e instanceof Error && e.message.includes(path) && /schema version 7 .*newer/.test(e.message));
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

  it('stores the network only, with no port, and says so in what it returns', () => {
    const store = ResultsStore.open(':memory:', { truncateClientAddress: true });
    try {
      const v4 = store.record(ipv4Client);
      const v6 = store.record(ipv6Client);
      assert.equal(v4.clientAddress, '10.1.2.0/24');
      assert.equal(v4.result.evidence.clientAddress, '10.1.2.0/24');
      assert.equal(v4.result.evidence.clientPort, 0);
      assert.equal(v4.result.explanation, 'Packets from 10.1.2.0/24 (10.1.2.0/24 on our socket) did not shrink.');
      assert.deepEqual(v4.result.advice, ['On 10.1.2.0/24 run: ip route get 10.0.2.2'], 'the server address stays');
      assert.equal(v6.clientAddress, 'fd00:1:2::/48');
      assert.equal(v6.result.explanation, 'Fragments to fd00:1:2::/48 were dropped on the way.');
      assert.deepEqual(store.list(), [v6, v4]);
      assert.deepEqual(store.list({ family: 'ipv6' }).map((r) => r.clientAddress), ['fd00:1:2::/48']);
    } finally {
      store.close();
    }
  });

  it('leaves no full address or port anywhere in the database file, open or closed', () => {
    const secrets = ['10.1.2.3', 'fd00:1:2:3::4', '54321', '43210'];
    const plainPath = join(freshDir(), 'plain.db');
    const plain = ResultsStore.open(plainPath);
    plain.record(ipv4Client);
    plain.record(ipv6Client);
    plain.close();
    const plainBytes = storeBytes(plainPath);
    for (const s of secrets) assert.ok(plainBytes.includes(s), `control: without truncation ${s} is in the file`);

    const path = join(freshDir(), 'truncated.db');
    const store = ResultsStore.open(path, { truncateClientAddress: true });
    try {
      for (let i = 0; i < 20; i++) {
        store.record(ipv4Client);
        store.record(ipv6Client);
      }
      const whileOpen = storeBytes(path);
      assert.ok(whileOpen.includes('10.1.2.0/24'));
      for (const s of secrets) assert.ok(!whileOpen.includes(s), `${s} in the open store's files`);
    } finally {
      store.close();
    }
    const closed = storeBytes(path);
    assert.ok(closed.includes('fd00:1:2::/48'));
    for (const s of secrets) assert.ok(!closed.includes(s), `${s} in the closed store's file`);
  });

  it('refuses a client address it cannot truncate, rather than storing it whole', () => {
    const store = ResultsStore.open(':memory:', { truncateClientAddress: true });
    try {
      assert.throws(() => store.record(sampleResult({ evidence: { clientAddress: 'client.example' } })), /"client\.example"/);
      assert.throws(() => store.record(sampleResult({ evidence: { clientAddress: 'fd00::1', family: 'ipv4' } })), /not an ipv4 address/);
      assert.equal(store.summary().total, 0);
    } finally {
      store.close();
    }
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
