import { readFileSync } from 'node:fs';

/** The kernel's own counters of one netfilter queue: what it could not hand to the process reading it. */
export interface QueueKernelCounters {
  /** Packets waiting for a verdict right now. */
  readonly waiting: number;
  /** Dropped because the queue already held its maximum (1024 by default) waiting for verdicts. */
  readonly queueFull: number;
  /** Dropped because the reader's netlink socket buffer was full. */
  readonly socketFull: number;
  /** Packets the queue has taken so far, dropped ones included (its next packet id). */
  readonly taken: number;
}

/**
 * Reads the line of queue `queueNum` in /proc/net/netfilter/nfnetlink_queue (columns: queue number, peer port id,
 * queue total, copy mode, copy range, queue dropped, user dropped, id sequence, 1); undefined when nobody is bound
 * to it in this network namespace.
 */
export function parseQueueCounters(text: string, queueNum: number): QueueKernelCounters | undefined {
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/).map(Number);
    if (f.length >= 8 && f.every(Number.isFinite) && f[0] === queueNum) return { waiting: f[2]!, queueFull: f[5]!, socketFull: f[6]!, taken: f[7]! };
  }
  return undefined;
}

export function readQueueCounters(queueNum: number): QueueKernelCounters | undefined {
  try {
    return parseQueueCounters(readFileSync('/proc/net/netfilter/nfnetlink_queue', 'latin1'), queueNum);
  } catch {
    return undefined;
  }
}
