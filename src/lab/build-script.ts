/**
 * Turns a PlannedLab into what each node's namespace must run, grouped in the phases the builder runs (each phase
 * for all nodes in parallel, one `ip -batch` process per node and phase rather than one process per setting):
 *
 * 1. global sysctls, before any interface exists (so `conf.default.*` applies to the lab's interfaces);
 * 2. `links`: loopback up and the veth pairs this node creates, straight inside both namespaces (never in the root
 *    namespace, so parallel labs cannot collide on interface names);
 * 3. `config`: addresses, links up, VXLAN tunnels, loopback addresses, routes; then
 *    iptables and the sysctls that name an interface;
 * 4. waiting until IPv6 is usable on every interface.
 */
import type { PlannedInterface, PlannedLab, PlannedNode, PlannedRoute } from './plan.js';
import { iptablesInput, type IptablesInput } from './apply-features.js';
import { shellSafeToken } from './tokens.js';

export interface NodeScript {
  readonly node: string;
  /** `key=value` arguments for `sysctl -w`. */
  readonly globalSysctls: readonly string[];
  readonly interfaceSysctls: readonly string[];
  /** `ip -batch` lines. */
  readonly links: readonly string[];
  readonly config: readonly string[];
  readonly iptables: IptablesInput;
  /** Interfaces to wait on until IPv6 is ready. */
  readonly ipv6Interfaces: readonly string[];
}

const SYSCTL_KEY = /^net(\.[A-Za-z0-9_/-]+)+$/;
/** Passed as one argv element ("key=value"), so only control characters are a problem. */
const SYSCTL_VALUE = /^[\x20-\x7e\t]*$/;
const PER_INTERFACE = /^net\.ipv[46]\.(?:conf|neigh)\.([^.]+)\./;
const SHARED_CONF = new Set(['all', 'default', 'lo']);
/**
 * Set in every node before its interfaces exist, unless the plan says otherwise: without DAD, link-local addresses
 * are usable at once (a tentative one loses the first neighbour solicitations and delays the first packets by a second).
 */
const NODE_DEFAULTS: Readonly<Record<string, string>> = {
  'net.ipv6.conf.all.accept_dad': '0',
  'net.ipv6.conf.default.accept_dad': '0',
};

function tok(value: string, what: string): string {
  return shellSafeToken(value, what);
}

function withoutPrefixLength(cidr: string): string {
  return cidr.split('/')[0] ?? cidr;
}

function findInterface(node: PlannedNode, ifname: string): PlannedInterface {
  const found = node.interfaces.find((i) => i.ifname === ifname);
  if (found === undefined) throw new Error(`node ${node.name}: no interface ${ifname} in the plan`);
  return found;
}

function sysctls(node: PlannedNode): { global: string[]; perInterface: string[] } {
  const global: string[] = [];
  const perInterface: string[] = [];
  for (const [key, value] of Object.entries({ ...NODE_DEFAULTS, ...node.sysctls })) {
    // Only the network namespace's own settings: anything else would change the host.
    if (!SYSCTL_KEY.test(key)) throw new Error(`node ${node.name}: sysctl "${key}" is not a net.* setting`);
    if (!SYSCTL_VALUE.test(value)) throw new Error(`node ${node.name}: sysctl ${key} has an unusable value "${value}"`);
    const conf = PER_INTERFACE.exec(key)?.[1];
    (conf !== undefined && !SHARED_CONF.has(conf) ? perInterface : global).push(`${key}=${value}`);
  }
  return { global, perInterface };
}

function addressLines(node: PlannedNode, i: PlannedInterface): string[] {
  const lines: string[] = [];
  const dev = tok(i.ifname, `node ${node.name}: interface name`);
  if (i.ipv4 !== '') lines.push(`addr add ${tok(i.ipv4, `node ${node.name}: ${dev} ipv4`)} dev ${dev}`);
  // nodad: the address is usable at once instead of after duplicate address detection (about 2 s).
  if (i.ipv6 !== '') lines.push(`addr add ${tok(i.ipv6, `node ${node.name}: ${dev} ipv6`)} dev ${dev} nodad`);
  lines.push(`link set ${dev} up`);
  return lines;
}

/**
 * No `dev UNDERLAY`: with a lower device the kernel caps the tunnel's MTU at the underlay's minus the 50 bytes of
 * encapsulation, and the misconfiguration worth reproducing (a 1500-byte tunnel on a 1500-byte underlay) could not be
 * built; the route to `remote` (the directly connected underlay peer) picks the underlay anyway. `df set`: the outer
 * packet carries DF, as a load balancer's encapsulation does, so an encapsulated packet too big for the underlay is
 * dropped (the ICMP error goes to the tunnel endpoint itself, never to the original sender) instead of silently
 * fragmented, which would hide the problem.
 */
function vxlanLines(node: PlannedNode, i: PlannedInterface): string[] {
  const v = i.vxlan;
  if (v === undefined) throw new Error(`node ${node.name}: vxlan interface ${i.ifname} has no tunnel parameters`);
  const what = `node ${node.name}: vxlan ${i.ifname}`;
  return [
    `link add ${tok(i.ifname, what)} mtu ${i.mtu} type vxlan id ${v.vni} local ${tok(withoutPrefixLength(v.local), what)} ` +
      `remote ${tok(withoutPrefixLength(v.remote), what)} dstport ${v.port} df set`,
    ...addressLines(node, i),
  ];
}

function routeLine(node: PlannedNode, r: PlannedRoute): string {
  const what = `node ${node.name}: route to ${r.to}`;
  const to = r.to === 'default' ? (r.family === 4 ? '0.0.0.0/0' : '::/0') : tok(r.to, what);
  const advmss = r.advmss === undefined ? '' : ` advmss ${r.advmss}`;
  if (r.nexthops.length === 0) throw new Error(`${what}: no next hop`);
  const hop = (h: { via: string; ifname: string }): string => `via ${tok(h.via, what)} dev ${tok(h.ifname, what)}`;
  const first = r.nexthops[0];
  if (r.nexthops.length === 1 && first !== undefined) return `route add ${to}${advmss} ${hop(first)}`;
  return `route add ${to}${advmss} ${r.nexthops.map((h) => `nexthop ${hop(h)}`).join(' ')}`;
}

export function buildScripts(plan: PlannedLab, namespaceOf: (node: string) => string): NodeScript[] {
  const byName = new Map(plan.nodes.map((n) => [n.name, n]));
  const linkLines = new Map<string, string[]>(plan.nodes.map((n) => [n.name, ['link set lo up']]));
  for (const link of plan.links) {
    if (link.kind !== 'veth') continue;
    const a = byName.get(link.a.node);
    const b = byName.get(link.b.node);
    if (a === undefined || b === undefined) throw new Error(`link ${link.a.node}:${link.a.ifname} - ${link.b.node}:${link.b.ifname}: unknown node`);
    const ia = findInterface(a, link.a.ifname);
    const ib = findInterface(b, link.b.ifname);
    const what = `link ${a.name}:${ia.ifname} - ${b.name}:${ib.ifname}`;
    linkLines
      .get(a.name)
      ?.push(`link add ${tok(ia.ifname, what)} mtu ${ia.mtu} type veth peer name ${tok(ib.ifname, what)} mtu ${ib.mtu} netns ${namespaceOf(b.name)}`);
  }
  return plan.nodes.map((node) => {
    const { global, perInterface } = sysctls(node);
    const config: string[] = [];
    for (const i of node.interfaces) if (i.kind === 'veth') config.push(...addressLines(node, i));
    for (const i of node.interfaces) if (i.kind === 'vxlan') config.push(...vxlanLines(node, i));
    for (const cidr of node.loopbackAddresses) config.push(`addr add ${tok(cidr, `node ${node.name}: loopback address`)} dev lo`);
    for (const r of node.routes) config.push(routeLine(node, r));
    return {
      node: node.name,
      globalSysctls: global,
      interfaceSysctls: perInterface,
      links: linkLines.get(node.name) ?? [],
      config,
      iptables: iptablesInput(node),
      ipv6Interfaces: node.interfaces.filter((i) => i.ipv6 !== '').map((i) => i.ifname),
    };
  });
}
