/**
 * The two backends of the results store, for suites that must pass against both: SQLite files in a temp dir, and
 * databases of a private PostgreSQL server (test/support/postgres-server.ts; needs root to run it as `postgres`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openResultsStore } from '../../src/checker/open-results-store.js';
import type { ResultsStore, ResultsStoreOptions } from '../../src/checker/results-store.js';
import { isRoot } from '../support/root.js';
import { type PostgresServer, startPostgres } from '../support/postgres-server.js';

export interface StoreBackend {
  readonly name: 'SQLite' | 'PostgreSQL';
  /** For describe(): skips the suite where the backend cannot run. */
  readonly skip: string | false;
  /** Call inside describe(): starts what the backend needs before the suite and removes it after. */
  setUp(): void;
  /** A new, empty store location (file path or URL); several opens of it see the same runs. */
  freshLocation(): Promise<string>;
  open(location: string, options?: ResultsStoreOptions): Promise<ResultsStore>;
  /** Runs `sql` on the database at `location` directly, bypassing the store; the rows it returns. */
  rawQuery(location: string, sql: string): Promise<Record<string, unknown>[]>;
  /** The running server, for suites that stop it (PostgreSQL only). */
  readonly server: PostgresServer | undefined;
}

function sqliteBackend(): StoreBackend {
  let dir = '';
  let count = 0;
  return {
    name: 'SQLite',
    skip: false,
    server: undefined,
    setUp() {
      before(() => {
        dir = mkdtempSync(join(tmpdir(), 'mtuscope-results-'));
      });
      after(() => rmSync(dir, { recursive: true, force: true }));
    },
    freshLocation: () => Promise.resolve(join(dir, `results-${++count}.sqlite`)),
    rawQuery(location, sql) {
      const db = new Database(location);
      try {
        if (/^\s*select/i.test(sql)) return Promise.resolve(db.prepare(sql).all() as Record<string, unknown>[]);
        db.exec(sql);
        return Promise.resolve([]);
      } finally {
        db.close();
      }
    },
    open: (location, options) => openResultsStore(location, options),
  };
}

function postgresBackend(): StoreBackend {
  let server: PostgresServer | undefined;
  return {
    name: 'PostgreSQL',
    skip: isRoot ? false : 'needs root to run a private PostgreSQL server as the postgres user',
    get server() {
      return server;
    },
    setUp() {
      before(async () => {
        server = await startPostgres();
      });
      after(async () => {
        await server?.stop();
      });
    },
    freshLocation: () => {
      if (server === undefined) throw new Error('the PostgreSQL server is not running');
      return server.createDatabase();
    },
    open: (location, options) => openResultsStore(location, options),
    async rawQuery(location, sql) {
      const client = new pg.Client({ connectionString: location });
      await client.connect();
      try {
        return (await client.query<Record<string, unknown>>(sql)).rows;
      } finally {
        await client.end();
      }
    },
  };
}

export function storeBackends(): StoreBackend[] {
  return [sqliteBackend(), postgresBackend()];
}

/** A store in a fresh location of `backend`. */
export async function freshStore(backend: StoreBackend, options?: ResultsStoreOptions): Promise<ResultsStore> {
  return backend.open(await backend.freshLocation(), options);
}
