/** Small helpers the scenarios share: finding interfaces in a lab's plan, and judging observations. */
import type { RunningLab } from '../running-lab.js';
import type { TransferResult } from '../traffic/curl.js';
import type { Family } from '../traffic/lab-nodes.js';

/** The interface of `node` whose link leads to `peer` (first veth, unless `kind` says vxlan). */
export function interfaceToward(lab: RunningLab, node: string, peer: string, kind: 'veth' | 'vxlan' = 'veth'): string {
  const n = lab.plan.nodes.find((x) => x.name === node);
  const i = n?.interfaces.find((x) => x.peer.node === peer && x.kind === kind);
  if (i === undefined) throw new Error(`lab ${lab.name}: no ${kind} interface from ${node} to ${peer}`);
  return i.ifname;
}

/** The address of `peer` on the link that joins it to `node`: the next hop from `node` toward `peer`. */
export function addressToward(lab: RunningLab, node: string, peer: string, family: Family, kind: 'veth' | 'vxlan' = 'veth'): string {
  return lab.address(peer, family, interfaceToward(lab, peer, node, kind));
}

export function withoutPrefix(cidr: string): string {
  return cidr.split('/')[0] ?? cidr;
}

export function outcomeOf(transfers: readonly TransferResult[], label: string, family: Family): TransferResult['outcome'] | 'missing' {
  return transfers.find((t) => t.label === label && t.family === family)?.outcome ?? 'missing';
}

/** Collects unmet expectations: `want(condition, what)` records `what` when the condition is false. */
export class Expectations {
  readonly unmet: string[] = [];
  want(condition: boolean, what: string): void {
    if (!condition) this.unmet.push(what);
  }
}

export const UPLOAD_BYTES = 100_000;
export const DOWNLOAD_BYTES = 1_000_000;
export const SMALL_BYTES = 100;
/** Long enough for a healthy transfer on veths many times over, short enough that a stall costs little. */
export const STALL_TIMEOUT_S = 4;
