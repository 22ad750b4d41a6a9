import { familyName, IP_FAMILIES } from '../packet/ip-family.js';
import { cidrContains, isLabSpace, isNetworkOrBroadcast, parseAddress, parseCidr, prefixText, sameAddress } from '../packet/cidr.js';
import { assignAddresses } from './lab-addressing.js';
import type { LabFileError } from './lab-spec-error.js';
import type { LabSpec, LinkSpec, NodeSpec, RouteSpec } from './spec.js';

export type { LabFileError } from './lab-spec-error.js';

export const LAB_NAME_PATTERN = /^[a-z][a-z0-9-]{0,23}$/;
export const NODE_NAME_PATTERN = /^[a-z][a-z0-9]{0,11}$/;
/** Lower case and no dots: interface names become sysctl path components (net.ipv4.conf.IFNAME...). */
export const IFNAME_PATTERN = /^[a-z][a-z0-9_-]{0,14}$/;
/** `lo` exists in every namespace; `all` and `default` would alias the sysctl trees of those names. */
export const RESERVED_IFNAMES: ReadonlySet<string> = new Set(['lo', 'all', 'default']);
/** Only the network namespace's own sysctls: anything else would change the host, not the lab. */
export const SYSCTL_KEY_PATTERN = /^net\.[a-z0-9_]+(\.[a-z0-9_-]+)+$/;
const SYSCTL_VALUE_PATTERN = /^[\x21-\x7e]+([ \t][\x21-\x7e]+)*$/;

/**
 * Every link is dual-stack, so its MTU must suit IPv6 too: the kernel removes IPv6 from an interface whose MTU goes
 * below 1280, which would silently cut the IPv6 half of every route across the link. Path-MTU failures worth
 * reproducing sit well above that anyway (1400, 1344-byte MSS clamps, 50 bytes of VXLAN overhead).
 */
export const MIN_MTU = 1280;
export const MAX_MTU = 65535;
/** A TCP MSS that fits a lab link: from the 1280-byte IPv6 minimum down to what tiny IPv4 paths use (88 = 128 - 40). */
export const MIN_MSS = 88;
export const MAX_MSS = 65495;
export const MAX_COST = 1_000_000;
export const MAX_VNI = 0xffffff;

function isInt(v: unknown, min: number, max: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/**
 * The semantic checks of a lab spec (everything that does not depend on how it was written). An empty result
 * means planLab can plan it. Paths use the spec's own field names: `nodes[1].clampMss`.
 */
/** Why a node cannot both drop fragments and masquerade (also checked by the builder for plans made by hand). */
export const DROP_FRAGMENTS_WITH_NAT =
  "cannot be combined with masquerade on the same node (the NAT's connection tracking reassembles fragments before any " +
  'filter sees them); put the NAT on a neighbouring node';

export function validateLabSpec(spec: LabSpec): LabFileError[] {
  const errors: LabFileError[] = [];
  const err = (path: string, message: string): void => {
    errors.push({ path, message });
  };

  if (!LAB_NAME_PATTERN.test(spec.name)) {
    err('name', `${JSON.stringify(spec.name)} must be 1-24 characters of a-z, 0-9 and -, starting with a letter`);
  }
  if (spec.nodes.length === 0) err('nodes', 'a lab needs at least one node');

  const nodeIndex = new Map<string, number>();
  spec.nodes.forEach((node, i) => {
    if (!NODE_NAME_PATTERN.test(node.name)) {
      err(`nodes[${i}].name`, `${JSON.stringify(node.name)} must be 1-12 characters of a-z and 0-9, starting with a letter`);
    } else if (nodeIndex.has(node.name)) {
      err(`nodes[${i}].name`, `node "${node.name}" is defined twice`);
    } else {
      nodeIndex.set(node.name, i);
    }
    validateNode(node, `nodes[${i}]`, err);
  });

  const ifnames = spec.nodes.map(() => new Set<string>());
  spec.links.forEach((link, i) => validateLink(link, i, nodeIndex, ifnames, err));
  spec.links.forEach((link, i) => {
    if (!link.vxlan) return;
    const [a, b] = link.endpoints.map((e) => e.node);
    const underlay = spec.links.some((l) => !l.vxlan && sameNodes(l, a!, b!));
    if (!underlay && a !== b) err(`links[${i}].vxlan`, `a vxlan link needs a direct non-vxlan link between "${a}" and "${b}" to run over`);
  });

  spec.nodes.forEach((node, i) => {
    if (nodeIndex.get(node.name) !== i) return;
    (node.masquerade ?? []).forEach((ifname, j) => {
      if (!ifnames[i]!.has(ifname)) err(`nodes[${i}].masquerade[${j}]`, `node "${node.name}" has no interface "${ifname}"`);
    });
    if (node.dropFragments && (node.masquerade ?? []).length > 0) err(`nodes[${i}].dropFragments`, DROP_FRAGMENTS_WITH_NAT);
  });

  // Address assignment and route next hops need every address to parse; reporting their consequences on top of a
  // malformed spec would only bury the real mistake.
  if (errors.length > 0) return errors;
  const addressing = assignAddresses(spec);
  errors.push(...addressing.errors);
  if (errors.length > 0) return errors;

  spec.nodes.forEach((node, n) => {
    const connected = spec.links.flatMap((link, i) =>
      link.endpoints.flatMap((e, side) => {
        if (e.node !== node.name) return [];
        const a = addressing.links[i]!;
        return [a.ipv4.ends[side]!, a.ipv6.ends[side]!];
      }),
    );
    (node.routes ?? []).forEach((route, r) => {
      const to = route.to === 'default' ? undefined : parseCidr(route.to)!;
      // The kernel already holds a route for a connected subnet; adding another for it fails (File exists).
      if (to && connected.some((c) => c.family === to.family && prefixText(c) === prefixText(to))) {
        err(`nodes[${n}].routes[${r}].to`, `${route.to} is directly connected to "${node.name}"`);
      }
      route.via.forEach((via, v) => {
        const parsed = parseAddress(via)!;
        const path = `nodes[${n}].routes[${r}].via[${v}]`;
        if (connected.some((c) => sameAddress(c.address, parsed.address))) {
          err(path, `${via} is an address of "${node.name}" itself`);
        } else if (!connected.some((c) => cidrContains(c, parsed.address))) {
          err(path, `${via} is not on a subnet directly connected to "${node.name}"`);
        }
      });
    });
  });
  return errors;
}

function sameNodes(link: LinkSpec, a: string, b: string): boolean {
  const [x, y] = link.endpoints.map((e) => e.node);
  return (x === a && y === b) || (x === b && y === a);
}

type Report = (path: string, message: string) => void;

function validateNode(node: NodeSpec, at: string, err: Report): void {
  if (node.kind !== 'host' && node.kind !== 'router') err(`${at}.kind`, `${JSON.stringify(node.kind)} must be "host" or "router"`);
  const seen: string[] = [];
  (node.loopbackAddresses ?? []).forEach((text, j) => {
    const path = `${at}.loopbackAddresses[${j}]`;
    const c = checkCidr(text, path, err);
    if (!c) return;
    const canonical = `${prefixText(c)} ${c.address.join('.')}`;
    if (seen.includes(canonical)) err(path, `${text} is given twice`);
    seen.push(canonical);
  });
  if (node.clampMss !== undefined && !isInt(node.clampMss, MIN_MSS, MAX_MSS)) {
    err(`${at}.clampMss`, `${String(node.clampMss)} must be an integer MSS from ${MIN_MSS} to ${MAX_MSS}`);
  }
  for (const [key, value] of Object.entries(node.sysctls ?? {})) {
    const path = `${at}.sysctls["${key}"]`;
    if (!SYSCTL_KEY_PATTERN.test(key)) err(path, `${JSON.stringify(key)} is not a network sysctl (net.*, lower case, dot-separated)`);
    else if (typeof value !== 'string' || !SYSCTL_VALUE_PATTERN.test(value)) err(path, `${JSON.stringify(value)} is not a sysctl value`);
  }
  const tos: string[] = [];
  (node.routes ?? []).forEach((route, r) => {
    const key = validateRoute(route, `${at}.routes[${r}]`, err);
    if (key === undefined) return;
    if (tos.includes(key)) err(`${at}.routes[${r}].to`, `a route to ${route.to} is given twice`);
    tos.push(key);
  });
}

/** Returns the route's identity (family and normalised prefix) when it is valid. */
function validateRoute(route: RouteSpec, at: string, err: Report): string | undefined {
  let ok = true;
  if (route.via.length === 0) {
    err(`${at}.via`, 'a route needs at least one next hop');
    return undefined;
  }
  const families = new Set<number>();
  const seen: string[] = [];
  route.via.forEach((via, v) => {
    const parsed = parseAddress(via);
    if (!parsed) {
      err(`${at}.via[${v}]`, `${JSON.stringify(via)} is not an IP address`);
      ok = false;
      return;
    }
    families.add(parsed.family);
    if (!isLabSpace({ ...parsed, prefixLength: parsed.family === 4 ? 32 : 128 })) {
      err(`${at}.via[${v}]`, `${via} is outside the lab's address space (10.0.0.0/8, fd00::/8)`);
      ok = false;
    }
    const canonical = parsed.address.join('.');
    if (seen.includes(canonical)) {
      err(`${at}.via[${v}]`, `next hop ${via} is given twice`);
      ok = false;
    }
    seen.push(canonical);
  });
  if (families.size > 1) {
    err(`${at}.via`, 'next hops mix IPv4 and IPv6; give one route per family');
    return undefined;
  }
  const family = [...families][0];
  let key: string | undefined;
  if (route.to === 'default') {
    key = `${family} default`;
  } else {
    const to = checkCidr(route.to, `${at}.to`, err, false);
    if (to && family !== undefined && to.family !== family) {
      err(`${at}.to`, `${route.to} is IPv${to.family} but its next hops are IPv${family}`);
      ok = false;
    }
    key = to ? `${to.family} ${prefixText(to)}` : undefined;
  }
  if (route.advmss !== undefined && !isInt(route.advmss, MIN_MSS, MAX_MSS)) {
    err(`${at}.advmss`, `${String(route.advmss)} must be an integer MSS from ${MIN_MSS} to ${MAX_MSS}`);
  }
  return ok ? key : undefined;
}

function checkCidr(text: string, path: string, err: Report, isInterface = true): ReturnType<typeof parseCidr> {
  const c = typeof text === 'string' ? parseCidr(text) : undefined;
  if (!c) {
    err(path, `${JSON.stringify(text)} is not an address with prefix length (e.g. 10.0.1.1/24 or fd00:0:0:1::1/64)`);
    return undefined;
  }
  if (!isLabSpace(c)) {
    err(path, `${text} is outside the lab's address space (10.0.0.0/8, fd00::/8)`);
    return undefined;
  }
  if (isInterface && isNetworkOrBroadcast(c)) {
    err(path, `${text} is the network or broadcast address of ${prefixText(c)}`);
    return undefined;
  }
  return c;
}

function validateLink(link: LinkSpec, i: number, nodeIndex: Map<string, number>, ifnames: Set<string>[], err: Report): void {
  const at = `links[${i}]`;
  if (link.endpoints.length !== 2) {
    err(`${at}.endpoints`, `a link has exactly two endpoints, not ${link.endpoints.length}`);
    return;
  }
  link.endpoints.forEach((e, side) => {
    const ep = `${at}.endpoints[${side}]`;
    const n = nodeIndex.get(e.node);
    if (n === undefined) err(`${ep}.node`, `node "${e.node}" is not defined`);
    if (!IFNAME_PATTERN.test(e.ifname)) {
      err(`${ep}.ifname`, `${JSON.stringify(e.ifname)} must be 1-15 characters of a-z, 0-9, _ and -, starting with a letter`);
    } else if (RESERVED_IFNAMES.has(e.ifname)) {
      err(`${ep}.ifname`, `"${e.ifname}" is reserved`);
    } else if (n !== undefined) {
      if (ifnames[n]!.has(e.ifname)) err(`${ep}.ifname`, `node "${e.node}" already has an interface "${e.ifname}"`);
      ifnames[n]!.add(e.ifname);
    }
    if (e.mtu !== undefined && !isInt(e.mtu, MIN_MTU, MAX_MTU)) err(`${ep}.mtu`, mtuMessage(e.mtu));
  });
  const [a, b] = link.endpoints;
  if (a.node === b.node) err(`${at}.endpoints[1].node`, `a link cannot join node "${a.node}" to itself`);
  if (link.mtu !== undefined && !isInt(link.mtu, MIN_MTU, MAX_MTU)) err(`${at}.mtu`, mtuMessage(link.mtu));
  if (link.cost !== undefined && !isInt(link.cost, 1, MAX_COST)) err(`${at}.cost`, `${String(link.cost)} must be an integer from 1 to ${MAX_COST}`);
  if (link.vxlan) {
    if (!isInt(link.vxlan.vni, 0, MAX_VNI)) err(`${at}.vxlan.vni`, `${String(link.vxlan.vni)} must be an integer from 0 to ${MAX_VNI}`);
    if (link.vxlan.port !== undefined && !isInt(link.vxlan.port, 1, 65535)) {
      err(`${at}.vxlan.port`, `${String(link.vxlan.port)} must be a UDP port from 1 to 65535`);
    }
  }
  for (const family of IP_FAMILIES) {
    const key = familyName(family);
    const given = link.endpoints.map((e, side) => {
      const text = e[key];
      if (text === undefined) return undefined;
      const path = `${at}.endpoints[${side}].${key}`;
      const c = checkCidr(text, path, err);
      if (c && c.family !== family) {
        err(path, `${text} is not an IPv${family} address`);
        return undefined;
      }
      return c;
    });
    const [x, y] = given;
    if (x && y) {
      if (prefixText(x) !== prefixText(y)) {
        err(`${at}.endpoints[1].${key}`, `${link.endpoints[1][key]} is not in the same subnet as ${link.endpoints[0][key]}`);
      } else if (sameAddress(x.address, y.address)) {
        err(`${at}.endpoints[1].${key}`, `both ends of the link have the address ${link.endpoints[1][key]}`);
      }
    }
  }
}

function mtuMessage(mtu: unknown): string {
  return `${String(mtu)} must be an integer MTU from ${MIN_MTU} to ${MAX_MTU} (every lab link carries IPv6, which needs at least ${MIN_MTU})`;
}
