/**
 * What a scenario run found, as data (for `lab run --json` and tests) and as readable text (for `lab run`).
 */
import type { DropTraceResult } from '../drop-trace.js';
import type { TransferResult } from '../traffic/curl.js';
import type { IpFamily } from '../../packet/ip-family.js';
import type { PingResult } from '../traffic/ping.js';
import type { RouteCacheEntry } from '../traffic/route-cache.js';

/** Datagrams of one size sent in one phase, and how many arrived (whole, i.e. reassembled) anywhere. */
export interface DatagramTally {
  readonly label: string;
  readonly family: IpFamily;
  readonly size: number;
  readonly sent: number;
  readonly received: number;
}

/**
 * What a scenario's traffic measured. `facts` are the numbers its `check` judges; a fact that could not be measured
 * is absent (never a stand-in value such as 0), so that missing evidence cannot pass for the expected outcome.
 */
export interface Measurements {
  readonly transfers: readonly TransferResult[];
  readonly pings: readonly PingResult[];
  readonly datagrams: readonly DatagramTally[];
  readonly routeCache: readonly RouteCacheEntry[];
  readonly facts: Readonly<Record<string, number | boolean>>;
}

/** The measurements and what they show in words. */
export interface ScenarioObservations extends Measurements {
  /** Scenario-specific observations, one readable sentence each, built from the measurements. */
  readonly findings: readonly string[];
}

export interface ScenarioReport extends ScenarioObservations {
  readonly scenario: string;
  readonly title: string;
  readonly lab: { readonly name: string; readonly id: string };
  readonly startedAt: string;
  readonly durationMs: number;
  /** The characteristic outcome, in words. */
  readonly expected: string;
  /** Parts of the expected outcome this run did not show; empty when the network behaved as the scenario says. */
  readonly unmet: readonly string[];
  /** Whether the network behaved as the scenario says (`unmet` is empty): what `lab run`'s exit status reports. */
  readonly asExpected: boolean;
  readonly drops: DropTraceResult;
}

/** Collects measurements while a scenario runs. */
export class ObservationLog {
  readonly transfers: TransferResult[] = [];
  readonly pings: PingResult[] = [];
  readonly datagrams: DatagramTally[] = [];
  readonly routeCache: RouteCacheEntry[] = [];
  readonly facts: Record<string, number | boolean> = {};

  /** Records a fact; `undefined` (not measured) leaves it out. */
  fact(name: string, value: number | boolean | undefined): void {
    if (value !== undefined) this.facts[name] = value;
  }

  done(): Measurements {
    return {
      transfers: this.transfers,
      pings: this.pings,
      datagrams: this.datagrams,
      routeCache: this.routeCache,
      facts: this.facts,
    };
  }
}

function kb(bytes: number): string {
  return bytes >= 1_000_000 ? `${(bytes / 1_000_000).toFixed(1)} MB` : bytes >= 1000 ? `${(bytes / 1000).toFixed(1)} KB` : `${bytes} B`;
}

function transferLine(t: TransferResult): string {
  const what = t.outcome === 'completed' ? 'completed' : t.outcome === 'stalled' ? 'STALLED  ' : 'FAILED   ';
  const moved = `up ${kb(t.bytesUploaded)}/${kb(t.uploadBytes)}, down ${kb(t.bytesDownloaded)}${t.downloadBytes > 0 ? `/${kb(t.downloadBytes)}` : ''}`;
  const error = t.error === undefined ? '' : `  (${t.error})`;
  return `  ${what} IPv${t.family} ${t.label.padEnd(22)} ${t.seconds.toFixed(2).padStart(6)} s  ${moved}  port ${t.localPort}${error}`;
}

function pingLine(p: PingResult): string {
  const icmp =
    p.icmpMtu !== undefined
      ? `ICMP from ${p.icmpFrom ?? '?'}: mtu ${p.icmpMtu}`
      : p.localMtu !== undefined
        ? `local error: message too long, mtu ${p.localMtu}`
        : 'no ICMP error received';
  return `  ${p.node} -> ${p.address} ${p.packetBytes} bytes ${p.df ? 'DF' : 'no DF'}: ${p.received}/${p.sent} replies; ${icmp}`;
}

export function formatReport(r: ScenarioReport): string {
  const out: string[] = [];
  out.push(`scenario ${r.scenario}: ${r.title}`);
  out.push(`lab ${r.lab.name} (id ${r.lab.id}), ${(r.durationMs / 1000).toFixed(1)} s`);
  if (r.transfers.length > 0) {
    out.push('', 'HTTP transfers (curl):');
    out.push(...r.transfers.map(transferLine));
  }
  if (r.pings.length > 0) {
    out.push('', 'pings:');
    out.push(...r.pings.map(pingLine));
  }
  if (r.datagrams.length > 0) {
    out.push('', 'UDP datagrams:');
    for (const d of r.datagrams) out.push(`  IPv${d.family} ${d.label}: ${d.size} bytes: ${d.received}/${d.sent} arrived`);
  }
  if (r.routeCache.length > 0) {
    out.push('', 'route cache (ip route get):');
    for (const e of r.routeCache) {
      const sel = e.selectors === undefined ? '' : ` [${e.selectors.join(' ')}]`;
      const mtu = !e.resolved ? 'lookup failed' : e.mtu === undefined ? 'no cached mtu' : `mtu ${e.mtu}`;
      out.push(`  ${e.node}: ${e.destination}${sel}: ${mtu}  | ${e.route}`);
    }
  }
  if (r.findings.length > 0) {
    out.push('', 'findings:');
    out.push(...r.findings.map((f) => `  - ${f}`));
  }
  out.push('', 'kernel drops (skb:kfree_skb):');
  if (!r.drops.available) out.push(`  unavailable: ${r.drops.error}`);
  else {
    if (r.drops.drops.length === 0) out.push('  none');
    for (const d of r.drops.drops.slice(0, 15)) out.push(`  ${String(d.count).padStart(6)}  ${d.protocol.padEnd(4)} ${d.reason.padEnd(20)} at ${d.location}`);
    if (r.drops.drops.length > 15) out.push(`  ... ${r.drops.drops.length - 15} more`);
    out.push(`  (${r.drops.note}${r.drops.overrun > 0 ? ` ${r.drops.overrun} events lost to buffer overrun.` : ''})`);
  }
  out.push('', `expected: ${r.expected}`);
  out.push(r.asExpected ? 'outcome: as expected' : `outcome: NOT as expected:\n${r.unmet.map((u) => `  - ${u}`).join('\n')}`);
  return `${out.join('\n')}\n`;
}
