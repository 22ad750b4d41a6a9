import { isPostgresUrl, PostgresResultsStore, type PostgresStoreOptions } from './postgres-results-store.js';
import type { ResultsStore } from './results-store.js';
import { SqliteResultsStore } from './sqlite-results-store.js';

/**
 * The store at `location`: a PostgreSQL database for a `postgres://` or `postgresql://` URL (several nodes can share
 * it), else a SQLite file at that path (`:memory:` for a private one). Rejects naming the location and the reason.
 */
export async function openResultsStore(location: string, options: PostgresStoreOptions = {}): Promise<ResultsStore> {
  if (isPostgresUrl(location)) return PostgresResultsStore.open(location, options);
  return SqliteResultsStore.open(location, options);
}
