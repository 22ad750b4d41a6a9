/**
 * Named network namespaces as iproute2 keeps them (bind mounts under /run/netns), and the processes inside them.
 *
 * Every lab namespace is `mtl-<lab id>-<node>`; the prefix is how gc recognises what a crashed lab left behind, and
 * the lab id keeps parallel labs (and parallel tests) from ever sharing a name.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { runCommand, runCommandSync } from '../host/process-runner.js';
import { namespaceInode } from '../trace/netns-names.js';

export const LAB_PREFIX = 'mtl-';
const NETNS_DIR = '/run/netns';

export function namespaceName(labId: string, node: string): string {
  return `${LAB_PREFIX}${labId}-${node}`;
}

/** The lab id in a lab namespace's (or tracefs instance's) name, or undefined for a name that is not ours. */
export function labIdOf(name: string): string | undefined {
  if (!name.startsWith(LAB_PREFIX)) return undefined;
  const id = name.slice(LAB_PREFIX.length).split('-')[0] ?? '';
  return /^[0-9a-f]{6}$/.test(id) ? id : undefined;
}

/** Named network namespaces (read straight from /run/netns, as `ip netns list` does, without a process). */
export function listNamespaces(): string[] {
  try {
    return readdirSync(NETNS_DIR).sort();
  } catch {
    return [];
  }
}

/**
 * PIDs of the processes whose network namespace is one of `names` (what `ip netns pids` does, for many namespaces in
 * one pass over /proc).
 */
export function pidsInNamespaces(names: readonly string[]): number[] {
  const inodes = new Set<number>();
  for (const name of names) {
    const ino = namespaceInode(name);
    if (ino !== undefined) inodes.add(ino);
  }
  if (inodes.size === 0) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let link: string;
    try {
      link = readlinkSync(`/proc/${entry}/ns/net`);
    } catch {
      continue; // Exited meanwhile, or a kernel thread.
    }
    const m = /^net:\[(\d+)\]$/.exec(link);
    if (m !== null && inodes.has(Number(m[1])) && Number(entry) !== process.pid) pids.push(Number(entry));
  }
  return pids;
}

export function killPids(pids: readonly number[], signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

function deleteBatch(names: readonly string[]): string {
  return names.map((n) => `netns del ${n}\n`).join('');
}

/**
 * Deletes the namespaces (their veths, tunnels, routes and iptables rules go with them) in one `ip` process; names
 * that do not exist are skipped. Returns those still present afterwards.
 */
export async function deleteNamespaces(names: readonly string[]): Promise<string[]> {
  const present = new Set(listNamespaces());
  const targets = names.filter((n) => present.has(n));
  if (targets.length > 0) await runCommand('ip', ['-force', '-batch', '-'], { input: deleteBatch(targets), timeoutMs: 10_000 });
  const after = new Set(listNamespaces());
  return targets.filter((n) => after.has(n));
}

/** The same for exit and signal handlers, where nothing asynchronous runs any more. */
export function deleteNamespacesSync(names: readonly string[]): void {
  const present = new Set(listNamespaces());
  const targets = names.filter((n) => present.has(n));
  if (targets.length === 0) return;
  // Best effort, so the result does not matter: `mtuscope lab gc` removes whatever is left.
  runCommandSync('ip', ['-force', '-batch', '-'], { input: deleteBatch(targets), timeoutMs: 10_000 });
}
