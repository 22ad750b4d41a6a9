import pg from 'pg';
import { newResultId } from './result-id.js';
import { MIGRATIONS_TABLE, pendingMigrations } from './results-migrations.js';
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
import type { CheckerTest, TestResult, Verdict } from './test-result.js';
import type { IpFamilyName } from '../packet/ip-family.js';
import { errorMessage } from '../util/error-message.js';

export interface PostgresStoreOptions extends ResultsStoreOptions {
  /** Where the store reports what happens outside of any call (a connection lost while idle). */
  readonly log?: (line: string) => void;
}

/** How long a test's answer may wait for the store: a store that is down or unreachable must not hold verdicts. */
const CONNECT_TIMEOUT_MS = 3000;
const QUERY_TIMEOUT_MS = 5000;
/** Any number, the same for every mtuscope: it serialises schema migrations of nodes starting at once. */
const MIGRATION_LOCK = 0x6d74_7363;

/** Whether `location` names a PostgreSQL database (postgres:// or postgresql://) rather than a SQLite file. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** The URL without its password, for logs and messages. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

/**
 * A store in PostgreSQL, shared by several checker nodes. Connections come from a pool that reconnects by itself: when
 * the database goes away, calls fail (and are counted) until it is back, then work again.
 */
export class PostgresResultsStore implements ResultsStore {
  readonly failures = new FailureCounter();
  private readonly truncate: boolean;

  private constructor(
    private readonly pool: pg.Pool,
    readonly location: string,
    private readonly options: PostgresStoreOptions,
  ) {
    this.truncate = options.truncateClientAddress ?? false;
  }

  /** Connects, and brings the schema up to date. Rejects with an Error naming the URL (without password) and the reason. */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresResultsStore> {
    const location = redactedUrl(url);
    const pool = new pg.Pool({
      connectionString: url,
      max: 4,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      application_name: 'mtuscope serve',
      keepAlive: true,
    });
    // Without a listener, an idle connection that the server closes would end the process.
    pool.on('error', (err) => options.log?.(`results store ${location}: connection lost: ${errorMessage(err)}`));
    try {
      await migrate(pool);
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw new Error(`cannot open results store ${location}: ${errorMessage(e)}`, { cause: e });
    }
    return new PostgresResultsStore(pool, location, options);
  }

  record(result: TestResult): Promise<StoredRun> {
    return this.failures.count('writes', async () => {
      const run = runToStore(result, newResultId(), this.options);
      const e = run.result.evidence;
      const inserted = await this.pool.query<{ id: string }>(
        `INSERT INTO runs (public_id, node, stored_at, started_at, test, verdict, family, client_address, client_mss,
           largest_client_packet, test_mtu, packet_too_big_sent, fragments_sent, retransmissions, reaction_ms,
           duration_ms, result_json, timeline_json)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING id`,
        [
          run.publicId,
          run.node,
          run.storedAt,
          run.result.startedAt,
          run.result.test,
          run.result.verdict,
          e.family,
          e.clientAddress,
          e.clientMss,
          e.largestClientPacket,
          e.testMtu,
          e.packetTooBigSent,
          e.fragmentsSent,
          e.retransmissions,
          e.reactionMs,
          e.durationMs,
          run.resultJson,
          run.timelineJson,
        ],
      );
      return insertedRun(Number(inserted.rows[0]?.id ?? 0), run);
    });
  }

  async list(query: ResultsQuery = {}): Promise<StoredRun[]> {
    const limit = checkedLimit(query);
    return this.failures.count('reads', async () => {
      const conditions = queryConditions(query);
      const where =
        conditions.length === 0
          ? ''
          : `WHERE ${conditions.map((c, i) => (c.column === 'id' ? `id < $${i + 1}` : `${c.column} = $${i + 1}`)).join(' AND ')}`;
      const { rows } = await this.pool.query<RunRow>(
        `SELECT ${RUN_COLUMNS} FROM runs ${where} ORDER BY id DESC LIMIT $${conditions.length + 1}`,
        [...conditions.map((c) => c.value), limit],
      );
      return rows.map((row) => toStoredRun(row, this.truncate));
    });
  }

  find(publicId: string): Promise<StoredRun | undefined> {
    return this.failures.count('reads', async () => {
      const { rows } = await this.pool.query<RunRow>(`SELECT ${RUN_WITH_TIMELINE_COLUMNS} FROM runs WHERE public_id = $1`, [publicId]);
      const row = rows[0];
      return row === undefined ? undefined : toStoredRun(row, this.truncate);
    });
  }

  summary(): Promise<ResultsSummary> {
    return this.failures.count('reads', async () => {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        // One snapshot for counts and totals while the nodes keep writing.
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const counts = await client.query<{ test: CheckerTest; family: IpFamilyName; verdict: Verdict; count: string }>(
          `SELECT test, family, verdict, COUNT(*) AS count FROM runs
           GROUP BY test, family, verdict ORDER BY test, family, verdict`,
        );
        const nodes = await client.query<{ node: string | null; count: string }>(
          'SELECT node, COUNT(*) AS count FROM runs GROUP BY node ORDER BY node IS NULL, node',
        );
        const totals = await client.query<{ total: string; first: string | null; last: string | null }>(
          'SELECT COUNT(*) AS total, MIN(stored_at) AS first, MAX(stored_at) AS last FROM runs',
        );
        await client.query('COMMIT');
        const t = totals.rows[0];
        return {
          total: Number(t?.total ?? 0),
          nodes: nodes.rows.map((r) => ({ node: r.node, count: Number(r.count) })),
          counts: counts.rows.map((r) => ({ test: r.test, family: r.family, verdict: r.verdict, count: Number(r.count) })),
          firstStoredAt: t?.first ?? null,
          lastStoredAt: t?.last ?? null,
        };
      } catch (e) {
        broken = e instanceof Error ? e : new Error(String(e));
        throw e;
      } finally {
        // A connection that failed mid-transaction is discarded, not handed to the next caller.
        client.release(broken);
      }
    });
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }
}

/** Applies the migrations the database lacks, under a lock that other nodes starting at the same time wait for. */
async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(MIGRATIONS_TABLE);
    const { rows } = await client.query<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations');
    for (const migration of pendingMigrations(rows[0]?.version ?? 0)) {
      await client.query(migration.postgres);
      await client.query('INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)', [
        migration.version,
        migration.description,
        new Date().toISOString(),
      ]);
    }
    await client.query('COMMIT');
  } catch (e) {
    broken = e instanceof Error ? e : new Error(String(e));
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release(broken);
  }
}
