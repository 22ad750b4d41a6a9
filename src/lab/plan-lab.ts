import { familyName, type IpFamily } from '../packet/ip-family.js';
import { cidrContains, formatCidr, parseAddress, parseCidr, prefixText, type Cidr } from '../packet/cidr.js';
import { assignAddresses, type LinkAddressing } from './lab-addressing.js';
import { LabSpecError } from './lab-spec-error.js';
import type { PlannedInterface, PlannedLab, PlannedLink, PlannedNexthop, PlannedNode, PlannedRoute } from './plan.js';
import type { LabSpec, NodeSpec, RouteSpec } from './spec.js';
import { validateLabSpec } from './validate.js';

export { LabSpecError } from './lab-spec-error.js';

export const DEFAULT_MTU = 1500;
export const DEFAULT_COST = 1;
export const DEFAULT_VXLAN_PORT = 4789;

/** One side of a link as seen from a node: the link, and which end is this node's. */
interface Attachment {
  readonly link: number;
  readonly side: 0 | 1;
  readonly peer: number;
  readonly cost: number;
}

/** Something routes lead to: a link's subnets, or a loopback prefix that one or more nodes (anycast) own. */
interface Destination {
  readonly owners: ReadonlySet<number>;
  readonly prefixes: readonly { readonly family: IpFamily; readonly to: string }[];
}

/**
 * Decides everything a lab needs: addresses, MTUs, tunnels, routes and sysctls. Pure and deterministic: the same
 * spec always gives the same plan. Throws LabSpecError for a spec that validateLabSpec rejects.
 */
export function planLab(spec: LabSpec): PlannedLab {
  const errors = validateLabSpec(spec);
  if (errors.length > 0) throw new LabSpecError(errors);
  const addressing = assignAddresses(spec).links;
  const index = new Map(spec.nodes.map((n, i) => [n.name, i]));
  const attachments: Attachment[][] = spec.nodes.map(() => []);
  spec.links.forEach((link, l) => {
    const [a, b] = link.endpoints.map((e) => index.get(e.node)!);
    const cost = link.cost ?? DEFAULT_COST;
    attachments[a!]!.push({ link: l, side: 0, peer: b!, cost });
    attachments[b!]!.push({ link: l, side: 1, peer: a!, cost });
  });

  const links: PlannedLink[] = spec.links.map((link) => ({
    kind: link.vxlan ? 'vxlan' : 'veth',
    a: { node: link.endpoints[0].node, ifname: link.endpoints[0].ifname },
    b: { node: link.endpoints[1].node, ifname: link.endpoints[1].ifname },
  }));

  const destinations = collectDestinations(spec, addressing);
  const distances = destinations.map((d) => distancesTo(spec, attachments, d.owners));
  const nodes = spec.nodes.map((node, n): PlannedNode => {
    const interfaces = attachments[n]!.map((at) => planInterface(spec, addressing, at));
    const auto = destinations.flatMap((d, i) => routesTo(spec, addressing, attachments[n]!, n, d, distances[i]!));
    return {
      name: node.name,
      kind: node.kind,
      interfaces,
      loopbackAddresses: [...(node.loopbackAddresses ?? [])],
      routes: mergeExplicitRoutes(auto, node, interfaces),
      dropPacketTooBig: node.dropPacketTooBig ?? false,
      dropFragments: node.dropFragments ?? false,
      clampMss: node.clampMss,
      masquerade: [...(node.masquerade ?? [])],
      ecmp: node.ecmp ?? false,
      sysctls: planSysctls(node),
    };
  });
  return { name: spec.name, nodes, links };
}

function planInterface(spec: LabSpec, addressing: readonly LinkAddressing[], at: Attachment): PlannedInterface {
  const link = spec.links[at.link]!;
  const end = link.endpoints[at.side];
  const peer = link.endpoints[1 - at.side]!;
  const addr = addressing[at.link]!;
  const base = {
    ifname: end.ifname,
    mtu: end.mtu ?? link.mtu ?? DEFAULT_MTU,
    ipv4: formatCidr(addr.ipv4.ends[at.side]),
    ipv6: formatCidr(addr.ipv6.ends[at.side]),
    peer: { node: peer.node, ifname: peer.ifname },
  };
  if (!link.vxlan) return { ...base, kind: 'veth' };
  // The first direct non-vxlan link between the same two nodes carries the tunnel (validateLabSpec ensures one).
  const u = spec.links.findIndex((l) => {
    if (l.vxlan) return false;
    const names = l.endpoints.map((e) => e.node);
    return names.includes(end.node) && names.includes(peer.node);
  });
  const underlay = spec.links[u]!;
  const mySide = underlay.endpoints[0].node === end.node ? 0 : 1;
  const ends = addressing[u]!.ipv4.ends;
  return {
    ...base,
    kind: 'vxlan',
    vxlan: {
      vni: link.vxlan.vni,
      port: link.vxlan.port ?? DEFAULT_VXLAN_PORT,
      underlayIfname: underlay.endpoints[mySide].ifname,
      local: formatAddress(ends[mySide]),
      remote: formatAddress(ends[1 - mySide]!),
    },
  };
}

function formatAddress(c: Cidr): string {
  return formatCidr(c).split('/')[0]!;
}

function collectDestinations(spec: LabSpec, addressing: readonly LinkAddressing[]): Destination[] {
  const index = new Map(spec.nodes.map((n, i) => [n.name, i]));
  const out: Destination[] = spec.links.map((link, l) => ({
    owners: new Set(link.endpoints.map((e) => index.get(e.node)!)),
    prefixes: [
      { family: 4, to: prefixText(addressing[l]!.ipv4.subnet) },
      { family: 6, to: prefixText(addressing[l]!.ipv6.subnet) },
    ],
  }));
  // Identical loopback prefixes on several nodes are one anycast destination with several equally valid owners.
  const loopbacks = new Map<string, { family: IpFamily; owners: Set<number> }>();
  spec.nodes.forEach((node, n) => {
    for (const text of node.loopbackAddresses ?? []) {
      const c = parseCidr(text)!;
      const key = prefixText(c);
      const entry = loopbacks.get(key) ?? { family: c.family, owners: new Set<number>() };
      entry.owners.add(n);
      loopbacks.set(key, entry);
    }
  });
  for (const [to, { family, owners }] of loopbacks) out.push({ owners, prefixes: [{ family, to }] });
  return out;
}

/**
 * Shortest-path routes from node `n` to one destination. Distances are computed backwards from the owners; only
 * routers relay (a host never forwards), so a host is a path's start or end, never its middle. Every link carries
 * both families, so one computation serves both.
 */
function routesTo(
  spec: LabSpec,
  addressing: readonly LinkAddressing[],
  mine: readonly Attachment[],
  n: number,
  dest: Destination,
  dist: readonly number[],
): PlannedRoute[] {
  if (dest.owners.has(n)) return [];
  const here = dist[n]!;
  if (here === Infinity) return [];
  const relays = (m: number): boolean => dest.owners.has(m) || spec.nodes[m]!.kind === 'router';
  const hops = mine.filter((at) => relays(at.peer) && dist[at.peer]! + at.cost === here);
  const chosen = spec.nodes[n]!.ecmp ? hops : hops.slice(0, 1);
  return dest.prefixes.map(({ family, to }) => ({
    family,
    to,
    nexthops: chosen.map((at): PlannedNexthop => {
      const addr = addressing[at.link]![familyName(family)];
      return { via: formatAddress(addr.ends[1 - at.side]!), ifname: spec.links[at.link]!.endpoints[at.side].ifname };
    }),
  }));
}

function distancesTo(spec: LabSpec, attachments: readonly (readonly Attachment[])[], owners: ReadonlySet<number>): number[] {
  const dist = spec.nodes.map((_, i) => (owners.has(i) ? 0 : Infinity));
  const done = spec.nodes.map(() => false);
  // Labs have tens of nodes: a linear scan for the nearest unfinished node is simpler than a heap and fast enough.
  for (;;) {
    let v = -1;
    for (let i = 0; i < dist.length; i++) if (!done[i] && dist[i]! < Infinity && (v < 0 || dist[i]! < dist[v]!)) v = i;
    if (v < 0) return dist;
    done[v] = true;
    if (!owners.has(v) && spec.nodes[v]!.kind !== 'router') continue;
    for (const at of attachments[v]!) {
      const d = dist[v]! + at.cost;
      if (d < dist[at.peer]!) dist[at.peer] = d;
    }
  }
}

/** Explicit routes replace automatic ones for the same family and prefix, in place; new ones follow. */
function mergeExplicitRoutes(auto: readonly PlannedRoute[], node: NodeSpec, interfaces: readonly PlannedInterface[]): PlannedRoute[] {
  const routes = [...auto];
  for (const spec of node.routes ?? []) {
    const route = planExplicitRoute(spec, interfaces);
    const same = routes.findIndex((r) => r.family === route.family && r.to === route.to);
    if (same >= 0) routes[same] = route;
    else routes.push(route);
  }
  return routes;
}

function planExplicitRoute(spec: RouteSpec, interfaces: readonly PlannedInterface[]): PlannedRoute {
  const family = parseAddress(spec.via[0]!)!.family;
  const to = spec.to === 'default' ? 'default' : prefixText(parseCidr(spec.to)!);
  const nexthops = spec.via.map((via): PlannedNexthop => {
    const address = parseAddress(via)!.address;
    const intf = interfaces.find((i) => cidrContains(parseCidr(i[familyName(family)])!, address))!;
    return { via: formatAddress({ family, address, prefixLength: 0 }), ifname: intf.ifname };
  });
  return spec.advmss === undefined ? { family, to, nexthops } : { family, to, nexthops, advmss: spec.advmss };
}

function planSysctls(node: NodeSpec): Record<string, string> {
  const out: Record<string, string> = {};
  if (node.kind === 'router') {
    out['net.ipv4.ip_forward'] = '1';
    out['net.ipv6.conf.all.forwarding'] = '1';
  }
  if (node.ecmp) {
    // Policy 1 hashes on the L4 five-tuple: exactly what sends port-less fragments and ICMP errors astray.
    out['net.ipv4.fib_multipath_hash_policy'] = '1';
    out['net.ipv6.fib_multipath_hash_policy'] = '1';
  }
  return { ...out, ...(node.sysctls ?? {}) };
}
