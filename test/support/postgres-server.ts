/**
 * A private PostgreSQL server for tests (Debian's postgresql, its newest installed version): a fresh data directory in a temp dir, a Unix socket
 * in that dir, and TCP on the given address only (none by default), run as the unprivileged `postgres` user, since
 * postgres refuses to run as root. stop() (and, should a test forget it or fail before, the process's exit) stops the
 * server and removes the directory.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** Where Debian installs each PostgreSQL version's programs (/usr/lib/postgresql/VERSION/bin). */
const DEBIAN_POSTGRESQL = '/usr/lib/postgresql';

function serverPrograms(): string {
  const versions = existsSync(DEBIAN_POSTGRESQL) ? readdirSync(DEBIAN_POSTGRESQL).filter((v) => /^\d+$/.test(v)) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined) throw new Error(`no PostgreSQL server under ${DEBIAN_POSTGRESQL} (the set-up installs Debian's postgresql: bash scripts/setup.sh)`);
  return join(DEBIAN_POSTGRESQL, newest, 'bin');
}

const BIN = serverPrograms();
const SERVER_USER = 'postgres';
/** The superuser the tests connect as (trust authentication: the server is private to the test). */
const DB_USER = 'mtuscope';

export interface PostgresServerOptions {
  /** Also listen on this address (e.g. a lab node's), port `port`; reachable only where that address is. */
  readonly listenAddress?: string;
  readonly port?: number;
  /** Put before the server's command line, e.g. `ip netns exec NS` to run it inside a lab node. */
  readonly commandPrefix?: readonly string[];
}

export interface PostgresServer {
  readonly dir: string;
  readonly port: number;
  /** Whether the server process runs (stopServer() and startServer() switch it off and on, keeping the data). */
  readonly running: boolean;
  /** A new empty database; its URL by the Unix socket (usable from any namespace of this host). */
  createDatabase(name?: string): Promise<string>;
  /** The URL of database `name` over TCP at `address` (listenAddress), as a node elsewhere reaches it. */
  tcpUrl(name: string, address?: string): string;
  /** Fast shutdown (clients disconnected), data kept. */
  stopServer(): Promise<void>;
  /** Starts it again on the same data, port and addresses; resolves once it accepts connections. */
  startServer(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

let databaseCount = 0;

export async function startPostgres(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const dir = mkdtempSync(join(tmpdir(), 'mtuscope-pg-'));
  const dataDir = join(dir, 'data');
  const port = options.port ?? 5432;
  const { uid, gid } = userIds(SERVER_USER);
  let child: ChildProcess | undefined;
  let stderr = '';
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  const asServerUser = (argv: readonly string[]): string[] => ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', ...argv];
  const socketUrl = (name: string): string => `postgres://${DB_USER}@/${name}?host=${encodeURIComponent(dir)}&port=${port}`;

  const startServer = async (): Promise<void> => {
    const listen = options.listenAddress ?? '';
    const argv = [
      ...(options.commandPrefix ?? []),
      ...asServerUser([join(BIN, 'postgres'), '-D', dataDir, '-k', dir, '-p', String(port), '-c', `listen_addresses=${listen}`, '-c', 'fsync=off']),
    ];
    stderr = '';
    const started = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    started.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) => started.once('exit', () => resolve()));
    child = started;
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (started.exitCode !== null || started.signalCode !== null) throw new Error(`postgres exited at start: ${stderr}`);
      const client = new pg.Client({ connectionString: socketUrl('postgres'), connectionTimeoutMillis: 1000 });
      try {
        await client.connect();
        await client.end();
        break;
      } catch (e) {
        await client.end().catch(() => undefined);
        if (Date.now() > deadline) {
          started.kill('SIGKILL');
          await exited;
          throw new Error(`postgres did not accept connections within 20 s: ${String(e)}\n${stderr}`, { cause: e });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  const stopServer = async (): Promise<void> => {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    // SIGINT: fast shutdown, which does not wait for clients to disconnect (SIGTERM would).
    running.kill('SIGINT');
    const timer = setTimeout(() => running.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    chownSync(dir, uid, gid);
    execFileSync(asServerUser([join(BIN, 'initdb')])[0]!, [...asServerUser([join(BIN, 'initdb')]).slice(1), '-D', dataDir, '-U', DB_USER, '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: dir,
    });
    // Clients from the lab's networks (and only those) may connect, without password: the server is the test's own.
    appendFileSync(join(dataDir, 'pg_hba.conf'), 'host all all 10.0.0.0/8 trust\nhost all all fd00::/8 trust\n');
    await startServer();
  } catch (e) {
    await stopServer().catch(() => undefined);
    killOnExit();
    process.off('exit', killOnExit);
    throw e;
  }

  return {
    dir,
    port,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async createDatabase(name = `results_${process.pid}_${++databaseCount}`) {
      const client = new pg.Client({ connectionString: socketUrl('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return socketUrl(name);
    },
    tcpUrl(name, address = options.listenAddress) {
      if (address === undefined) throw new Error('the server listens on no TCP address');
      const host = address.includes(':') ? `[${address}]` : address;
      return `postgres://${DB_USER}@${host}:${port}/${name}`;
    },
    stopServer,
    startServer,
    async stop() {
      try {
        await stopServer();
      } finally {
        rmSync(dir, { recursive: true, force: true });
        process.off('exit', killOnExit);
      }
    },
  };
}

function userIds(name: string): { uid: number; gid: number } {
  const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
  const [, , uid, gid] = line.split(':');
  if (uid === undefined || gid === undefined) throw new Error(`no user ${name} (${userInfo().username} runs the tests)`);
  return { uid: Number(uid), gid: Number(gid) };
}
