/**
 * tracefs, which tracepoints need (their ids and formats live there). It is used where mounted at
 * /sys/kernel/tracing; otherwise it is mounted there (with the source name "mtuscope", which marks the mount as ours)
 * and unmounted again by the last of our users to finish.
 *
 * Each user holds an empty instance directory (`instances/mtt-<pid>-<n>`) while it traces: the instances are how
 * parallel users see each other (the last to leave unmounts), and a crashed user's instance is found by its pid and
 * removed by `removeStaleTracefsHolds` (`lab gc`, `npm run cleanup`). Seeing each other is not enough: a user that read
 * `instances/` empty may unmount just after another made its instance (the kernel unmounts tracefs with instances in
 * it), and that one's bpftrace then finds no tracepoint. So each hold also keeps its instance open, which makes such
 * an unmount fail as busy until the hold is given back.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive, runCommandSync } from '../host/process-runner.js';

export const TRACEFS_DIR = '/sys/kernel/tracing';
export const TRACEFS_MOUNT_SOURCE = 'mtuscope';
export const TRACEFS_HOLD_PREFIX = 'mtt-';
let holds = 0;
const openHolds = new Map<string, number>();

/** Whether tracefs is mounted at TRACEFS_DIR (by anyone). */
export function tracefsMounted(): boolean {
  return existsSync(join(TRACEFS_DIR, 'instances'));
}

/** The sources of the tracefs mounts at TRACEFS_DIR ("mtuscope" for ours). */
export function tracefsMountSources(): string[] {
  try {
    return readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((line) => line.split(' '))
      .filter(([, target, type]) => target === TRACEFS_DIR && type === 'tracefs')
      .map(([source]) => source ?? '');
  } catch {
    return [];
  }
}

function mountedByUs(): boolean {
  return tracefsMountSources().includes(TRACEFS_MOUNT_SOURCE);
}

/** Mounts tracefs if needed and takes a hold on it; returns the hold (an instance directory) to release. */
export function holdTracefs(): string {
  const dir = join(TRACEFS_DIR, 'instances', `${TRACEFS_HOLD_PREFIX}${process.pid}-${++holds}`);
  // Each retry follows an unmount by a parallel user between two of our steps; an instance made before such an
  // unmount lives on in the kernel and is there again (EEXIST) once mounted again.
  for (let attempt = 0; attempt < 5; attempt++) {
    if (!tracefsMounted()) {
      const r = runCommandSync('mount', ['-t', 'tracefs', TRACEFS_MOUNT_SOURCE, TRACEFS_DIR], { timeoutMs: 10_000 });
      // A parallel run may have mounted it in the meantime.
      if (r.code !== 0 && !tracefsMounted()) throw new Error(`cannot mount tracefs on ${TRACEFS_DIR}: ${r.stderr.trim() || `exit ${String(r.code)}`}`);
    }
    try {
      mkdirSync(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      if (code !== 'EEXIST') throw err;
    }
    try {
      openHolds.set(dir, openSync(dir, 'r'));
      return dir;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  throw new Error(`cannot hold tracefs on ${TRACEFS_DIR}: it was unmounted under us five times`);
}

/** Gives a hold back; unmounts tracefs if we mounted it and no instance (ours or anyone's) is left. Idempotent. */
export function releaseTracefs(hold: string | undefined): void {
  if (hold !== undefined) {
    try {
      rmdirSync(hold);
    } catch {
      // Already gone.
    }
    const fd = openHolds.get(hold);
    openHolds.delete(hold);
    if (fd !== undefined) closeSync(fd);
  }
  if (!mountedByUs()) return;
  try {
    if (readdirSync(join(TRACEFS_DIR, 'instances')).length > 0) return;
  } catch {
    return;
  }
  // Busy (another user holds it since we looked): it stays mounted, and that user unmounts it when it leaves.
  runCommandSync('umount', [TRACEFS_DIR], { timeoutMs: 5000 });
}

/** Holds of processes that are gone; removes them (and the mount, if it was ours and is now unused). */
export function removeStaleTracefsHolds(): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(join(TRACEFS_DIR, 'instances')).filter((n) => n.startsWith(TRACEFS_HOLD_PREFIX));
  } catch {
    return removed;
  }
  for (const name of names) {
    const pid = Number(/^mtt-(\d+)-/.exec(name)?.[1] ?? NaN);
    if (!Number.isInteger(pid) || processAlive(pid)) continue;
    try {
      rmdirSync(join(TRACEFS_DIR, 'instances', name));
      removed.push(name);
    } catch {
      // In use after all.
    }
  }
  releaseTracefs(undefined);
  return removed;
}

/** Whether the running kernel has the tracepoint `category:name`. */
export function hasTracepoint(tracepoint: string): boolean {
  const [category, name] = tracepoint.split(':');
  return existsSync(join(TRACEFS_DIR, 'events', category ?? '', name ?? '', 'format'));
}

/** Drop reason numbers to names (without SKB_DROP_REASON_), from skb:kfree_skb's print format: they differ per kernel. */
export function dropReasonNames(): Map<number, string> {
  const out = new Map<number, string>();
  try {
    const format = readFileSync(join(TRACEFS_DIR, 'events', 'skb', 'kfree_skb', 'format'), 'utf8');
    for (const m of format.matchAll(/\{\s*(\d+),\s*"([A-Z0-9_]+)"\s*\}/g)) out.set(Number(m[1]), m[2]!);
  } catch {
    // Numbers are shown as numbers.
  }
  return out;
}
