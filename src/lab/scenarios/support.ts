/** Small helpers the scenarios share: the frame of a run, finding interfaces in a lab's plan, judging observations. */
import type { IpFamily } from '../../packet/ip-family.js';
import type { RunningLab } from '../running-lab.js';
import type { TransferResult } from '../traffic/curl.js';
import type { Listener } from '../traffic/lab-nodes.js';
import { ObservationLog, type ScenarioObservations } from './report.js';

/**
 * The frame of every scenario's run: waits for the listeners its traffic talks to (HTTP servers, UDP sinks) to start,
 * runs the traffic with a fresh log, and stops the listeners whatever happens (the lab's teardown would kill them
 * too, without waiting for their last output).
 */
export async function observe<L extends Listener>(
  starting: readonly Promise<L>[],
  traffic: (log: ObservationLog, listeners: readonly L[]) => Promise<void>,
): Promise<ScenarioObservations> {
  const log = new ObservationLog();
  const listeners = await Promise.all(starting);
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

export function outcomeOf(transfers: readonly TransferResult[], label: string, family: IpFamily): TransferResult['outcome'] | 'missing' {
  return transfers.find((t) => t.label === label && t.family === family)?.outcome ?? 'missing';
}

export const UPLOAD_BYTES = 100_000;
export const DOWNLOAD_BYTES = 1_000_000;
export const SMALL_BYTES = 100;
/** Long enough for a healthy transfer on veths many times over, short enough that a stall costs little. */
export const STALL_TIMEOUT_S = 4;
