/** Small helpers the scenarios share: the frame of a run, finding interfaces in a lab's plan, reading and judging measurements. */
import type { IpFamily } from '../../packet/ip-family.js';
import type { RunningLab } from '../running-lab.js';
import type { TransferResult } from '../traffic/curl.js';
import type { Listener } from '../traffic/lab-nodes.js';
import type { PingResult } from '../traffic/ping.js';
import { ObservationLog, type Measurements } from './report.js';
import type { TrafficGate, Want } from './scenario.js';

/**
 * The frame of every scenario's run: waits for the listeners its traffic talks to (HTTP servers, UDP sinks) to start
 * and for the run's gate (the drop trace attaching meanwhile), runs the traffic with a fresh log, and stops the listeners whatever happens (the lab's teardown would kill them
 * too, without waiting for their last output).
 */
export async function observe<L extends Listener>(
  starting: readonly Promise<L>[],
  traffic: (log: ObservationLog, listeners: readonly L[]) => Promise<void>,
  gate?: TrafficGate,
): Promise<Measurements> {
  const log = new ObservationLog();
  const [listeners] = await Promise.all([Promise.all(starting), gate?.()]);
  try {
    await traffic(log, listeners);
  } finally {
    await Promise.all(listeners.map((l) => l.stop()));
  }
  return log.done();
}

/** The interface of `node` whose link leads to `peer` (first veth, unless `kind` says vxlan). */
export function interfaceToward(lab: RunningLab, node: string, peer: string, kind: 'veth' | 'vxlan' = 'veth'): string {
  const n = lab.plan.nodes.find((x) => x.name === node);
  const i = n?.interfaces.find((x) => x.peer.node === peer && x.kind === kind);
  if (i === undefined) throw new Error(`lab ${lab.name}: no ${kind} interface from ${node} to ${peer}`);
  return i.ifname;
}

/** The address of `peer` on the link that joins it to `node`: the next hop from `node` toward `peer`. */
export function addressToward(lab: RunningLab, node: string, peer: string, family: IpFamily, kind: 'veth' | 'vxlan' = 'veth'): string {
  return lab.address(peer, family, interfaceToward(lab, peer, node, kind));
}

export function withoutPrefix(cidr: string): string {
  return cidr.split('/')[0] ?? cidr;
}

/** A numeric fact, or undefined when it was not measured. */
export function count(m: Measurements, name: string): number | undefined {
  const value = m.facts[name];
  return typeof value === 'number' ? value : undefined;
}

/** A yes/no fact, or undefined when it was not measured. */
export function flag(m: Measurements, name: string): boolean | undefined {
  const value = m.facts[name];
  return typeof value === 'boolean' ? value : undefined;
}

/** Whether a measured number is above zero (a number that was not measured is not). */
export function positive(value: number | undefined): value is number {
  return value !== undefined && value > 0;
}

/** A learned path MTU in words: "mtu 1400", "no learned mtu", or "cannot tell" (no route lookup succeeded). */
export function mtuWords(mtu: number | undefined): string {
  return mtu === undefined ? 'cannot tell' : mtu === 0 ? 'no learned mtu' : `mtu ${mtu}`;
}

/**
 * Records a DF ping that the path should swallow: packets sent and, when it sent any, the replies and the mtu of an
 * ICMP error that came back (0: none).
 */
export function recordSwallowedPing(log: ObservationLog, p: PingResult): void {
  log.facts[`pingsSent${p.family}`] = p.sent;
  log.fact(`pingReplies${p.family}`, p.sent > 0 ? p.received : undefined);
  log.fact(`icmpMtu${p.family}`, p.sent > 0 ? (p.icmpMtu ?? 0) : undefined);
}

/** Judges a ping recorded by recordSwallowedPing: it was sent, and neither a reply nor an ICMP error came back. */
export function wantSwallowedPing(m: Measurements, want: Want, family: IpFamily, bytes: number): void {
  const sent = positive(count(m, `pingsSent${family}`));
  want(sent && count(m, `pingReplies${family}`) === 0, `IPv${family}: the ${bytes}-byte DF ping was sent and got no reply`);
  want(sent && count(m, `icmpMtu${family}`) === 0, `IPv${family}: the ${bytes}-byte DF ping drew no ICMP error`);
}

/** A ping recorded by recordSwallowedPing, in words. */
export function swallowedPingWords(m: Measurements, family: IpFamily, bytes: number): string {
  const [sent, replies, mtu] = [count(m, `pingsSent${family}`), count(m, `pingReplies${family}`), count(m, `icmpMtu${family}`)];
  if (!positive(sent)) return `IPv${family}: the ${bytes}-byte DF ping sent nothing: cannot tell whether replies or ICMP errors come back`;
  const icmp = mtu === undefined ? 'cannot tell whether an ICMP error came back' : mtu === 0 ? 'no ICMP error' : `an ICMP error with mtu ${mtu}`;
  return `IPv${family}: ${sent} DF pings of ${bytes} bytes: ${replies ?? '?'} replies, ${icmp}`;
}

export function outcomeOf(transfers: readonly TransferResult[], label: string, family: IpFamily): TransferResult['outcome'] | 'missing' {
  return transfers.find((t) => t.label === label && t.family === family)?.outcome ?? 'missing';
}

/** What became of a transfer, in words ("completed", "stalled", "failed", "never ran"). */
export function outcomeWords(transfers: readonly TransferResult[], label: string, family: IpFamily): string {
  const outcome = outcomeOf(transfers, label, family);
  return outcome === 'missing' ? 'never ran' : outcome;
}

export const UPLOAD_BYTES = 100_000;
export const DOWNLOAD_BYTES = 1_000_000;
export const SMALL_BYTES = 100;
/** Long enough for a healthy transfer on veths many times over, short enough that a stall costs little. */
export const STALL_TIMEOUT_S = 4;
