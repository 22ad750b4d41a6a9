/**
 * Where and why the kernel dropped packets: the `skb:kfree_skb` tracepoint, read through a tracefs instance of our
 * own (`instances/mtl-<lab id>`), so other users of tracefs and parallel labs keep their own buffers and settings.
 *
 * The tracepoint is global, not per network namespace: a trace taken during a lab run also shows drops caused by
 * anything else happening on the machine at the time. Runs are kept short for that reason, and reports say so.
 *
 * tracefs is used when mounted at /sys/kernel/tracing; otherwise it is mounted there (with the source name
 * "mtuscope", which marks the mount as ours) and unmounted again by the last of our traces to finish, i.e. when no
 * instance of anyone remains. A crashed run leaves its instance behind; `removeStaleDropTraces` (for `lab gc`)
 * removes those.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { forgetOnExit, tearDownOnExit, type SyncTeardown } from '../host/exit-teardown.js';
import { commandFailure, runCommand, runCommandSync } from '../host/process-runner.js';
import { errorMessage } from '../util/error-message.js';

export const TRACEFS_DIR = '/sys/kernel/tracing';
const MOUNT_SOURCE = 'mtuscope';
export const DROP_TRACE_PREFIX = 'mtl-';
/** Per CPU; a short scenario run produces a few thousand events at most (about 100 bytes each). */
const BUFFER_KB = 4096;

/**
 * Reasons that are bookkeeping rather than packet loss: data still queued on a socket being closed, unix-socket
 * housekeeping. Every node process and curl that exits produces them.
 */
const NOISE_REASONS = ['SOCKET_CLOSE', 'UNIX_DISCONNECT', 'UNIX_SKIP_OOB', 'QUEUE_PURGE'];
/**
 * Multicast (MLD, neighbour discovery to groups nobody joined) that every fresh namespace's interfaces exchange and
 * discard; never the traffic a scenario is about.
 */
const NOISE_LOCATIONS = ['ip6_mc_input'];

export interface DropEvent {
  /** Seconds since boot, as the trace clock says. */
  readonly time: number;
  readonly cpu: number;
  /** `symbol+0xoff/0xlen` as the kernel printed it. */
  readonly location: string;
  /** The function, without offset and compiler suffixes such as `.constprop.0`. */
  readonly function: string;
  readonly reason: string;
  /** Ethertype name: IPv4, IPv6, ARP, or hex. */
  readonly protocol: string;
}

export interface DropCount {
  readonly function: string;
  readonly reason: string;
  readonly protocol: string;
  readonly count: number;
  /** One raw location seen (function+offset), for looking up the exact line. */
  readonly location: string;
}

export type DropTraceResult =
  | {
      readonly available: true;
      readonly instance: string;
      readonly events: number;
      /** Events the ring buffer overwrote before we read it (0 unless a run was very busy). */
      readonly overrun: number;
      readonly drops: readonly DropCount[];
      readonly excludedReasons: readonly string[];
      readonly note: string;
    }
  | { readonly available: false; readonly error: string };

export const GLOBAL_TRACE_NOTE =
  'skb:kfree_skb is machine-wide (not per namespace): drops from other activity on this machine during the run may appear.';

const ETHERTYPES: Readonly<Record<number, string>> = { 0x0800: 'IPv4', 0x86dd: 'IPv6', 0x0806: 'ARP' };

const LINE = /\[(\d+)\][^:]*?\s(\d+\.\d+):\s+kfree_skb:.*?\bprotocol=(\d+)\s+location=(\S+)\s+reason:\s+(\S+)/;

/** One line of a tracefs `trace` file, or undefined for headers and other events. */
export function parseKfreeSkbLine(line: string): DropEvent | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  const location = m[4]!;
  const proto = Number(m[3]);
  return {
    cpu: Number(m[1]),
    time: Number(m[2]),
    location,
    function: functionOf(location),
    reason: m[5]!,
    protocol: ETHERTYPES[proto] ?? `0x${proto.toString(16).padStart(4, '0')}`,
  };
}

function functionOf(location: string): string {
  const symbol = location.split('+')[0] ?? location;
  // Modules print "sym [module]"; the LINE pattern stops at the space, so only compiler suffixes remain.
  return symbol.replace(/(\.(constprop|isra|part|cold|llvm)(\.\d+)?)+$/, '');
}

/** Counts by function, reason and protocol, most frequent first. */
export function summarizeDrops(events: readonly DropEvent[]): DropCount[] {
  const counts = new Map<string, { function: string; reason: string; protocol: string; count: number; location: string }>();
  for (const e of events) {
    const key = `${e.function}\0${e.reason}\0${e.protocol}`;
    const c = counts.get(key);
    if (c) c.count++;
    else counts.set(key, { function: e.function, reason: e.reason, protocol: e.protocol, count: 1, location: e.location });
  }
  return [...counts.values()].sort((a, b) => b.count - a.count || a.function.localeCompare(b.function));
}

/** Reason names and numbers from the event's print format (they differ between kernel versions). */
export function dropReasonNumbers(format: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of format.matchAll(/\{\s*(\d+),\s*"([A-Z0-9_]+)"\s*\}/g)) out.set(m[2]!, Number(m[1]));
  return out;
}

async function mustRun(cmd: string, argv: readonly string[]): Promise<void> {
  const r = await runCommand(cmd, argv, { timeoutMs: 10_000 });
  if (r.code !== 0) throw commandFailure('', cmd, argv, r);
}

function tracefsMounted(): boolean {
  return existsSync(join(TRACEFS_DIR, 'instances'));
}

async function ensureTracefs(): Promise<void> {
  if (tracefsMounted()) return;
  try {
    await mustRun('mount', ['-t', 'tracefs', MOUNT_SOURCE, TRACEFS_DIR]);
  } catch (err) {
    // A parallel run may have mounted it in the meantime.
    if (!tracefsMounted()) throw err;
  }
}

function mountedByUs(): boolean {
  try {
    return readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .some((line) => {
        const [source, target, type] = line.split(' ');
        return source === MOUNT_SOURCE && target === TRACEFS_DIR && type === 'tracefs';
      });
  } catch {
    return false;
  }
}

/** Unmounts tracefs if we mounted it and no instance (ours or anyone's) is left in it. */
function releaseTracefs(): void {
  if (!mountedByUs()) return;
  try {
    if (readdirSync(join(TRACEFS_DIR, 'instances')).length > 0) return;
  } catch {
    return;
  }
  // Busy (someone started using it meanwhile): it stays mounted, which is harmless.
  runCommandSync('umount', [TRACEFS_DIR], { timeoutMs: 5000 });
}

/**
 * A running kfree_skb trace. `start`, run traffic, then always `stop` (a `finally`); an instance still live when the
 * process exits or gets SIGINT/SIGTERM/SIGHUP is removed then (host/exit-teardown).
 */
export class DropTrace implements SyncTeardown {
  private stopped = false;
  private live = true;

  private constructor(
    readonly instance: string,
    readonly excludedReasons: readonly string[],
  ) {}

  get dir(): string {
    return join(TRACEFS_DIR, 'instances', this.instance);
  }

  /** `name` becomes the instance name; it must start with `mtl-` (so gc recognises it), e.g. `mtl-<lab id>`. */
  static async start(name: string): Promise<DropTrace> {
    if (!name.startsWith(DROP_TRACE_PREFIX) || !/^[a-z0-9-]{1,64}$/.test(name)) {
      throw new RangeError(`trace instance name "${name}" must be [a-z0-9-] and start with "${DROP_TRACE_PREFIX}"`);
    }
    await ensureTracefs();
    const dir = join(TRACEFS_DIR, 'instances', name);
    try {
      await mkdir(dir);
    } catch (err) {
      // Unmounted by a parallel run between our check and mkdir: mount again once.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await ensureTracefs();
      await mkdir(dir);
    }
    const event = join(dir, 'events', 'skb', 'kfree_skb');
    let excluded: string[];
    try {
      const numbers = dropReasonNumbers(await readFile(join(event, 'format'), 'utf8'));
      excluded = NOISE_REASONS.filter((r) => numbers.has(r));
      const filter = excluded.map((r) => `reason != ${String(numbers.get(r))}`).join(' && ');
      await writeFile(join(dir, 'buffer_size_kb'), String(BUFFER_KB));
      if (filter !== '') await writeFile(join(event, 'filter'), filter);
      await writeFile(join(event, 'enable'), '1');
    } catch (err) {
      await rmdir(dir).catch(() => undefined);
      releaseTracefs();
      throw new Error(`cannot enable skb:kfree_skb in ${dir}: ${errorMessage(err)}`, { cause: err });
    }
    const trace = new DropTrace(name, excluded);
    tearDownOnExit(trace);
    return trace;
  }

  /** Stops tracing, reads and counts the drops, and removes the instance. */
  async stop(): Promise<DropTraceResult> {
    if (this.stopped) return { available: false, error: 'trace already stopped' };
    this.stopped = true;
    try {
      const event = join(this.dir, 'events', 'skb', 'kfree_skb');
      await writeFile(join(event, 'enable'), '0');
      const text = await readFile(join(this.dir, 'trace'), 'utf8');
      const events = text
        .split('\n')
        .map(parseKfreeSkbLine)
        .filter((e): e is DropEvent => e !== undefined && !NOISE_LOCATIONS.includes(e.function));
      return {
        available: true,
        instance: this.instance,
        events: events.length,
        overrun: await this.overrun(),
        drops: summarizeDrops(events),
        excludedReasons: this.excludedReasons,
        note: GLOBAL_TRACE_NOTE,
      };
    } catch (err) {
      return { available: false, error: errorMessage(err) };
    } finally {
      this.destroySync();
    }
  }

  private async overrun(): Promise<number> {
    let total = 0;
    try {
      for (const cpu of await readdir(join(this.dir, 'per_cpu'))) {
        const stats = await readFile(join(this.dir, 'per_cpu', cpu, 'stats'), 'utf8');
        total += Number(/^overrun:\s*(\d+)/m.exec(stats)?.[1] ?? 0);
      }
    } catch {
      // Statistics are a nicety.
    }
    return total;
  }

  /** Synchronous, for exit paths: disables the event, removes the instance, releases tracefs. Idempotent. */
  destroySync(): void {
    this.stopped = true;
    if (!this.live) return;
    this.live = false;
    forgetOnExit(this);
    removeInstanceSync(this.dir);
    releaseTracefs();
  }
}

function removeInstanceSync(dir: string): void {
  try {
    writeFileSync(join(dir, 'events', 'skb', 'kfree_skb', 'enable'), '0');
  } catch {
    // Already gone or never enabled.
  }
  try {
    rmdirSync(dir);
  } catch {
    // Already gone; EBUSY only while someone reads its trace_pipe.
  }
}

/** Our instances (`mtl-*`) in tracefs, or none when tracefs is not mounted. */
export function listDropTraces(): string[] {
  try {
    return readdirSync(join(TRACEFS_DIR, 'instances')).filter((n) => n.startsWith(DROP_TRACE_PREFIX));
  } catch {
    return [];
  }
}

/** For `lab gc`: removes `mtl-*` instances for which `isStale(name)` says the owning run is gone. Returns them. */
export function removeStaleDropTraces(isStale: (instance: string) => boolean): string[] {
  const removed: string[] = [];
  for (const name of listDropTraces()) {
    if (!isStale(name)) continue;
    const dir = join(TRACEFS_DIR, 'instances', name);
    removeInstanceSync(dir);
    if (!existsSync(dir)) removed.push(name);
  }
  releaseTracefs();
  return removed;
}
