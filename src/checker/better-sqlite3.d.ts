// The project does not depend on @types/better-sqlite3; this declares only the part of its API the results store
// uses, as documented for better-sqlite3 12.
declare module 'better-sqlite3' {
  namespace Database {
    interface Options {
      readonly readonly?: boolean;
      readonly fileMustExist?: boolean;
      /** Milliseconds to wait for another connection's lock before failing with SQLITE_BUSY. */
      readonly timeout?: number;
    }

    interface RunResult {
      readonly changes: number;
      readonly lastInsertRowid: number | bigint;
    }

    /** Parameters bind by position (`?`) or, given one object, by name (`@name` in the SQL, a key of it). */
    interface Statement {
      run(...params: unknown[]): RunResult;
      /** The first row, undefined when there is none. */
      get(...params: unknown[]): unknown;
      all(...params: unknown[]): unknown[];
    }

    interface PragmaOptions {
      /** Return the first column of the first row instead of an array of rows. */
      readonly simple?: boolean;
    }
  }

  class Database {
    constructor(filename: string, options?: Database.Options);
    readonly name: string;
    readonly open: boolean;
    readonly inTransaction: boolean;
    prepare(source: string): Database.Statement;
    exec(source: string): this;
    pragma(source: string, options?: Database.PragmaOptions): unknown;
    transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
    close(): this;
  }

  export default Database;
}
