/**
 * The results store: every checker run, recorded and read back the same way whatever holds it. SQLite
 * (sqlite-results-store.ts) is the embedded default; PostgreSQL (postgres-results-store.ts) lets several checker
 * nodes share one store. Both keep the schema of results-migrations.ts; open-results-store.ts picks one.
 */
import { redactClientAddress } from './redact-client-address.js';
import type { CheckerTest, TestResult, Verdict } from './test-result.js';
import type { IpFamilyName } from '../packet/ip-family.js';
import type { PacketTimeline } from '../engine/timeline-event.js';

export interface ResultsStoreOptions {
  /** Keep only the client's network (/24 or /48), never its full address or port; see redactClientAddress. */
  readonly truncateClientAddress?: boolean;
  /** Where storedAt comes from; tests pin it. */
  readonly now?: () => Date;
  /** Recorded with every run, so that a store shared by several nodes tells which node ran each test. */
  readonly nodeName?: string;
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
  /** Numbered by the store in the order runs were stored; used for paging. */
  readonly id: number;
  /** The unguessable id of the run's own page, /r/ID (result-id.ts). /api/results leaves it out. */
  readonly publicId: string;
  /** The node that ran the test (--node-name); null for runs stored before nodes were recorded. */
  readonly node: string | null;
  /** ISO 8601 time the run was recorded. */
  readonly storedAt: string;
  readonly test: CheckerTest;
  readonly verdict: Verdict;
  readonly family: IpFamilyName;
  /** A prefix such as `10.1.2.0/24` when the store truncates addresses (also for runs another node stored whole). */
  readonly clientAddress: string;
  /** With truncated address, scrubbed texts and port 0 when the store truncates addresses, as clientAddress. */
  readonly result: TestResult;
}

export interface ResultsCount {
  readonly test: CheckerTest;
  readonly family: IpFamilyName;
  readonly verdict: Verdict;
  readonly count: number;
}

export interface NodeCount {
  readonly node: string | null;
  readonly count: number;
}

export interface ResultsSummary {
  readonly total: number;
  /** Runs per node, ordered by node name (null, runs stored before nodes were recorded, last). */
  readonly nodes: readonly NodeCount[];
  /** Only the combinations that occurred, ordered by test, family and verdict. */
  readonly counts: readonly ResultsCount[];
  /** storedAt of the earliest and latest run; null while the store is empty. */
  readonly firstStoredAt: string | null;
  readonly lastStoredAt: string | null;
}

/** Operations of a store that failed since it was opened: the service counts them for its operators. */
export interface StoreFailureCounts {
  /** Runs not stored (their clients got their verdicts all the same). */
  readonly writes: number;
  /** Reads (lists, summaries, pages) that failed. */
  readonly reads: number;
}

/**
 * Every checker run, stored and read back. Each method rejects when the store fails (its database is down, say),
 * and counts the failure in `failures`; the store carries on, and the next call tries again.
 */
export interface ResultsStore {
  /** Where the runs are, for the log: a file path, or a PostgreSQL URL without its password. */
  readonly location: string;
  readonly failures: StoreFailureCounts;
  /** Resolves once the run is stored (durably for SQLite: WAL, synchronous=FULL; committed for PostgreSQL). */
  record(result: TestResult): Promise<StoredRun>;
  /** Newest first. Rejects with a RangeError for a limit or beforeId out of range (parseResultsQuery checks them). */
  list(query?: ResultsQuery): Promise<StoredRun[]>;
  /** The run whose page id is `publicId`, undefined when there is none. */
  find(publicId: string): Promise<StoredRun | undefined>;
  summary(): Promise<ResultsSummary>;
  close(): Promise<void>;
}

/** Counts the failures of a store's operations (ResultsStore.failures). */
export class FailureCounter implements StoreFailureCounts {
  writes = 0;
  reads = 0;

  /** Runs `operation`, counting it as failed (of `kind`) if it throws or rejects. */
  async count<T>(kind: keyof StoreFailureCounts, operation: () => T | Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (e) {
      this[kind]++;
      throw e;
    }
  }
}

/** A run as `record` stores it: what goes into the columns. */
export interface RunToStore {
  readonly publicId: string;
  readonly node: string | null;
  readonly storedAt: string;
  /** Without its timeline, which goes into a column of its own. */
  readonly result: TestResult;
  readonly resultJson: string;
  /** null when the result has no timeline. */
  readonly timelineJson: string | null;
}

/** The run as a store with these options keeps it: truncated when asked, and as JSON. */
export function runToStore(result: TestResult, publicId: string, options: ResultsStoreOptions): RunToStore {
  const { timeline, ...withoutTimeline } = result;
  const asStored = options.truncateClientAddress === true ? redactClientAddress(withoutTimeline) : withoutTimeline;
  return {
    publicId,
    node: options.nodeName ?? null,
    storedAt: (options.now ?? (() => new Date()))().toISOString(),
    result: asStored,
    resultJson: JSON.stringify(asStored),
    timelineJson: timeline === undefined ? null : JSON.stringify(timeline),
  };
}

/** The columns of a stored run, as both backends read them. */
export interface RunRow {
  readonly id: number | string;
  readonly public_id: string;
  readonly node: string | null;
  readonly stored_at: string;
  readonly test: CheckerTest;
  readonly verdict: Verdict;
  readonly family: IpFamilyName;
  readonly client_address: string;
  readonly result_json: string;
  /** Read by `find` only (RUN_WITH_TIMELINE_COLUMNS); null for runs stored without a timeline. */
  readonly timeline_json?: string | null;
}

export const RUN_COLUMNS = 'id, public_id, node, stored_at, test, verdict, family, client_address, result_json';
/** A run with its packet timeline: what a result's own page shows. Lists leave the timeline out (RUN_COLUMNS). */
export const RUN_WITH_TIMELINE_COLUMNS = `${RUN_COLUMNS}, timeline_json`;

/**
 * The run as this store shows it. A store that truncates addresses shows networks only, also for runs another node
 * (or an earlier run of the service) stored whole: a shared store may hold both.
 */
export function toStoredRun(row: RunRow, truncate: boolean): StoredRun {
  // Written by `record` from a TestResult, and its timeline.
  let result = JSON.parse(row.result_json) as TestResult;
  if (typeof row.timeline_json === 'string') result = { ...result, timeline: JSON.parse(row.timeline_json) as PacketTimeline };
  let clientAddress = row.client_address;
  if (truncate && !clientAddress.includes('/')) {
    result = redactClientAddress(result);
    clientAddress = result.evidence.clientAddress;
  }
  return {
    id: Number(row.id),
    publicId: row.public_id,
    node: row.node,
    storedAt: row.stored_at,
    test: row.test,
    verdict: row.verdict,
    family: row.family,
    clientAddress,
    result,
  };
}

/**
 * The run just inserted under `id`, built from what was stored so that the caller holds exactly what `list` will
 * return later (never truncated again: `run` already is when the store truncates).
 */
export function insertedRun(id: number, run: RunToStore): StoredRun {
  const e = run.result.evidence;
  return toStoredRun(
    {
      id,
      public_id: run.publicId,
      node: run.node,
      stored_at: run.storedAt,
      test: run.result.test,
      verdict: run.result.verdict,
      family: e.family,
      client_address: e.clientAddress,
      result_json: run.resultJson,
      timeline_json: run.timelineJson,
    },
    false,
  );
}

/** Throws the RangeError `list` promises for a query out of range; returns the limit to use. */
export function checkedLimit(query: ResultsQuery): number {
  const limit = query.limit ?? DEFAULT_RESULTS_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RESULTS_LIMIT) {
    throw new RangeError(`limit must be an integer from 1 to ${MAX_RESULTS_LIMIT}, not ${limit}`);
  }
  if (query.beforeId !== undefined && (!Number.isSafeInteger(query.beforeId) || query.beforeId < 1)) {
    throw new RangeError(`beforeId must be a positive integer, not ${query.beforeId}`);
  }
  return limit;
}

/** The filters of a query, as (column, value) pairs for a WHERE clause; `beforeId` as `id < value`. */
export function queryConditions(query: ResultsQuery): { column: 'id' | 'test' | 'verdict' | 'family'; value: string | number }[] {
  const conditions: { column: 'id' | 'test' | 'verdict' | 'family'; value: string | number }[] = [];
  if (query.beforeId !== undefined) conditions.push({ column: 'id', value: query.beforeId });
  for (const column of ['test', 'verdict', 'family'] as const) {
    const value = query[column];
    if (value !== undefined) conditions.push({ column, value });
  }
  return conditions;
}
