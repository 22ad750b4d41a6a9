/**
 * Who installed a set of queue rules: a pid together with that process's start time (field 22 of /proc/<pid>/stat,
 * clock ticks since boot). A pid alone is not enough to tell a live owner from a dead one, since pids are reused; the
 * pair names one process for good. Written into every rule as an iptables comment, so the kernel's own rule table
 * says whose rules they are, with no state file that could disagree with it.
 */
import { readFileSync } from 'node:fs';

export interface RuleOwner {
  readonly pid: number;
  readonly start: number;
}

const COMMENT = /^mtuscope pid=(\d+) start=(\d+)$/;

export function ownerComment(owner: RuleOwner): string {
  return `mtuscope pid=${owner.pid} start=${owner.start}`;
}

export function parseOwnerComment(comment: string): RuleOwner | undefined {
  const m = COMMENT.exec(comment);
  return m === null ? undefined : { pid: Number(m[1]), start: Number(m[2]) };
}

export function sameOwner(a: RuleOwner, b: RuleOwner): boolean {
  return a.pid === b.pid && a.start === b.start;
}

/**
 * The start time of a running process, or undefined when there is none with this pid. A zombie counts as gone: it
 * has exited, and its pid entry only waits for its parent to collect the status.
 */
export function runningProcessStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // Field 2 (the command name, in parentheses) may itself contain spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const start = fields[22 - 3];
  if (state === 'Z' || state === 'X' || start === undefined || !/^\d+$/.test(start)) return undefined;
  return Number(start);
}

export function currentOwner(): RuleOwner {
  const start = runningProcessStartTime(process.pid);
  if (start === undefined) throw new Error(`cannot read this process's start time from /proc/${process.pid}/stat`);
  return { pid: process.pid, start };
}

export function ownerIsRunning(owner: RuleOwner): boolean {
  return runningProcessStartTime(owner.pid) === owner.start;
}
