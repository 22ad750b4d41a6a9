import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { LabFileError } from './lab-spec-error.js';
import type { EndpointSpec, LabSpec, LinkSpec, NodeKind, NodeSpec, RouteSpec } from './spec.js';
import { validateLabSpec } from './validate.js';

export { formatLabFileErrors, type LabFileError } from './lab-spec-error.js';

export type LabFileResult = { readonly ok: true; readonly spec: LabSpec } | { readonly ok: false; readonly errors: readonly LabFileError[] };

/*
 * A topology file in the style of containerlab:
 *
 *   name: pmtu-blackhole
 *   topology:
 *     nodes:
 *       client: { kind: host }
 *       r1: { kind: router, drop-packet-too-big: true, clamp-mss: 1344, ecmp: true, masquerade: [eth2],
 *             loopback-addresses: [10.100.0.1/32], sysctls: { net.ipv4.tcp_mtu_probing: 1 },
 *             routes: [{ to: 10.9.0.0/24, via: [10.0.1.2], advmss: 1460 }] }
 *     links:
 *       - endpoints: ["client:eth1", "r1:eth1"]
 *         mtu: 1400
 *       - endpoints: ["r1:eth2", { node: server, interface: eth1, mtu: 9000, ipv4: 10.5.0.2/24 }]
 *         cost: 2
 *       - endpoints: ["lb:vx0", "srv:vx0"]
 *         vxlan: { vni: 42, port: 4789 }
 *
 * Keys are checked strictly: a misspelt feature (drop-packet-to-big) is an error, never a silently absent feature.
 */

const TOP_KEYS = ['name', 'topology'];
const TOPOLOGY_KEYS = ['nodes', 'links'];
const NODE_KEYS = ['kind', 'drop-packet-too-big', 'drop-fragments', 'clamp-mss', 'masquerade', 'ecmp', 'loopback-addresses', 'sysctls', 'routes'];
const ROUTE_KEYS = ['to', 'via', 'advmss'];
const LINK_KEYS = ['endpoints', 'mtu', 'cost', 'vxlan'];
const ENDPOINT_KEYS = ['node', 'interface', 'mtu', 'ipv4', 'ipv6'];
const VXLAN_KEYS = ['vni', 'port'];

type Entries = Map<string, { readonly key: YamlNode; readonly value: YamlNode | null }>;

/** Where a spec path (as validateLabSpec reports it) was written in the file. */
interface Location {
  readonly path: string;
  readonly line: number | undefined;
}

class FileReader {
  readonly errors: LabFileError[] = [];
  readonly locations = new Map<string, Location>();

  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  line(node: YamlNode | null | undefined): number | undefined {
    const offset = node?.range?.[0];
    return offset === undefined ? undefined : this.lines.linePos(offset).line;
  }

  error(path: string, node: YamlNode | null | undefined, message: string): void {
    const line = this.line(node);
    this.errors.push(line === undefined ? { path, message } : { path, line, message });
  }

  note(specPath: string, path: string, node: YamlNode | null | undefined): void {
    this.locations.set(specPath, { path, line: this.line(node) });
  }

  /** Follows YAML aliases (`*anchor`) so that shared fragments read like written-out ones. */
  deref(node: YamlNode | null | undefined): YamlNode | null {
    let n = node ?? null;
    for (let i = 0; i < 32 && n && isAlias(n); i++) n = (n.resolve(this.doc) as YamlNode | undefined) ?? null;
    return n;
  }

  map(raw: YamlNode | null, path: string, allowed: readonly string[], at: YamlNode | null = raw): Entries | undefined {
    const node = this.deref(raw);
    if (!isMap(node)) {
      this.error(path, node ?? at, `must be a mapping (${allowed.length > 0 ? `keys: ${allowed.join(', ')}` : 'key: value'})`);
      return undefined;
    }
    const out: Entries = new Map();
    for (const pair of node.items) {
      const keyNode = this.deref(pair.key as YamlNode | null);
      const key = isScalar(keyNode) ? keyNode.value : undefined;
      if (typeof key !== 'string' && typeof key !== 'number') {
        this.error(path, keyNode ?? node, 'keys must be plain names');
        continue;
      }
      const name = String(key);
      if (allowed.length > 0 && !allowed.includes(name)) {
        const hint = nearest(name, allowed);
        this.error(`${path}.${name}`, keyNode, `unknown key "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; allowed: ${allowed.join(', ')}`);
        continue;
      }
      out.set(name, { key: keyNode!, value: this.deref(pair.value as YamlNode | null) });
    }
    return out;
  }

  list(node: YamlNode | null, path: string, at: YamlNode): YamlNode[] | undefined {
    if (!isSeq(node)) {
      this.error(path, node ?? at, 'must be a list');
      return undefined;
    }
    return node.items.map((item) => this.deref(item as YamlNode | null) ?? node);
  }

  scalar(node: YamlNode | null): unknown {
    return isScalar(node) ? node.value : undefined;
  }

  string(node: YamlNode | null, path: string, at: YamlNode): string | undefined {
    const v = this.scalar(node);
    if (typeof v === 'string' && v !== '') return v;
    this.error(path, node ?? at, `must be a non-empty string, not ${describe(node, v)}`);
    return undefined;
  }

  integer(node: YamlNode | null, path: string, at: YamlNode): number | undefined {
    const v = this.scalar(node);
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    this.error(path, node ?? at, `must be an integer, not ${describe(node, v)}`);
    return undefined;
  }

  boolean(node: YamlNode | null, path: string, at: YamlNode): boolean | undefined {
    const v = this.scalar(node);
    if (typeof v === 'boolean') return v;
    this.error(path, node ?? at, `must be true or false, not ${describe(node, v)}`);
    return undefined;
  }

  strings(node: YamlNode | null, path: string, at: YamlNode, specPath: string): string[] | undefined {
    const items = this.list(node, path, at);
    if (!items) return undefined;
    const out: string[] = [];
    items.forEach((item, j) => {
      const s = this.string(item, `${path}[${j}]`, item);
      this.note(`${specPath}[${j}]`, `${path}[${j}]`, item);
      if (s !== undefined) out.push(s);
    });
    return out.length === items.length ? out : undefined;
  }
}

function describe(node: YamlNode | null, v: unknown): string {
  if (node === null || v === null) return 'empty';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** The allowed key a typo most likely meant (edit distance at most 3). */
function nearest(name: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const candidate of allowed) {
    const d = editDistance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * Reads a topology file. Every problem found is reported (structure first; the semantic checks of validateLabSpec
 * only once the structure is sound), each with the key it concerns and its line.
 */
export function parseLabFile(text: string): LabFileResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({ path: '', line: lines.linePos(e.pos[0]).line, message: `YAML syntax: ${e.message.split('\n')[0]}` })),
    };
  }
  const r = new FileReader(doc, lines);
  const spec = readSpec(r, doc.contents);
  if (!spec || r.errors.length > 0) return { ok: false, errors: r.errors };
  const semantic = validateLabSpec(spec);
  if (semantic.length === 0) return { ok: true, spec };
  return { ok: false, errors: semantic.map((e) => locate(r.locations, e)) };
}

function locate(locations: ReadonlyMap<string, Location>, e: LabFileError): LabFileError {
  let p = e.path;
  for (;;) {
    const loc = locations.get(p);
    if (loc) return loc.line === undefined ? { path: loc.path, message: e.message } : { path: loc.path, line: loc.line, message: e.message };
    const parent = p.replace(/(\["[^"]*"\]|\[\d+\]|\.[A-Za-z0-9_-]+)$/, '');
    if (parent === p || parent === '') return e;
    p = parent;
  }
}

function readSpec(r: FileReader, root: YamlNode | null): LabSpec | undefined {
  if (root === null) {
    r.error('', null, 'the file is empty; a lab needs "name" and "topology"');
    return undefined;
  }
  const top = r.map(root, '(top level)', TOP_KEYS);
  if (!top) return undefined;
  const nameEntry = top.get('name');
  const topologyEntry = top.get('topology');
  if (!nameEntry) r.error('name', root, 'is required');
  if (!topologyEntry) r.error('topology', root, 'is required');
  const name = nameEntry ? r.string(nameEntry.value, 'name', nameEntry.key) : undefined;
  if (nameEntry) r.note('name', 'name', nameEntry.value ?? nameEntry.key);
  if (!topologyEntry) return undefined;
  const topology = r.map(topologyEntry.value, 'topology', TOPOLOGY_KEYS, topologyEntry.key);
  if (!topology) return undefined;

  const nodesEntry = topology.get('nodes');
  if (!nodesEntry) {
    r.error('topology.nodes', topologyEntry.key, 'is required');
    return undefined;
  }
  r.note('nodes', 'topology.nodes', nodesEntry.key);
  const nodeEntries = r.map(nodesEntry.value, 'topology.nodes', [], nodesEntry.key);
  const nodes: NodeSpec[] = [];
  [...(nodeEntries ?? [])].forEach(([nodeName, { key, value }], i) => {
    const node = readNode(r, nodeName, key, value, i);
    if (node) nodes.push(node);
  });

  const links: LinkSpec[] = [];
  const linksEntry = topology.get('links');
  if (linksEntry) {
    r.note('links', 'topology.links', linksEntry.key);
    (r.list(linksEntry.value, 'topology.links', linksEntry.key) ?? []).forEach((item, i) => {
      const link = readLink(r, item, i);
      if (link) links.push(link);
    });
  }
  return name === undefined ? undefined : { name, nodes, links };
}

function readNode(r: FileReader, name: string, key: YamlNode, value: YamlNode | null, i: number): NodeSpec | undefined {
  const at = `topology.nodes.${name}`;
  const sp = `nodes[${i}]`;
  r.note(sp, at, key);
  r.note(`${sp}.name`, at, key);
  const entries = r.map(value, at, NODE_KEYS, key);
  if (!entries) return undefined;
  const path = (k: string): string => `${at}.${k}`;
  const errorsBefore = r.errors.length;

  const kindEntry = entries.get('kind');
  let kind: NodeKind | undefined;
  if (!kindEntry) {
    r.error(path('kind'), key, 'is required: host or router');
  } else {
    const k = r.string(kindEntry.value, path('kind'), kindEntry.key);
    if (k === 'host' || k === 'router') kind = k;
    else if (k !== undefined) r.error(path('kind'), kindEntry.value, `"${k}" must be host or router`);
  }
  const node: { -readonly [K in keyof NodeSpec]: NodeSpec[K] } = { name, kind: kind ?? 'host' };

  const flag = (yamlKey: string, specKey: string, set: (v: boolean) => void): void => {
    const e = entries.get(yamlKey);
    if (!e) return;
    r.note(`${sp}.${specKey}`, path(yamlKey), e.value ?? e.key);
    const v = r.boolean(e.value, path(yamlKey), e.key);
    if (v !== undefined) set(v);
  };
  flag('drop-packet-too-big', 'dropPacketTooBig', (v) => (node.dropPacketTooBig = v));
  flag('drop-fragments', 'dropFragments', (v) => (node.dropFragments = v));
  flag('ecmp', 'ecmp', (v) => (node.ecmp = v));

  const mss = entries.get('clamp-mss');
  if (mss) {
    r.note(`${sp}.clampMss`, path('clamp-mss'), mss.value ?? mss.key);
    node.clampMss = r.integer(mss.value, path('clamp-mss'), mss.key);
  }
  const masquerade = entries.get('masquerade');
  if (masquerade) node.masquerade = r.strings(masquerade.value, path('masquerade'), masquerade.key, `${sp}.masquerade`);
  const loopbacks = entries.get('loopback-addresses');
  if (loopbacks) {
    node.loopbackAddresses = r.strings(loopbacks.value, path('loopback-addresses'), loopbacks.key, `${sp}.loopbackAddresses`);
  }

  const sysctls = entries.get('sysctls');
  if (sysctls) {
    const out: Record<string, string> = {};
    for (const [k, { key: kNode, value: v }] of r.map(sysctls.value, path('sysctls'), [], sysctls.key) ?? []) {
      const p = `${path('sysctls')}.${k}`;
      r.note(`${sp}.sysctls["${k}"]`, p, kNode);
      const s = r.scalar(v);
      // Numbers are the natural way to write most sysctls; the kernel reads them as text either way.
      if (typeof s === 'number' || (typeof s === 'string' && s !== '')) out[k] = String(s);
      else r.error(p, v ?? kNode, `must be a number or a string, not ${describe(v, s)}`);
    }
    node.sysctls = out;
  }

  const routes = entries.get('routes');
  if (routes) {
    const list: RouteSpec[] = [];
    (r.list(routes.value, path('routes'), routes.key) ?? []).forEach((item, j) => {
      const route = readRoute(r, item, `${path('routes')}[${j}]`, `${sp}.routes[${j}]`);
      if (route) list.push(route);
    });
    node.routes = list;
  }
  return r.errors.length === errorsBefore ? node : undefined;
}

function readRoute(r: FileReader, item: YamlNode, at: string, sp: string): RouteSpec | undefined {
  r.note(sp, at, item);
  const entries = r.map(item, at, ROUTE_KEYS);
  if (!entries) return undefined;
  const toEntry = entries.get('to');
  const viaEntry = entries.get('via');
  if (!toEntry) r.error(`${at}.to`, item, 'is required: a prefix or "default"');
  if (!viaEntry) r.error(`${at}.via`, item, 'is required: one next-hop address or a list of them');
  if (!toEntry || !viaEntry) return undefined;
  r.note(`${sp}.to`, `${at}.to`, toEntry.value ?? toEntry.key);
  r.note(`${sp}.via`, `${at}.via`, viaEntry.value ?? viaEntry.key);
  const to = r.string(toEntry.value, `${at}.to`, toEntry.key);
  let via: string[] | undefined;
  if (isSeq(viaEntry.value)) {
    via = r.strings(viaEntry.value, `${at}.via`, viaEntry.key, `${sp}.via`);
  } else {
    const one = r.string(viaEntry.value, `${at}.via`, viaEntry.key);
    r.note(`${sp}.via[0]`, `${at}.via`, viaEntry.value ?? viaEntry.key);
    via = one === undefined ? undefined : [one];
  }
  let advmss: number | undefined;
  const advmssEntry = entries.get('advmss');
  if (advmssEntry) {
    r.note(`${sp}.advmss`, `${at}.advmss`, advmssEntry.value ?? advmssEntry.key);
    advmss = r.integer(advmssEntry.value, `${at}.advmss`, advmssEntry.key);
    if (advmss === undefined) return undefined;
  }
  if (to === undefined || via === undefined) return undefined;
  return advmss === undefined ? { to, via } : { to, via, advmss };
}

function readLink(r: FileReader, item: YamlNode, i: number): LinkSpec | undefined {
  const at = `topology.links[${i}]`;
  const sp = `links[${i}]`;
  r.note(sp, at, item);
  const entries = r.map(item, at, LINK_KEYS);
  if (!entries) return undefined;
  const errorsBefore = r.errors.length;
  const endpointsEntry = entries.get('endpoints');
  let endpoints: EndpointSpec[] = [];
  if (!endpointsEntry) {
    r.error(`${at}.endpoints`, item, 'is required: ["node:interface", "node:interface"]');
  } else {
    r.note(`${sp}.endpoints`, `${at}.endpoints`, endpointsEntry.value ?? endpointsEntry.key);
    const items = r.list(endpointsEntry.value, `${at}.endpoints`, endpointsEntry.key) ?? [];
    if (items.length !== 2 && isSeq(endpointsEntry.value)) {
      r.error(`${at}.endpoints`, endpointsEntry.value, `a link has exactly two endpoints, not ${items.length}`);
    }
    endpoints = items.flatMap((e, side) => {
      const ep = readEndpoint(r, e, `${at}.endpoints[${side}]`, `${sp}.endpoints[${side}]`);
      return ep ? [ep] : [];
    });
  }
  const link: { -readonly [K in keyof LinkSpec]: LinkSpec[K] } = { endpoints: [endpoints[0]!, endpoints[1]!] };
  for (const [yamlKey, field] of [
    ['mtu', 'mtu'],
    ['cost', 'cost'],
  ] as const) {
    const e = entries.get(yamlKey);
    if (!e) continue;
    r.note(`${sp}.${field}`, `${at}.${yamlKey}`, e.value ?? e.key);
    link[field] = r.integer(e.value, `${at}.${yamlKey}`, e.key);
  }
  const vxlanEntry = entries.get('vxlan');
  if (vxlanEntry) {
    const vat = `${at}.vxlan`;
    r.note(`${sp}.vxlan`, vat, vxlanEntry.key);
    const v = r.map(vxlanEntry.value, vat, VXLAN_KEYS, vxlanEntry.key);
    if (v) {
      const vniEntry = v.get('vni');
      if (!vniEntry) r.error(`${vat}.vni`, vxlanEntry.value, 'is required: the VXLAN network identifier');
      const vni = vniEntry ? r.integer(vniEntry.value, `${vat}.vni`, vniEntry.key) : undefined;
      if (vniEntry) r.note(`${sp}.vxlan.vni`, `${vat}.vni`, vniEntry.value ?? vniEntry.key);
      const portEntry = v.get('port');
      const port = portEntry ? r.integer(portEntry.value, `${vat}.port`, portEntry.key) : undefined;
      if (portEntry) r.note(`${sp}.vxlan.port`, `${vat}.port`, portEntry.value ?? portEntry.key);
      if (vni !== undefined) link.vxlan = port === undefined ? { vni } : { vni, port };
    }
  }
  return r.errors.length === errorsBefore && endpoints.length === 2 ? link : undefined;
}

function readEndpoint(r: FileReader, item: YamlNode, at: string, sp: string): EndpointSpec | undefined {
  r.note(sp, at, item);
  const v = r.scalar(item);
  if (typeof v === 'string') {
    // The containerlab form: "node:interface". Every field of this endpoint was written in this one string.
    const m = /^([^:]+):([^:]+)$/.exec(v);
    if (!m) {
      r.error(at, item, `${JSON.stringify(v)} must be "node:interface" (or a mapping with node, interface, mtu, ipv4, ipv6)`);
      return undefined;
    }
    return { node: m[1]!, ifname: m[2]! };
  }
  if (!isMap(item)) {
    r.error(at, item, 'must be "node:interface" or a mapping with node, interface, mtu, ipv4, ipv6');
    return undefined;
  }
  const entries = r.map(item, at, ENDPOINT_KEYS);
  if (!entries) return undefined;
  const before = r.errors.length;
  const get = (yamlKey: string, field: string): { key: YamlNode; value: YamlNode | null } | undefined => {
    const e = entries.get(yamlKey);
    if (e) r.note(`${sp}.${field}`, `${at}.${yamlKey}`, e.value ?? e.key);
    return e;
  };
  const nodeEntry = get('node', 'node');
  const ifEntry = get('interface', 'ifname');
  if (!nodeEntry) r.error(`${at}.node`, item, 'is required');
  if (!ifEntry) r.error(`${at}.interface`, item, 'is required');
  const node = nodeEntry ? r.string(nodeEntry.value, `${at}.node`, nodeEntry.key) : undefined;
  const ifname = ifEntry ? r.string(ifEntry.value, `${at}.interface`, ifEntry.key) : undefined;
  const ep: { -readonly [K in keyof EndpointSpec]: EndpointSpec[K] } = { node: node ?? '', ifname: ifname ?? '' };
  const mtuEntry = get('mtu', 'mtu');
  if (mtuEntry) ep.mtu = r.integer(mtuEntry.value, `${at}.mtu`, mtuEntry.key);
  for (const key of ['ipv4', 'ipv6'] as const) {
    const e = get(key, key);
    if (e) ep[key] = r.string(e.value, `${at}.${key}`, e.key);
  }
  return r.errors.length === before ? ep : undefined;
}
