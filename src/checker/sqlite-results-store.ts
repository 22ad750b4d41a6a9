import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { newResultId } from './result-id.js';
import { MIGRATIONS_TABLE, pendingMigrations, LATEST_SCHEMA_VERSION } from './results-migrations.js';
import {
  checkedLimit,
  FailureCounter,
  queryConditions,
  RUN_COLUMNS,
  RUN_WITH_TIMELINE_COLUMNS,
  type ResultsQuery,
  type ResultsStore,
  type ResultsStoreOptions,
  type ResultsSummary,
  type RunRow,
  runToStore,
  type StoredRun,
  insertedRun,
  toStoredRun,
} from './results-store.js';
import type { TestResult } from './test-result.js';
import { errorMessage } from '../util/error-message.js';

/** The embedded store: one SQLite file. Writes are durable when `record` resolves (WAL, synchronous=FULL). */
export class SqliteResultsStore implements ResultsStore {
  readonly failures = new FailureCounter();
  private readonly insert: Database.Statement;
  private readonly truncate: boolean;

  private constructor(
    private readonly db: Database,
    readonly location: string,
    private readonly options: ResultsStoreOptions,
  ) {
    this.truncate = options.truncateClientAddress ?? false;
    this.insert = db.prepare(`
      INSERT INTO runs (public_id, node, stored_at, started_at, test, verdict, family, client_address, client_mss,
        largest_client_packet, test_mtu, packet_too_big_sent, fragments_sent, retransmissions, reaction_ms,
        duration_ms, result_json, timeline_json)
      VALUES (@publicId, @node, @storedAt, @startedAt, @test, @verdict, @family, @clientAddress, @clientMss,
        @largestClientPacket, @testMtu, @packetTooBigSent, @fragmentsSent, @retransmissions, @reactionMs,
        @durationMs, @resultJson, @timelineJson)`);
  }

  /**
   * Opens or creates the store at `path` (`:memory:` for a private in-memory one), creating its directory, and
   * brings its schema up to date. Throws an Error naming the path and the reason when that fails.
   */
  static open(path: string, options: ResultsStoreOptions = {}): SqliteResultsStore {
    let db: Database | undefined;
    try {
      const inMemory = path === ':memory:';
      if (!inMemory) prepareLocation(path);
      db = new Database(path);
      configureDurability(db, inMemory);
      migrate(db);
      return new SqliteResultsStore(db, path, options);
    } catch (e) {
      if (db?.open) db.close();
      throw new Error(`cannot open results store ${path}: ${errorMessage(e)}`, { cause: e });
    }
  }

  record(result: TestResult): Promise<StoredRun> {
    return this.failures.count('writes', () => {
      const run = runToStore(result, newResultId(), this.options);
      const e = run.result.evidence;
      const { lastInsertRowid } = this.insert.run({
        publicId: run.publicId,
        node: run.node,
        storedAt: run.storedAt,
        startedAt: run.result.startedAt,
        test: run.result.test,
        verdict: run.result.verdict,
        family: e.family,
        clientAddress: e.clientAddress,
        clientMss: e.clientMss,
        largestClientPacket: e.largestClientPacket,
        testMtu: e.testMtu,
        packetTooBigSent: e.packetTooBigSent,
        fragmentsSent: e.fragmentsSent,
        retransmissions: e.retransmissions,
        reactionMs: e.reactionMs,
        durationMs: e.durationMs,
        resultJson: run.resultJson,
        timelineJson: run.timelineJson,
      });
      return insertedRun(Number(lastInsertRowid), run);
    });
  }

  async list(query: ResultsQuery = {}): Promise<StoredRun[]> {
    const limit = checkedLimit(query);
    return this.failures.count('reads', () => {
      const conditions = queryConditions(query);
      const where = conditions.length === 0 ? '' : `WHERE ${conditions.map((c) => (c.column === 'id' ? 'id < ?' : `${c.column} = ?`)).join(' AND ')}`;
      const rows = this.db
        .prepare(`SELECT ${RUN_COLUMNS} FROM runs ${where} ORDER BY id DESC LIMIT ?`)
        .all(...conditions.map((c) => c.value), limit) as RunRow[];
      return rows.map((row) => toStoredRun(row, this.truncate));
    });
  }

  find(publicId: string): Promise<StoredRun | undefined> {
    return this.failures.count('reads', () => {
      const row = this.db.prepare(`SELECT ${RUN_WITH_TIMELINE_COLUMNS} FROM runs WHERE public_id = ?`).get(publicId) as RunRow | undefined;
      return row === undefined ? undefined : toStoredRun(row, this.truncate);
    });
  }

  summary(): Promise<ResultsSummary> {
    // One read transaction: counts and totals from the same snapshot while the checker keeps writing.
    return this.failures.count('reads', () =>
      this.db.transaction((): ResultsSummary => {
        const counts = this.db
          .prepare(
            `SELECT test, family, verdict, COUNT(*) AS count FROM runs
             GROUP BY test, family, verdict ORDER BY test, family, verdict`,
          )
          .all() as ResultsSummary['counts'];
        const nodes = this.db
          .prepare('SELECT node, COUNT(*) AS count FROM runs GROUP BY node ORDER BY node IS NULL, node')
          .all() as ResultsSummary['nodes'];
        const totals = this.db
          .prepare('SELECT COUNT(*) AS total, MIN(stored_at) AS first, MAX(stored_at) AS last FROM runs')
          .get() as { total: number; first: string | null; last: string | null };
        return { total: totals.total, nodes, counts, firstStoredAt: totals.first, lastStoredAt: totals.last };
      })(),
    );
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }
}

function prepareLocation(path: string): void {
  const directory = dirname(path);
  try {
    mkdirSync(directory, { recursive: true });
  } catch (e) {
    // mkdir reports a file in the way as EEXIST on a directory of the path, which reads as if all were fine.
    const blocker = nearestExisting(directory);
    if (blocker !== undefined && !statSync(blocker).isDirectory()) throw new Error(`${blocker} is not a directory`, { cause: e });
    throw e;
  }
  // SQLite's own message for this is a bare "unable to open database file".
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw new Error('it is a directory');
}

function nearestExisting(path: string): string | undefined {
  for (let p = path; ; p = dirname(p)) {
    if (existsSync(p)) return p;
    if (dirname(p) === p) return undefined;
  }
}

function configureDurability(db: Database, inMemory: boolean): void {
  // WAL: readers (the web page) do not block the checker's writes. synchronous=FULL: a commit is on disk
  // before `record` returns, so an acknowledged run survives a crash or power loss, not only a killed process.
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (!inMemory && mode !== 'wal') throw new Error(`write-ahead logging not available (journal mode stays ${String(mode)})`);
  db.pragma('synchronous = FULL');
}

/**
 * Applies the migrations the file lacks. Stores written before schema_migrations existed were at version 1,
 * recorded in the file header's user_version only; that version is taken over into schema_migrations. The header
 * keeps the latest version too, for tools that read only it.
 */
function migrate(db: Database): void {
  // IMMEDIATE takes the write lock before reading the version, so two processes creating the same new file
  // do not both try to create the schema.
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(MIGRATIONS_TABLE);
    const recorded = (db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as { version: number | null }).version ?? 0;
    const header = db.pragma('user_version', { simple: true }) as number;
    const record = db.prepare('INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)');
    if (recorded === 0 && header === 1) record.run(1, 'runs: one row per test run (taken over from user_version 1)', new Date().toISOString());
    for (const migration of pendingMigrations(Math.max(recorded, header))) {
      db.exec(migration.sqlite);
      record.run(migration.version, migration.description, new Date().toISOString());
    }
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (e) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw e;
  }
}
