/**
 * `mtuscope relay` inside a lab node, run as a process of its own: the lab may not import the relay
 * (scripts/layering.js), so it starts the command line built next to it, with `--json`, and reads what the relay
 * prints: the "started" line, the events, and at SIGTERM the summary of what it did (docs/relay.md has the schema).
 */
import { fileURLToPath } from 'node:url';
import type { LabProcess } from '../running-lab.js';
import type { LabNodes } from './lab-nodes.js';

/** The built command line (dist/src/cli/main.js), found from this file's place in dist/src/lab/traffic/. */
export const MTUSCOPE_CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

/** The relay's counters as its summary line gives them. */
export interface RelaySummary {
  readonly queued: number;
  /** Messages its kernel steering relayed (never queued); 0 when it did not run. */
  readonly relayedInKernel: number;
  readonly envelopes: number;
  readonly relayed: { readonly owner: number; readonly broadcast: number; readonly fallback: number };
  readonly fallback: Readonly<Record<string, number>>;
  readonly copies: number;
  readonly injected: number;
  readonly ignored: Readonly<Record<string, number>>;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function isCounts(v: unknown): v is Record<string, number> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every(isCount);
}

/**
 * The summary among the relay's `--json` lines: the last line whose event is "summary", if its counters are all
 * there and are counts; undefined otherwise (no summary, or one this reader does not understand).
 */
export function parseRelaySummary(stdout: string): RelaySummary | undefined {
  const line = stdout
    .split('\n')
    .filter((l) => l.includes('"summary"'))
    .at(-1);
  if (line === undefined) return undefined;
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null) return undefined;
  const s = o as Record<string, unknown>;
  const relayed = s['relayed'] as Record<string, unknown> | undefined;
  if (s['event'] !== 'summary' || !isCount(s['queued']) || !isCount(s['envelopes']) || !isCount(s['copies']) || !isCount(s['injected'])) return undefined;
  if (!isCounts(relayed) || !isCount(relayed['owner']) || !isCount(relayed['broadcast']) || !isCount(relayed['fallback'])) return undefined;
  if (!isCounts(s['fallback']) || !isCounts(s['ignored'])) return undefined;
  const kernel = s['kernel'];
  if (kernel !== undefined && !isCounts(kernel)) return undefined;
  const relayedInKernel = kernel === undefined ? 0 : (kernel['relayedOwner'] ?? 0) + (kernel['relayedOwnerUnknown'] ?? 0) + (kernel['relayedSharedInterface'] ?? 0);
  return {
    queued: s['queued'],
    relayedInKernel,
    envelopes: s['envelopes'],
    relayed: { owner: relayed['owner'], broadcast: relayed['broadcast'], fallback: relayed['fallback'] },
    fallback: s['fallback'],
    copies: s['copies'],
    injected: s['injected'],
    ignored: s['ignored'],
  };
}

/**
 * The relay's `--json` event lines counted: "relayed" by method, "received" (a peer's message handed to this host's
 * kernel), and "ignored" by reason, apart for messages from the queue and envelopes from peers (those carry `from`).
 */
export interface RelayEventTally {
  readonly relayed: Readonly<Record<string, number>>;
  readonly received: number;
  readonly ignoredQueued: Readonly<Record<string, number>>;
  readonly ignoredEnvelopes: Readonly<Record<string, number>>;
}

export function tallyRelayEvents(stdout: string): RelayEventTally {
  const relayed: Record<string, number> = {};
  const ignoredQueued: Record<string, number> = {};
  const ignoredEnvelopes: Record<string, number> = {};
  let received = 0;
  const add = (to: Record<string, number>, key: unknown): void => {
    if (typeof key === 'string') to[key] = (to[key] ?? 0) + 1;
  };
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (e['event'] === 'relayed') add(relayed, e['method']);
    else if (e['event'] === 'received') received++;
    else if (e['event'] === 'ignored') add(e['from'] === undefined ? ignoredQueued : ignoredEnvelopes, e['reason']);
  }
  return { relayed, received, ignoredQueued, ignoredEnvelopes };
}

export interface LabRelay {
  readonly node: string;
  readonly process: LabProcess;
  /**
   * Stops the relay with SIGTERM (it removes its rules and prints its summary) and returns that summary, if any, and
   * its events counted.
   */
  stop(): Promise<{ summary: RelaySummary | undefined; events: RelayEventTally }>;
}

/**
 * Starts `mtuscope relay --json ARGS` in `node` and waits until it has installed its rules and says "started". A relay
 * that fails to start rejects with what it printed.
 */
export async function startLabRelay(lab: LabNodes, node: string, args: readonly string[]): Promise<LabRelay> {
  const proc = lab.spawn(node, [process.execPath, MTUSCOPE_CLI, 'relay', '--json', ...args]);
  try {
    await proc.waitForOutput(/"event":"started"/, 15_000);
  } catch (err) {
    await proc.stop('SIGTERM', 1000);
    throw err;
  }
  return {
    node,
    process: proc,
    stop: async () => {
      await proc.stop('SIGTERM', 5000);
      return { summary: parseRelaySummary(proc.stdout), events: tallyRelayEvents(proc.stdout) };
    },
  };
}
