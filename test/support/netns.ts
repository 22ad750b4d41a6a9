/**
 * Throwaway network-namespace topologies for tests that need real kernel traffic.
 *
 * Every namespace is named `mts-<runid>-<node>` (at most 15 characters, so the name also fits an interface name if
 * anyone ever derives one from it). A run id is registered in an owner file under the OS temp dir holding our PID, so
 * `gcStaleNamespaces` can tell leftovers of dead runs from namespaces of runs still going in parallel.
 *
 * Stopgap until src/lab exists: deliberately small. Commands run via execFile/spawn with argv arrays, never a shell.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export const NETNS_PREFIX = 'mts-';
const MAX_NAME_LENGTH = 15;
const RUN_ID_LENGTH = 6;
/** `mts-` + run id + `-` leaves this much for the node name. */
export const MAX_NODE_NAME_LENGTH = MAX_NAME_LENGTH - NETNS_PREFIX.length - RUN_ID_LENGTH - 1;
const OWNER_DIR = join(tmpdir(), 'mtuscope-netns-owners');
const DEFAULT_TIMEOUT_MS = 15_000;

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  /** null when the process was killed by a signal (e.g. on timeout). */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
}

export interface ExecOptions {
  readonly timeoutMs?: number;
  readonly input?: string;
}

export interface LinkEnd {
  readonly node: string;
  readonly ifname: string;
  /** CIDR addresses, e.g. '10.0.1.1/24' or 'fd00:0:0:1::1/64'. IPv6 ones get `nodad`. */
  readonly addresses?: readonly string[];
}

export interface RouteSpec {
  readonly node: string;
  /** 'default' or a CIDR prefix. */
  readonly to: string;
  readonly via: string;
  /** Extra `ip route` arguments, e.g. ['advmss', '1460']. */
  readonly extra?: readonly string[];
}

/** `inFlight`, when given, holds the child while it runs so a teardown can kill it. */
function run(cmd: string, argv: readonly string[], opts: ExecOptions = {}, inFlight?: Set<ChildProcess>): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      argv,
      { timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        inFlight?.delete(child);
        const failure = error as (Error & { code?: number | string; signal?: NodeJS.Signals | null; killed?: boolean }) | null;
        const code = failure === null ? 0 : typeof failure.code === 'number' ? failure.code : null;
        resolve({
          stdout,
          stderr: typeof failure?.code === 'string' ? `${stderr}${failure.message}` : stderr,
          code,
          signal: failure?.signal ?? null,
          timedOut: failure?.killed === true && failure.signal === 'SIGKILL',
        });
      },
    );
    inFlight?.add(child);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

async function mustRun(cmd: string, argv: readonly string[], opts?: ExecOptions, inFlight?: Set<ChildProcess>): Promise<ExecResult> {
  const r = await run(cmd, argv, opts, inFlight);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${argv.join(' ')} failed (code ${String(r.code)}, signal ${String(r.signal)}): ${r.stderr.trim()}`);
  }
  return r;
}

/** A background process started inside a namespace. `ip netns exec` execs in place, so `pid` is the command itself. */
export class BackgroundProcess {
  private stdoutText = '';
  private stderrText = '';
  private exitResult: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly argv: readonly string[],
    private readonly child: ChildProcess,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (this.stdoutText += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.stderrText += s));
    this.exited = new Promise((resolve) => {
      child.on('error', (err) => {
        this.stderrText += String(err);
        this.exitResult ??= { code: null, signal: null };
        resolve(this.exitResult);
      });
      child.on('close', (code, signal) => {
        this.exitResult = { code, signal };
        resolve(this.exitResult);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
  get stdout(): string {
    return this.stdoutText;
  }
  get stderr(): string {
    return this.stderrText;
  }
  get running(): boolean {
    return this.exitResult === null;
  }

  /** Resolves once stdout or stderr matches; rejects if the process exits first or the timeout passes. */
  waitForOutput(pattern: RegExp, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const matches = (): boolean => pattern.test(this.stdoutText) || pattern.test(this.stderrText);
      if (matches()) return resolve();
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        this.child.stdout?.off('data', check);
        this.child.stderr?.off('data', check);
        if (err) reject(err);
        else resolve();
      };
      const check = (): void => {
        if (matches()) finish();
      };
      const timer = setTimeout(
        () => finish(new Error(`timed out waiting for ${String(pattern)} from ${this.argv.join(' ')}; stderr: ${this.stderrText}`)),
        timeoutMs,
      );
      this.child.stdout?.on('data', check);
      this.child.stderr?.on('data', check);
      void this.exited.then(() => {
        if (matches()) finish();
        else finish(new Error(`${this.argv.join(' ')} exited before printing ${String(pattern)}; stderr: ${this.stderrText}`));
      });
    });
  }

  /** Sends `signal` (SIGINT lets tcpdump flush its file), escalating to SIGKILL after graceMs. */
  async stop(signal: NodeJS.Signals = 'SIGINT', graceMs = 3000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.exitResult !== null) return this.exitResult;
    this.signal(signal);
    let timer: NodeJS.Timeout | undefined;
    const escalated = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.signal('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, escalated]);
    clearTimeout(timer);
    return this.exited;
  }

  /** Synchronous kill by PID, for exit handlers. */
  killNow(): void {
    if (this.exitResult === null) this.signal('SIGKILL');
  }

  private signal(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

const liveTopologies = new Set<Topology>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const t of liveTopologies) t.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      for (const t of liveTopologies) t.destroySync();
      // Re-raise with the default action so the exit status still says "killed by signal".
      process.off(sig, handler);
      process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

/** A set of namespaces of one run. Create with `Topology.create`, always `destroy()` in a finally. */
export class Topology {
  private readonly processes = new Set<BackgroundProcess>();
  /** Foreground `exec` children still running, killed on teardown (e.g. a curl interrupted by Ctrl-C). */
  private readonly execs = new Set<ChildProcess>();
  private readonly created: string[] = [];
  private destroyed = false;

  private constructor(
    readonly runId: string,
    readonly nodes: readonly string[],
  ) {}

  static async create(nodes: readonly string[]): Promise<Topology> {
    for (const node of nodes) {
      if (!/^[a-z0-9]+$/.test(node) || node.length > MAX_NODE_NAME_LENGTH) {
        throw new RangeError(`node name "${node}" must be 1-${MAX_NODE_NAME_LENGTH} characters [a-z0-9]`);
      }
    }
    const runId = randomBytes(RUN_ID_LENGTH / 2).toString('hex');
    const topo = new Topology(runId, nodes);
    mkdirSync(OWNER_DIR, { recursive: true });
    writeFileSync(join(OWNER_DIR, runId), String(process.pid));
    installExitHandlers();
    liveTopologies.add(topo);
    try {
      for (const node of nodes) {
        const ns = topo.ns(node);
        await mustRun('ip', ['netns', 'add', ns]);
        topo.created.push(ns);
        await mustRun('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      }
    } catch (err) {
      await topo.destroy();
      throw err;
    }
    return topo;
  }

  /** The prefix shared by all namespaces of this run (for `ip netns list` checks). */
  get prefix(): string {
    return `${NETNS_PREFIX}${this.runId}-`;
  }

  ns(node: string): string {
    if (!this.nodes.includes(node)) throw new RangeError(`unknown node "${node}"`);
    return `${this.prefix}${node}`;
  }

  /**
   * A veth pair created straight inside both namespaces, so interface names only need to be unique per namespace and
   * parallel runs never collide in the root namespace.
   */
  async link(a: LinkEnd, b: LinkEnd, mtu: number): Promise<void> {
    const m = String(mtu);
    await mustRun('ip', ['-n', this.ns(a.node), 'link', 'add', a.ifname, 'mtu', m, 'type', 'veth', 'peer', 'name', b.ifname, 'mtu', m, 'netns', this.ns(b.node)]);
    for (const end of [a, b]) {
      const ns = this.ns(end.node);
      for (const cidr of end.addresses ?? []) {
        const extra = cidr.includes(':') ? ['nodad'] : [];
        await mustRun('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', end.ifname, ...extra]);
      }
      await mustRun('ip', ['-n', ns, 'link', 'set', end.ifname, 'up']);
    }
    for (const end of [a, b]) if ((end.addresses ?? []).some((x) => x.includes(':'))) await this.waitIpv6Ready(end);
  }

  /**
   * IPv6 ignores a freshly raised veth for a few milliseconds (until the carrier event makes it "ready"; a ping in that
   * window is lost). The fe80::/64 route appears at that moment, so it is the signal to wait for.
   */
  private async waitIpv6Ready(end: LinkEnd, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const r = await mustRun('ip', ['-n', this.ns(end.node), '-6', 'route', 'show', 'dev', end.ifname]);
      if (r.stdout.includes('fe80::/64')) return;
      if (Date.now() > deadline) throw new Error(`IPv6 on ${end.node}:${end.ifname} not ready after ${timeoutMs} ms`);
      await delay(10);
    }
  }

  async addAddress(node: string, ifname: string, cidr: string): Promise<void> {
    const extra = cidr.includes(':') ? ['nodad'] : [];
    await mustRun('ip', ['-n', this.ns(node), 'addr', 'add', cidr, 'dev', ifname, ...extra]);
  }

  async route(r: RouteSpec): Promise<void> {
    const family = r.via.includes(':') ? '-6' : '-4';
    await mustRun('ip', [family, '-n', this.ns(r.node), 'route', 'add', r.to, 'via', r.via, ...(r.extra ?? [])]);
  }

  async enableForwarding(node: string): Promise<void> {
    await this.mustExec(node, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  }

  /** `ip netns exec`; never throws for a non-zero exit, see `code`/`timedOut`. */
  exec(node: string, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', this.ns(node), ...argv], opts, this.execs);
  }

  /** Like exec, but throws unless the command exits 0. */
  mustExec(node: string, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    return mustRun('ip', ['netns', 'exec', this.ns(node), ...argv], opts, this.execs);
  }

  /** Starts a background process; it is killed by `destroy()` if still running. */
  spawn(node: string, argv: readonly string[]): BackgroundProcess {
    if (this.destroyed) throw new Error('topology already destroyed');
    const full = ['netns', 'exec', this.ns(node), ...argv];
    const proc = new BackgroundProcess(full, spawn('ip', full, { stdio: ['ignore', 'pipe', 'pipe'] }));
    this.processes.add(proc);
    return proc;
  }

  /** Stops remaining processes (SIGTERM, then SIGKILL) and deletes the namespaces, which also deletes their veths. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.killExecs();
    await Promise.all([...this.processes].map((p) => p.stop('SIGTERM', 1000)));
    for (const ns of this.created) await run('ip', ['netns', 'del', ns]);
    this.forget();
  }

  /** For exit/signal handlers, where nothing asynchronous runs any more. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.killExecs();
    for (const p of this.processes) p.killNow();
    for (const ns of this.created) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 });
      } catch {
        // Best effort: gcStaleNamespaces picks up whatever is left.
      }
    }
    this.forget();
  }

  private killExecs(): void {
    for (const child of this.execs) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }

  private forget(): void {
    liveTopologies.delete(this);
    rmSync(join(OWNER_DIR, this.runId), { force: true });
  }
}

export async function listNamespaces(): Promise<string[]> {
  const r = await mustRun('ip', ['netns', 'list']);
  // Lines look like "name" or "name (id: 3)".
  return r.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name !== '');
}

function ownerAlive(runId: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(OWNER_DIR, runId), 'utf8'));
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes namespaces starting with `prefix` (which must start with `mts-`) whose owning process is gone, so parallel
 * live runs are left alone. Returns the deleted names. Processes still inside are not hunted down (they may not be ours
 * to kill); they only keep an unnamed, isolated namespace alive.
 */
export async function gcStaleNamespaces(prefix: string = NETNS_PREFIX): Promise<string[]> {
  if (!prefix.startsWith(NETNS_PREFIX)) throw new RangeError(`prefix must start with "${NETNS_PREFIX}"`);
  const deleted: string[] = [];
  for (const name of await listNamespaces()) {
    if (!name.startsWith(prefix)) continue;
    const runId = name.slice(NETNS_PREFIX.length).split('-')[0] ?? '';
    if (ownerAlive(runId)) continue;
    if ((await run('ip', ['netns', 'del', name])).code === 0) deleted.push(name);
  }
  let owners: string[] = [];
  try {
    owners = readdirSync(OWNER_DIR);
  } catch {
    // No owner dir yet.
  }
  for (const runId of owners) if (!ownerAlive(runId)) rmSync(join(OWNER_DIR, runId), { force: true });
  return deleted;
}
