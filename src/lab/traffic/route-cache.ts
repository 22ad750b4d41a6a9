/**
 * What a node's kernel believes about the path to a destination: `ip route get`, whose "cache" line carries a
 * learned path MTU (from ICMP "fragmentation needed" / Packet Too Big) until the exception expires.
 */
import { familyOfAddress } from '../../packet/ip-family.js';
import type { LabNodes } from './lab-nodes.js';

export interface RouteCacheEntry {
  readonly node: string;
  readonly destination: string;
  /** Whether `ip route get` found a route (when not, `route` is its error message). */
  readonly resolved: boolean;
  /** `ip route get` output, whitespace-collapsed to one line. */
  readonly route: string;
  /** The MTU the route (cache) carries, if any. */
  readonly mtu?: number;
  /** Extra selectors given (e.g. a flow's ports for an ECMP lookup). */
  readonly selectors?: readonly string[];
}

/** `selectors`: extra `ip route get` arguments, e.g. ['from', A, 'iif', 'eth1', 'ipproto', 'tcp', 'sport', '40000']. */
export async function routeGet(lab: LabNodes, node: string, destination: string, selectors: readonly string[] = []): Promise<RouteCacheEntry> {
  const r = await lab.exec(node, ['ip', `-${familyOfAddress(destination)}`, 'route', 'get', destination, ...selectors]);
  const route = (r.code === 0 ? r.stdout : r.stderr).replace(/\s+/g, ' ').trim();
  const mtu = r.code === 0 ? /\bmtu (?:lock )?(\d+)/.exec(route) : null;
  return {
    node,
    destination,
    resolved: r.code === 0,
    route,
    ...(mtu ? { mtu: Number(mtu[1]) } : {}),
    ...(selectors.length > 0 ? { selectors } : {}),
  };
}

/** The interface a route leaves by (`dev X`), e.g. to see which ECMP next hop a flow hashes to. */
export function routeDevice(entry: RouteCacheEntry): string | undefined {
  return /\bdev (\S+)/.exec(entry.route)?.[1];
}

/** The MTU a route carries (a learned path MTU): 0 when it carries none, undefined when the lookup failed. */
export function learnedMtu(entry: RouteCacheEntry): number | undefined {
  return entry.resolved ? (entry.mtu ?? 0) : undefined;
}
