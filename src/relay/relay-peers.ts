/**
 * What the relay learns from its host's routing before it starts: the mode (`auto`: `broadcast` where the served
 * addresses are this host's own, `owner` where they are routed onward), the peers (given, or the next hops of the
 * routes to the served prefixes), the interface each next hop is reached through, and the largest link MTU (no
 * router can truthfully report a larger one).
 */
import { commandFailure, runCommandSync } from '../host/process-runner.js';
import { formatCidr, networkOf, type Cidr } from '../packet/cidr.js';
import { familyOfAddress, type FamilyMap, type IpFamily } from '../packet/ip-family.js';
import type { RelayMode, RelayPeer, SharedInterface } from './relay-core.js';
import { MAX_PEERS, MAX_SHARED_INTERFACES } from './relay-marks.js';

/** A problem with the settings the host's routing reveals (exit status 2 in the command: the user must change them). */
export class RelayPeerError extends Error {
  override readonly name = 'RelayPeerError';
}

interface JsonRoute {
  readonly dst?: string;
  readonly type?: string;
  readonly gateway?: string;
  readonly dev?: string;
  readonly nexthops?: readonly { readonly gateway?: string; readonly dev?: string }[];
}

function ipJson<T>(args: readonly string[]): T {
  const r = runCommandSync('ip', ['-j', ...args]);
  if (r.code !== 0) throw commandFailure('', 'ip', ['-j', ...args], r);
  return JSON.parse(r.stdout.trim() === '' ? '[]' : r.stdout) as T;
}

function routeGet(address: string): JsonRoute | undefined {
  const family = familyOfAddress(address);
  const r = runCommandSync('ip', ['-j', `-${family}`, 'route', 'get', address]);
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as JsonRoute[])[0];
}

function firstAddress(c: Cidr): string {
  return formatCidr(networkOf(c)).split('/')[0]!;
}

/** Whether the served prefix is this host's own (a local route, e.g. an anycast address on lo). */
export function servedHere(c: Cidr): boolean {
  return routeGet(firstAddress(c))?.type === 'local';
}

export function chooseMode(served: readonly Cidr[]): RelayMode {
  const local = served.map(servedHere);
  if (local.every(Boolean)) return 'broadcast';
  if (!local.some(Boolean)) return 'owner';
  const mixed = served.map((c, i) => `${formatCidr(c)} ${local[i] ? 'is local' : 'is routed onward'}`).join(', ');
  throw new RelayPeerError(`cannot choose the mode: ${mixed}; give --mode owner or --mode broadcast`);
}

/** The next hops of the route to each served prefix (its multipath members), for `owner` mode without --peer. */
function nextHopsOfServed(served: readonly Cidr[]): { address: string; device: string }[] {
  const found: { address: string; device: string }[] = [];
  for (const c of served) {
    const text = formatCidr(networkOf(c));
    const routes = ipJson<JsonRoute[]>([`-${c.family}`, 'route', 'show', 'exact', text]);
    const route = routes.find((r) => r.type === undefined || r.type === 'unicast');
    const hops = route === undefined ? [] : route.nexthops ?? [{ gateway: route.gateway, dev: route.dev }];
    if (hops.length === 0) throw new RelayPeerError(`no route to the served prefix ${text} to take next hops from; give --peer`);
    for (const h of hops) {
      if (h.gateway === undefined || h.dev === undefined) throw new RelayPeerError(`the route to ${text} has a next hop without a gateway; give --peer`);
      if (!found.some((f) => f.address === h.gateway)) found.push({ address: h.gateway, device: h.dev });
    }
  }
  return found;
}

export interface ResolvedPeers {
  readonly peers: readonly RelayPeer[];
  readonly sharedInterfaces: readonly SharedInterface[];
  /** Peers given that are this host's own addresses (left out: a relay does not send to itself). */
  readonly selves: readonly string[];
}

export function resolvePeers(mode: RelayMode, served: readonly Cidr[], given: readonly string[]): ResolvedPeers {
  const selves: string[] = [];
  let list: { address: string; device?: string }[];
  if (mode === 'broadcast') {
    if (given.length === 0) throw new RelayPeerError('broadcast mode needs the other servers\' relays: give --peer ADDR for each');
    list = [];
    for (const address of given) {
      if (routeGet(address)?.type === 'local') selves.push(address);
      else list.push({ address });
    }
  } else if (given.length === 0) {
    list = nextHopsOfServed(served);
  } else {
    list = given.map((address) => {
      const route = routeGet(address);
      if (route?.dev === undefined) throw new RelayPeerError(`peer ${address}: no route to it`);
      if (route.gateway !== undefined) throw new RelayPeerError(`peer ${address} is not on a link of this host (reached via ${route.gateway}); in owner mode peers are next hops`);
      return { address, device: route.dev };
    });
  }
  if (list.length > MAX_PEERS) throw new RelayPeerError(`${list.length} peers; at most ${MAX_PEERS}`);
  const peers: RelayPeer[] = list.map((p, index) => ({ index, address: p.address, family: familyOfAddress(p.address), ...(p.device === undefined ? {} : { device: p.device }) }));
  const byDevice = new Map<string, number[]>();
  for (const p of peers) {
    if (p.device === undefined) continue;
    const key = `${p.family} ${p.device}`;
    byDevice.set(key, [...(byDevice.get(key) ?? []), p.index]);
  }
  const sharedInterfaces: SharedInterface[] = [];
  for (const [key, indexes] of byDevice) {
    if (indexes.length < 2) continue;
    if (sharedInterfaces.length >= MAX_SHARED_INTERFACES) throw new RelayPeerError(`more than ${MAX_SHARED_INTERFACES} interfaces with several peers`);
    const [family, device] = key.split(' ');
    sharedInterfaces.push({ index: sharedInterfaces.length, family: family === '6' ? 6 : 4, device: device!, peers: indexes });
  }
  return { peers, sharedInterfaces, selves };
}

/** The largest MTU of this host's interfaces but loopback, per family (the same for both). */
export function largestLinkMtu(): FamilyMap<number> {
  const links = ipJson<{ ifname?: string; mtu?: number; link_type?: string }[]>(['link', 'show']);
  const mtu = Math.max(0, ...links.filter((l) => l.link_type !== 'loopback').map((l) => l.mtu ?? 0));
  const value = mtu === 0 ? 65535 : mtu;
  return { 4: value, 6: value };
}

export function familiesOf(served: readonly Cidr[]): IpFamily[] {
  return [...new Set(served.map((c) => c.family))];
}
