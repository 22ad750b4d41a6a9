/**
 * The results store's schema, as the ordered list of changes that build it. Each backend applies the versions a
 * database lacks, in order, each in one transaction with its record in `schema_migrations` (version, description,
 * time applied), so that any database tells which schema it has, and a store written by a newer mtuscope is refused
 * rather than misread. A new version is appended here, never edited once released.
 *
 * Both backends keep the same tables and columns. `result_json` is the whole TestResult as stored; the other columns
 * repeat what queries and summaries filter and count on, and the main evidence, so that plain `sqlite3` or `psql`
 * can answer questions too.
 */
export interface ResultsMigration {
  readonly version: number;
  readonly description: string;
  readonly sqlite: string;
  readonly postgres: string;
}

/** Columns of version 1 after the id, identical in both backends but for the type of floating-point numbers. */
function runColumns(real: string): string {
  return `
    stored_at TEXT NOT NULL,
    started_at TEXT NOT NULL,
    test TEXT NOT NULL CHECK (test IN ('icmp', 'frag')),
    verdict TEXT NOT NULL,
    family TEXT NOT NULL CHECK (family IN ('ipv4', 'ipv6')),
    client_address TEXT NOT NULL,
    client_mss INTEGER,
    largest_client_packet INTEGER NOT NULL,
    test_mtu INTEGER NOT NULL,
    packet_too_big_sent INTEGER NOT NULL,
    fragments_sent INTEGER NOT NULL,
    retransmissions INTEGER NOT NULL,
    reaction_ms ${real},
    duration_ms ${real} NOT NULL,
    result_json TEXT NOT NULL`;
}

/** The tests a run may be of from version 2 on: /download (issue 12) joins /icmp and /frag. */
const TESTS_FROM_V2 = "('icmp', 'frag', 'download')";

export const RESULTS_MIGRATIONS: readonly ResultsMigration[] = [
  {
    version: 1,
    description: 'runs: one row per test run',
    // AUTOINCREMENT (and an identity column) never reuses an id, so that a page boundary (beforeId) stays valid.
    sqlite: `
      CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, ${runColumns('REAL')});
      CREATE INDEX runs_by_test_family_verdict ON runs (test, family, verdict, id);`,
    postgres: `
      CREATE TABLE runs (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ${runColumns('DOUBLE PRECISION')});
      CREATE INDEX runs_by_test_family_verdict ON runs (test, family, verdict, id);`,
  },
  {
    version: 2,
    description: 'the node that ran each test, the unguessable id of its page, and /download runs',
    // SQLite cannot change a CHECK constraint in place: the table is rebuilt, keeping every id and the sequence (so
    // that the id of a deleted last run is not given again).
    // Runs stored before version 2 get a page id too (hex, 128 random bits); their node is unknown (NULL).
    sqlite: `
      CREATE TABLE runs_v2 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ${runColumns('REAL').replace("('icmp', 'frag')", TESTS_FROM_V2)},
        node TEXT,
        public_id TEXT NOT NULL);
      INSERT INTO runs_v2 SELECT *, NULL, lower(hex(randomblob(16))) FROM runs;
      DELETE FROM sqlite_sequence WHERE name = 'runs_v2';
      INSERT INTO sqlite_sequence (name, seq) SELECT 'runs_v2', seq FROM sqlite_sequence WHERE name = 'runs';
      DROP TABLE runs;
      ALTER TABLE runs_v2 RENAME TO runs;
      CREATE INDEX runs_by_test_family_verdict ON runs (test, family, verdict, id);
      CREATE UNIQUE INDEX runs_by_public_id ON runs (public_id);`,
    postgres: `
      ALTER TABLE runs DROP CONSTRAINT runs_test_check;
      ALTER TABLE runs ADD CONSTRAINT runs_test_check CHECK (test IN ${TESTS_FROM_V2});
      ALTER TABLE runs ADD COLUMN node TEXT;
      ALTER TABLE runs ADD COLUMN public_id TEXT;
      UPDATE runs SET public_id = replace(gen_random_uuid()::text, '-', '');
      ALTER TABLE runs ALTER COLUMN public_id SET NOT NULL;
      CREATE UNIQUE INDEX runs_by_public_id ON runs (public_id);`,
  },
  {
    version: 3,
    description: 'the packet timeline of each run',
    // A column of its own rather than inside result_json: lists of many runs do not read it, a result's page does.
    // Runs stored before version 3 have none (NULL).
    sqlite: 'ALTER TABLE runs ADD COLUMN timeline_json TEXT;',
    postgres: 'ALTER TABLE runs ADD COLUMN timeline_json TEXT;',
  },
];

export const LATEST_SCHEMA_VERSION = RESULTS_MIGRATIONS.at(-1)?.version ?? 0;

/** The versions a database at `current` lacks, in order; throws for a database written by a newer mtuscope. */
export function pendingMigrations(current: number): readonly ResultsMigration[] {
  if (current > LATEST_SCHEMA_VERSION) {
    throw new Error(`schema version ${current} was written by a newer mtuscope (this one knows up to ${LATEST_SCHEMA_VERSION})`);
  }
  return RESULTS_MIGRATIONS.filter((m) => m.version > current);
}

export const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  description TEXT NOT NULL,
  applied_at TEXT NOT NULL)`;
