/**
 * What a scenario run found, as data (for `lab run --json` and tests) and as readable text (for `lab run`).
 */
import type { LabDrops, LabIcmpSent } from '../lab-drops.js';
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
  /** Where and why the kernel dropped packets in the lab's namespaces while the traffic ran (lab-drops.ts). */
  readonly drops: LabDrops;
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

export const DROPS_HEADING = "kernel drops in the lab's namespaces (mtuscope trace):";

/** At most this many places of death are listed; the rest are counted. */
const MAX_DROP_GROUPS = 12;

function icmpSentLine(i: LabIcmpSent): string {
  return `${i.node}${i.device === '' ? '' : ` (${i.device})`}: ${i.count} ${i.text}${i.to === null ? '' : ` to ${i.to}`}`;
}

/** The drops section: places of death with their meaning, ICMP errors sent, benign drops in one line, lost events. */
export function dropLines(d: LabDrops): string[] {
  if (!d.available) return [`  unavailable: ${d.error}`];
  const out: string[] = [];
  const losses = d.drops.filter((g) => !g.benign);
  const benign = d.drops.filter((g) => g.benign);
  if (losses.length === 0) out.push('  no packet was lost on a path');
  for (const g of losses.slice(0, MAX_DROP_GROUPS)) {
    const icmp = g.icmpErrors === 0 ? '' : ` (${g.icmpErrors} of them ICMP errors)`;
    out.push(`  ${String(g.count).padStart(6)}  ${g.node} ${g.device === '' ? '-' : g.device}  ${g.function}  ${g.reason}${icmp}`);
    out.push(`          ${g.meaning}`);
    const kinds = Object.entries(g.packets);
    if (kinds.length > 0) out.push(`          packets: ${kinds.map(([what, n]) => `${n} ${what}`).join(', ')}`);
  }
  if (losses.length > MAX_DROP_GROUPS) {
    const rest = losses.slice(MAX_DROP_GROUPS);
    out.push(`  ... ${rest.length} more places (${rest.reduce((n, g) => n + g.count, 0)} packets)`);
  }
  if (d.icmpErrorsSent.length > 0) out.push(`  ICMP errors the kernel sent: ${d.icmpErrorsSent.map(icmpSentLine).join('; ')}`);
  if (benign.length > 0) {
    const byPlace = new Map<string, number>();
    for (const g of benign) byPlace.set(`${g.reason} in ${g.function} (${g.node})`, (byPlace.get(`${g.reason} in ${g.function} (${g.node})`) ?? 0) + g.count);
    out.push(`  not losses on a path: ${[...byPlace].map(([place, n]) => `${n} ${place}`).join(', ')}`);
  }
  const lost = d.lostEvents === null ? 'lost events unknown (the tracer did not end normally)' : d.lostEvents === 0 ? 'no event lost' : `WARNING: ${d.lostEvents} events lost (perf buffer overrun): drops may be missing`;
  const times = `tracer attached in ${(d.attachMs / 1000).toFixed(1)} s, detached in ${(d.detachMs / 1000).toFixed(1)} s`;
  out.push(`  (${d.packets} packets traced, ${lost}, ${times}; ${d.traced})`);
  return out;
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
  out.push('', DROPS_HEADING, ...dropLines(r.drops));
  out.push('', `expected: ${r.expected}`);
  out.push(r.asExpected ? 'outcome: as expected' : `outcome: NOT as expected:\n${r.unmet.map((u) => `  - ${u}`).join('\n')}`);
  return `${out.join('\n')}\n`;
}
