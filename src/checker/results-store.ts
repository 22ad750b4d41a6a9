import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { redactClientAddress } from './redact-client-address.js';
import type { CheckerTest, TestResult, Verdict } from './test-result.js';
import type { IpFamilyName } from '../packet/ip-family.js';
import { errorMessage } from '../util/error-message.js';

export interface ResultsStoreOptions {
  /** Keep only the client's network (/24 or /48), never its full address or port; see redactClientAddress. */
  readonly truncateClientAddress?: boolean;
  /** Where storedAt comes from; tests pin it. */
  readonly now?: () => Date;
}

export const DEFAULT_RESULTS_LIMIT = 50;
export const MAX_RESULTS_LIMIT = 1000;

/** Which runs `list` returns, newest first; every given filter must match. */
export interface ResultsQuery {
  /** 1 to MAX_RESULTS_LIMIT, DEFAULT_RESULTS_LIMIT when absent. */
  readonly limit?: number;
  /** Only runs stored before this one: pass the last id of a page to get the next (older) page. */
  readonly beforeId?: number;
  readonly test?: CheckerTest;
  readonly verdict?: Verdict;
  readonly family?: IpFamilyName;
}

export interface StoredRun {
  readonly id: number;
  /** ISO 8601 time the run was recorded. */
  readonly storedAt: string;
  readonly test: CheckerTest;
  readonly verdict: Verdict;
  readonly family: IpFamilyName;
  /** As stored: a prefix such as `10.1.2.0/24` when the store truncates addresses. */
  readonly clientAddress: string;
  /** As stored: with truncated address, scrubbed texts and port 0 when the store truncates addresses. */
  readonly result: TestResult;
}

export interface ResultsCount {
  readonly test: CheckerTest;
  readonly family: IpFamilyName;
  readonly verdict: Verdict;
  readonly count: number;
}

export interface ResultsSummary {
  readonly total: number;
  /** Only the combinations that occurred, ordered by test, family and verdict. */
  readonly counts: readonly ResultsCount[];
  /** storedAt of the earliest and latest run; null while the store is empty. */
  readonly firstStoredAt: string | null;
  readonly lastStoredAt: string | null;
}

/**
 * Version 2 (version 1 allowed only the tests 'icmp' and 'frag'). `result_json` is the whole TestResult as stored; the other columns repeat what queries and
 * summaries filter and count on, and the main evidence, so that plain `sqlite3` can answer questions too.
 * AUTOINCREMENT keeps ids from ever being reused, so a page boundary (beforeId) stays valid.
 */
const SCHEMA_VERSION = 2;
const runsTable = (name: string): string => `
  CREATE TABLE ${name} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stored_at TEXT NOT NULL,
    started_at TEXT NOT NULL,
    test TEXT NOT NULL CHECK (test IN ('icmp', 'frag', 'download')),
    verdict TEXT NOT NULL,
    family TEXT NOT NULL CHECK (family IN ('ipv4', 'ipv6')),
    client_address TEXT NOT NULL,
    client_mss INTEGER,
    largest_client_packet INTEGER NOT NULL,
    test_mtu INTEGER NOT NULL,
    packet_too_big_sent INTEGER NOT NULL,
    fragments_sent INTEGER NOT NULL,
    retransmissions INTEGER NOT NULL,
    reaction_ms REAL,
    duration_ms REAL NOT NULL,
    result_json TEXT NOT NULL
  );`;
const RUNS_INDEX = 'CREATE INDEX runs_by_test_family_verdict ON runs (test, family, verdict, id);';
const SCHEMA = `${runsTable('runs')}\n${RUNS_INDEX}`;
/** A CHECK constraint cannot be altered in SQLite: the table is copied into one with the new constraint. */
const MIGRATE_1_TO_2 = `${runsTable('runs_v2')}
  INSERT INTO runs_v2 SELECT * FROM runs;
  DROP TABLE runs;
  ALTER TABLE runs_v2 RENAME TO runs;
  ${RUNS_INDEX}`;

interface RunRow {
  readonly id: number;
  readonly stored_at: string;
  readonly test: CheckerTest;
  readonly verdict: Verdict;
  readonly family: IpFamilyName;
  readonly client_address: string;
  readonly result_json: string;
}

/** Every checker run, in SQLite. Writes are durable when `record` returns (WAL, synchronous=FULL). */
export class ResultsStore {
  private readonly insert: Database.Statement;
  private readonly truncate: boolean;
  private readonly now: () => Date;

  private constructor(
    private readonly db: Database,
    options: ResultsStoreOptions,
  ) {
    this.truncate = options.truncateClientAddress ?? false;
    this.now = options.now ?? (() => new Date());
    this.insert = db.prepare(`
      INSERT INTO runs (stored_at, started_at, test, verdict, family, client_address, client_mss,
        largest_client_packet, test_mtu, packet_too_big_sent, fragments_sent, retransmissions, reaction_ms,
        duration_ms, result_json)
      VALUES (@storedAt, @startedAt, @test, @verdict, @family, @clientAddress, @clientMss,
        @largestClientPacket, @testMtu, @packetTooBigSent, @fragmentsSent, @retransmissions, @reactionMs,
        @durationMs, @resultJson)`);
  }

  /**
   * Opens or creates the store at `path` (`:memory:` for a private in-memory one), creating its directory.
   * Throws an Error naming the path and the reason when that fails.
   */
  static open(path: string, options: ResultsStoreOptions = {}): ResultsStore {
    let db: Database | undefined;
    try {
      const inMemory = path === ':memory:';
      if (!inMemory) prepareLocation(path);
      db = new Database(path);
      configureDurability(db, inMemory);
      migrate(db);
      return new ResultsStore(db, options);
    } catch (e) {
      if (db?.open) db.close();
      throw new Error(`cannot open results store ${path}: ${reasonOf(e)}`, { cause: e });
    }
  }

  record(result: TestResult): StoredRun {
    const asStored = this.truncate ? redactClientAddress(result) : result;
    const resultJson = JSON.stringify(asStored);
    const storedAt = this.now().toISOString();
    const e = asStored.evidence;
    const { lastInsertRowid } = this.insert.run({
      storedAt,
      startedAt: asStored.startedAt,
      test: asStored.test,
      verdict: asStored.verdict,
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
      resultJson,
    });
    // Parsed back from the JSON so that the caller holds exactly what `list` will return later.
    return {
      id: Number(lastInsertRowid),
      storedAt,
      test: asStored.test,
      verdict: asStored.verdict,
      family: e.family,
      clientAddress: e.clientAddress,
      result: JSON.parse(resultJson) as TestResult,
    };
  }

  /** Newest first. Throws a RangeError for a limit or beforeId out of range (parseResultsQuery checks them). */
  list(query: ResultsQuery = {}): StoredRun[] {
    const limit = query.limit ?? DEFAULT_RESULTS_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RESULTS_LIMIT) {
      throw new RangeError(`limit must be an integer from 1 to ${MAX_RESULTS_LIMIT}, not ${limit}`);
    }
    if (query.beforeId !== undefined && (!Number.isSafeInteger(query.beforeId) || query.beforeId < 1)) {
      throw new RangeError(`beforeId must be a positive integer, not ${query.beforeId}`);
    }
    const conditions: string[] = [];
    const params: Record<string, string | number> = { limit };
    if (query.beforeId !== undefined) {
      conditions.push('id < @beforeId');
      params.beforeId = query.beforeId;
    }
    for (const column of ['test', 'verdict', 'family'] as const) {
      const value = query[column];
      if (value === undefined) continue;
      conditions.push(`${column} = @${column}`);
      params[column] = value;
    }
    const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
    const rows = this.db
      .prepare(
        `SELECT id, stored_at, test, verdict, family, client_address, result_json FROM runs ${where}
         ORDER BY id DESC LIMIT @limit`,
      )
      .all(params) as RunRow[];
    return rows.map(toStoredRun);
  }

  summary(): ResultsSummary {
    // One read transaction: counts and totals from the same snapshot while the checker keeps writing.
    return this.db.transaction(() => {
      const counts = this.db
        .prepare(
          `SELECT test, family, verdict, COUNT(*) AS count FROM runs
           GROUP BY test, family, verdict ORDER BY test, family, verdict`,
        )
        .all() as ResultsCount[];
      const totals = this.db
        .prepare('SELECT COUNT(*) AS total, MIN(stored_at) AS first, MAX(stored_at) AS last FROM runs')
        .get() as { total: number; first: string | null; last: string | null };
      return { total: totals.total, counts, firstStoredAt: totals.first, lastStoredAt: totals.last };
    })();
  }

  close(): void {
    if (this.db.open) this.db.close();
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

function migrate(db: Database): void {
  // IMMEDIATE takes the write lock before reading the version, so two processes creating the same new file
  // do not both try to create the schema.
  db.exec('BEGIN IMMEDIATE');
  try {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`schema version ${version} was written by a newer mtuscope (this one knows up to ${SCHEMA_VERSION})`);
    }
    if (version === 0) {
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } else if (version === 1) {
      db.exec(MIGRATE_1_TO_2);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }
    db.exec('COMMIT');
  } catch (e) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw e;
  }
}

function toStoredRun(row: RunRow): StoredRun {
  return {
    id: row.id,
    storedAt: row.stored_at,
    test: row.test,
    verdict: row.verdict,
    family: row.family,
    clientAddress: row.client_address,
    // Written by `record` from a TestResult.
    result: JSON.parse(row.result_json) as TestResult,
  };
}

function reasonOf(e: unknown): string {
  return errorMessage(e);
}
