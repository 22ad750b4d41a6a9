import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cidrContains, isLabSpace, parseAddress, parseCidr, prefixText } from '../../src/packet/cidr.js';
import { LabSpecError, planLab } from '../../src/lab/plan-lab.js';
import type { PlannedLab, PlannedNode, PlannedRoute } from '../../src/lab/plan.js';
import type { EndpointSpec, LabSpec, LinkSpec, NodeSpec } from '../../src/lab/spec.js';
import { validateLabSpec } from '../../src/lab/validate.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function ep(text: string, extra: Partial<EndpointSpec> = {}): EndpointSpec {
  const [node, ifname] = text.split(':');
  return { node: node!, ifname: ifname!, ...extra };
}

function link(a: string | EndpointSpec, b: string | EndpointSpec, extra: Partial<LinkSpec> = {}): LinkSpec {
  return { endpoints: [typeof a === 'string' ? ep(a) : a, typeof b === 'string' ? ep(b) : b], ...extra };
}

const host = (name: string, extra: Partial<NodeSpec> = {}): NodeSpec => ({ name, kind: 'host', ...extra });
const router = (name: string, extra: Partial<NodeSpec> = {}): NodeSpec => ({ name, kind: 'router', ...extra });

function node(plan: PlannedLab, name: string): PlannedNode {
  const n = plan.nodes.find((x) => x.name === name);
  assert.ok(n, `no node ${name}`);
  return n;
}

function route(n: PlannedNode, family: 4 | 6, to: string): PlannedRoute | undefined {
  return n.routes.find((r) => r.family === family && r.to === to);
}

/** Routes in a compact form: "4 10.0.3.0/24 via 10.0.1.2@eth1". */
function routeLines(n: PlannedNode): string[] {
  return n.routes.map((r) => `${r.family} ${r.to} via ${r.nexthops.map((h) => `${h.via}@${h.ifname}`).join(',')}${r.advmss ? ` advmss ${r.advmss}` : ''}`);
}

/** client -- r1 ==1400== r2 -- server */
const chain: LabSpec = {
  name: 'chain',
  nodes: [host('client'), router('r1'), router('r2', { dropPacketTooBig: true }), host('server')],
  links: [link('client:eth1', 'r1:eth1'), link('r1:eth2', 'r2:eth1', { mtu: 1400 }), link('r2:eth2', 'server:eth1')],
};

/** client -- lb, which reaches srv1 and srv2; both servers carry the anycast address 10.100.0.1 on lo. */
function anycast(ecmp: boolean): LabSpec {
  const lo = { loopbackAddresses: ['10.100.0.1/32', 'fd00:100::1/128'] };
  return {
    name: 'anycast',
    nodes: [host('client'), router('lb', { ecmp }), host('srv1', lo), host('srv2', lo)],
    links: [link('client:eth1', 'lb:eth1'), link('lb:eth2', 'srv1:eth1'), link('lb:eth3', 'srv2:eth1')],
  };
}

/** a -- r1, then two routes r1 -- r2 -- r4 and r1 -- r3 -- r4, then r4 -- b. */
function diamond(extra: { ecmp?: boolean; costViaR2?: number } = {}): LabSpec {
  return {
    name: 'diamond',
    nodes: [host('a'), router('r1', { ecmp: extra.ecmp ?? false }), router('r2'), router('r3'), router('r4'), host('b')],
    links: [
      link('a:eth1', 'r1:eth1'),
      link('r1:eth2', 'r2:eth1', extra.costViaR2 === undefined ? {} : { cost: extra.costViaR2 }),
      link('r1:eth3', 'r3:eth1'),
      link('r2:eth2', 'r4:eth1'),
      link('r3:eth2', 'r4:eth2'),
      link('r4:eth3', 'b:eth1'),
    ],
  };
}

describe('planLab: addresses and MTUs', () => {
  it('numbers link i as 10.0.(i+1).0/24 and fd00:0:0:(i+1)::/64, first end .1, second .2', () => {
    const plan = planLab(chain);
    assert.deepEqual(
      plan.nodes.flatMap((n) => n.interfaces.map((i) => `${n.name}:${i.ifname} ${i.ipv4} ${i.ipv6} peer ${i.peer.node}:${i.peer.ifname}`)),
      [
        'client:eth1 10.0.1.1/24 fd00:0:0:1::1/64 peer r1:eth1',
        'r1:eth1 10.0.1.2/24 fd00:0:0:1::2/64 peer client:eth1',
        'r1:eth2 10.0.2.1/24 fd00:0:0:2::1/64 peer r2:eth1',
        'r2:eth1 10.0.2.2/24 fd00:0:0:2::2/64 peer r1:eth2',
        'r2:eth2 10.0.3.1/24 fd00:0:0:3::1/64 peer server:eth1',
        'server:eth1 10.0.3.2/24 fd00:0:0:3::2/64 peer r2:eth2',
      ],
    );
    assert.deepEqual(
      plan.links.map((l) => `${l.kind} ${l.a.node}:${l.a.ifname}-${l.b.node}:${l.b.ifname}`),
      ['veth client:eth1-r1:eth1', 'veth r1:eth2-r2:eth1', 'veth r2:eth2-server:eth1'],
    );
  });

  it('MTU: the endpoint, else the link, else 1500', () => {
    const plan = planLab({
      ...chain,
      links: [link('client:eth1', 'r1:eth1'), link('r1:eth2', ep('r2:eth1', { mtu: 9000 }), { mtu: 1400 }), link('r2:eth2', 'server:eth1')],
    });
    assert.deepEqual(
      plan.nodes.flatMap((n) => n.interfaces.map((i) => `${n.name}:${i.ifname}=${i.mtu}`)),
      ['client:eth1=1500', 'r1:eth1=1500', 'r1:eth2=1400', 'r2:eth1=9000', 'r2:eth2=1500', 'server:eth1=1500'],
    );
  });

  it('keeps user-given addresses, and automatic subnets skip what they use', () => {
    const spec: LabSpec = {
      name: 'given',
      nodes: [host('a', { loopbackAddresses: ['10.0.4.9/32'] }), router('r'), host('b'), host('c')],
      links: [
        link(ep('a:eth1', { ipv4: '10.0.2.10/24' }), ep('r:eth1', { ipv4: '10.0.2.20/24' })),
        link('r:eth2', ep('b:eth1', { ipv6: 'fd00:9::1/64' })),
        link('r:eth3', 'c:eth1'),
      ],
    };
    const plan = planLab(spec);
    const r = node(plan, 'r');
    assert.deepEqual(
      r.interfaces.map((i) => [i.ifname, i.ipv4, i.ipv6]),
      [
        // Link 0 keeps its addresses; its IPv6 is still automatic: its own number, 1.
        ['eth1', '10.0.2.20/24', 'fd00:0:0:1::2/64'],
        // Link 1 would be 10.0.2.0/24, which link 0 took; its IPv6 end on r is numbered inside b's given subnet.
        ['eth2', '10.0.3.1/24', 'fd00:9::2/64'],
        // Link 2 would be 10.0.3.0/24 (taken by link 1) and then 10.0.4.0/24 (a's loopback is in it).
        ['eth3', '10.0.5.1/24', 'fd00:0:0:3::1/64'],
      ],
    );
    assert.equal(node(plan, 'b').interfaces[0]!.ipv6, 'fd00:9::1/64');
    assert.equal(node(plan, 'a').interfaces[0]!.ipv4, '10.0.2.10/24');
  });

  it('with one end given, the other takes the first free address of its subnet', () => {
    const plan = planLab({
      name: 'oneend',
      nodes: [host('a'), host('b'), host('c')],
      links: [link(ep('a:eth1', { ipv4: '10.7.0.1/30' }), 'b:eth1'), link('b:eth2', ep('c:eth1', { ipv4: '10.8.0.0/31' }))],
    });
    assert.equal(node(plan, 'b').interfaces[0]!.ipv4, '10.7.0.2/30');
    // A /31 has no network or broadcast address: both of its addresses are usable (RFC 3021).
    assert.equal(node(plan, 'b').interfaces[1]!.ipv4, '10.8.0.1/31');
  });

  it('past 255 links the automatic subnets continue in 10.1.x.0/24', () => {
    const hosts = Array.from({ length: 300 }, (_, i) => host(`h${i}`));
    const plan = planLab({ name: 'star', nodes: [router('hub'), ...hosts], links: hosts.map((h, i) => link(`hub:e${i}`, `${h.name}:eth1`)) });
    const hub = node(plan, 'hub');
    assert.equal(hub.interfaces[0]!.ipv4, '10.0.1.1/24');
    assert.equal(hub.interfaces[254]!.ipv4, '10.0.255.1/24');
    assert.equal(hub.interfaces[255]!.ipv4, '10.1.0.1/24');
    assert.equal(hub.interfaces[299]!.ipv4, '10.1.44.1/24');
    assert.equal(hub.interfaces[299]!.ipv6, 'fd00:0:0:12c::1/64');
    assert.equal(node(plan, 'h7').routes.length, 2 * 299, 'every host reaches every other link, both families');
  });
});

describe('planLab: routes', () => {
  it('chain host-r1-r2-host: every node reaches every subnet, both families', () => {
    const plan = planLab(chain);
    assert.deepEqual(routeLines(node(plan, 'client')), [
      '4 10.0.2.0/24 via 10.0.1.2@eth1',
      '6 fd00:0:0:2::/64 via fd00:0:0:1::2@eth1',
      '4 10.0.3.0/24 via 10.0.1.2@eth1',
      '6 fd00:0:0:3::/64 via fd00:0:0:1::2@eth1',
    ]);
    assert.deepEqual(routeLines(node(plan, 'r1')), ['4 10.0.3.0/24 via 10.0.2.2@eth2', '6 fd00:0:0:3::/64 via fd00:0:0:2::2@eth2']);
    assert.deepEqual(routeLines(node(plan, 'r2')), ['4 10.0.1.0/24 via 10.0.2.1@eth1', '6 fd00:0:0:1::/64 via fd00:0:0:2::1@eth1']);
    assert.deepEqual(routeLines(node(plan, 'server')), [
      '4 10.0.1.0/24 via 10.0.3.1@eth1',
      '6 fd00:0:0:1::/64 via fd00:0:0:3::1@eth1',
      '4 10.0.2.0/24 via 10.0.3.1@eth1',
      '6 fd00:0:0:2::/64 via fd00:0:0:3::1@eth1',
    ]);
    assert.equal(node(plan, 'r2').dropPacketTooBig, true);
  });

  it('never routes through a host', () => {
    // a -- mid (a host with two links) -- r -- c: a can reach mid's far subnet (mid owns it) but nothing past it.
    const plan = planLab({
      name: 'nohost',
      nodes: [host('a'), host('mid'), router('r'), host('c')],
      links: [link('a:eth1', 'mid:eth1'), link('mid:eth2', 'r:eth1'), link('r:eth2', 'c:eth1')],
    });
    assert.deepEqual(routeLines(node(plan, 'a')), ['4 10.0.2.0/24 via 10.0.1.2@eth1', '6 fd00:0:0:2::/64 via fd00:0:0:1::2@eth1']);
    assert.ok(route(node(plan, 'mid'), 4, '10.0.3.0/24'), 'mid itself reaches past the router');
    // The same with a cheaper path through a host: the router still goes the long way round, through routers only.
    const around = planLab({
      name: 'around',
      nodes: [router('r1'), host('h'), router('r2'), router('r3'), host('far')],
      links: [link('r1:eth1', 'h:eth1'), link('h:eth2', 'r2:eth1'), link('r1:eth2', 'r3:eth1', { cost: 5 }), link('r3:eth2', 'r2:eth2'), link('r2:eth3', 'far:eth1')],
    });
    assert.deepEqual(route(node(around, 'r1'), 4, '10.0.5.0/24')!.nexthops, [{ via: '10.0.3.2', ifname: 'eth2' }]);
  });

  it('ECMP: two servers sharing an anycast address get one multipath route with both next hops', () => {
    const plan = planLab(anycast(true));
    const lb = node(plan, 'lb');
    assert.deepEqual(route(lb, 4, '10.100.0.1/32')!.nexthops, [
      { via: '10.0.2.2', ifname: 'eth2' },
      { via: '10.0.3.2', ifname: 'eth3' },
    ]);
    assert.deepEqual(route(lb, 6, 'fd00:100::1/128')!.nexthops, [
      { via: 'fd00:0:0:2::2', ifname: 'eth2' },
      { via: 'fd00:0:0:3::2', ifname: 'eth3' },
    ]);
    assert.equal(lb.routes.filter((r) => r.to === '10.100.0.1/32').length, 1, 'one route, not two');
    assert.deepEqual(route(node(plan, 'client'), 4, '10.100.0.1/32')!.nexthops, [{ via: '10.0.1.2', ifname: 'eth1' }]);
    assert.equal(route(node(plan, 'srv1'), 4, '10.100.0.1/32'), undefined, 'an owner has it locally');
  });

  it('a router without ecmp picks one next hop, the first by link order', () => {
    const lb = node(planLab(anycast(false)), 'lb');
    assert.deepEqual(route(lb, 4, '10.100.0.1/32')!.nexthops, [{ via: '10.0.2.2', ifname: 'eth2' }]);
    assert.deepEqual(route(lb, 6, 'fd00:100::1/128')!.nexthops, [{ via: 'fd00:0:0:2::2', ifname: 'eth2' }]);
  });

  it('ECMP over equal-cost paths through different routers', () => {
    const far = '10.0.6.0/24';
    assert.deepEqual(route(node(planLab(diamond({ ecmp: true })), 'r1'), 4, far)!.nexthops, [
      { via: '10.0.2.2', ifname: 'eth2' },
      { via: '10.0.3.2', ifname: 'eth3' },
    ]);
    assert.deepEqual(route(node(planLab(diamond()), 'r1'), 4, far)!.nexthops, [{ via: '10.0.2.2', ifname: 'eth2' }]);
  });

  it('costs steer paths', () => {
    const plan = planLab(diamond({ ecmp: true, costViaR2: 5 }));
    assert.deepEqual(route(node(plan, 'r1'), 4, '10.0.6.0/24')!.nexthops, [{ via: '10.0.3.2', ifname: 'eth3' }]);
    // 10.0.4.0/24 (r2-r4) is reached at r2 for 5 or at r4 via r3 for 2: the cheaper owner wins.
    assert.deepEqual(route(node(plan, 'r1'), 4, '10.0.4.0/24')!.nexthops, [{ via: '10.0.3.2', ifname: 'eth3' }]);
    assert.equal(route(node(plan, 'r1'), 4, '10.0.2.0/24'), undefined, 'connected');
  });

  it('explicit routes replace the automatic ones for the same prefix, in place; new ones follow', () => {
    const spec: LabSpec = {
      ...chain,
      nodes: chain.nodes.map((n) =>
        n.name === 'r1'
          ? {
              ...n,
              routes: [
                { to: '10.0.3.77/24', via: ['10.0.2.2'], advmss: 1300 },
                { to: 'default', via: ['fd00:0:0:1::1'] },
                { to: '10.0.200.0/24', via: ['10.0.1.1', '10.0.2.2'] },
              ],
            }
          : n,
      ),
    };
    assert.deepEqual(routeLines(node(planLab(spec), 'r1')), [
      '4 10.0.3.0/24 via 10.0.2.2@eth2 advmss 1300',
      '6 fd00:0:0:3::/64 via fd00:0:0:2::2@eth2',
      '6 default via fd00:0:0:1::1@eth1',
      '4 10.0.200.0/24 via 10.0.1.1@eth1,10.0.2.2@eth2',
    ]);
  });
});

describe('planLab: tunnels and node features', () => {
  const vx = (vxlan: { vni: number; port?: number }, mtu?: number): LabSpec => ({
    name: 'vx',
    nodes: [host('client'), router('lb'), host('backend', { loopbackAddresses: ['10.200.0.1/32'] })],
    links: [
      link('client:eth1', 'lb:eth1'),
      link('lb:eth2', 'backend:eth1', { cost: 10 }),
      link('backend:eth2', 'lb:eth3'),
      link('lb:vx0', 'backend:vx0', mtu === undefined ? { vxlan } : { vxlan, mtu }),
    ],
  });

  it('a vxlan link runs over the first direct link between its nodes, with its own subnet', () => {
    const plan = planLab(vx({ vni: 42 }));
    assert.equal(plan.links[3]!.kind, 'vxlan');
    const lbVx = node(plan, 'lb').interfaces.find((i) => i.ifname === 'vx0')!;
    const backendVx = node(plan, 'backend').interfaces.find((i) => i.ifname === 'vx0')!;
    assert.equal(lbVx.kind, 'vxlan');
    assert.deepEqual(lbVx.vxlan, { vni: 42, port: 4789, underlayIfname: 'eth2', local: '10.0.2.1', remote: '10.0.2.2' });
    assert.deepEqual(backendVx.vxlan, { vni: 42, port: 4789, underlayIfname: 'eth1', local: '10.0.2.2', remote: '10.0.2.1' });
    assert.equal(lbVx.ipv4, '10.0.4.1/24');
    assert.equal(lbVx.mtu, 1500);
    assert.equal(node(plan, 'lb').interfaces[0]!.vxlan, undefined);
    // The tunnel is a link like any other: the cheap way to the backend's service address.
    assert.deepEqual(route(node(plan, 'lb'), 4, '10.200.0.1/32')!.nexthops, [{ via: '10.0.3.1', ifname: 'eth3' }]);
  });

  it('port and MTU as given', () => {
    const lbVx = node(planLab(vx({ vni: 7, port: 8472 }, 1450)), 'lb').interfaces.find((i) => i.ifname === 'vx0')!;
    assert.equal(lbVx.vxlan!.port, 8472);
    assert.equal(lbVx.mtu, 1450);
  });

  it('sysctls: forwarding for routers, L4 multipath hashing for ecmp, then the spec, which wins', () => {
    const plan = planLab({
      name: 'sys',
      nodes: [
        host('h', { sysctls: { 'net.ipv4.tcp_mtu_probing': '1' } }),
        router('r', { ecmp: true, sysctls: { 'net.ipv6.fib_multipath_hash_policy': '0', 'net.ipv4.ip_no_pmtu_disc': '1' } }),
      ],
      links: [link('h:eth1', 'r:eth1')],
    });
    assert.deepEqual(node(plan, 'h').sysctls, { 'net.ipv4.tcp_mtu_probing': '1' });
    assert.deepEqual(node(plan, 'r').sysctls, {
      'net.ipv4.ip_forward': '1',
      'net.ipv6.conf.all.forwarding': '1',
      'net.ipv4.fib_multipath_hash_policy': '1',
      'net.ipv6.fib_multipath_hash_policy': '0',
      'net.ipv4.ip_no_pmtu_disc': '1',
    });
  });

  it('features carry over with their defaults', () => {
    const plan = planLab({
      ...chain,
      nodes: chain.nodes.map((n) =>
        n.name === 'r1' ? { ...n, dropFragments: true, clampMss: 1344 } : n.name === 'r2' ? { ...n, masquerade: ['eth2'] } : n,
      ),
    });
    const r1 = node(plan, 'r1');
    assert.deepEqual([r1.dropFragments, r1.clampMss, r1.masquerade, r1.dropPacketTooBig, r1.ecmp], [true, 1344, [], false, false]);
    assert.deepEqual(node(plan, 'r2').masquerade, ['eth2']);
    const c = node(plan, 'client');
    assert.deepEqual([c.dropFragments, c.clampMss, c.masquerade, c.loopbackAddresses, c.sysctls], [false, undefined, [], [], {}]);
  });

  it('is deterministic', () => {
    const spec = diamond({ ecmp: true });
    assert.equal(JSON.stringify(planLab(spec)), JSON.stringify(planLab(structuredClone(spec))));
  });
});

describe('planLab: invalid specs', () => {
  it('throws LabSpecError with paths in the spec’s own terms', () => {
    const spec: LabSpec = { ...chain, nodes: chain.nodes.map((n) => (n.name === 'r1' ? { ...n, clampMss: 20 } : n)), links: [...chain.links, link('r2:eth3', 'srv:eth1')] };
    assert.throws(
      () => planLab(spec),
      (e: unknown) => {
        assert.ok(e instanceof LabSpecError);
        assert.deepEqual(
          e.errors.map((x) => x.path),
          ['nodes[1].clampMss', 'links[3].endpoints[1].node'],
        );
        assert.match(e.message, /links\[3\]\.endpoints\[1\]\.node: node "srv" is not defined/);
        return true;
      },
    );
  });

  it('overlapping user subnets, addresses outside the lab, a /32 with no room for the peer', () => {
    const paths = (s: LabSpec): string[] => validateLabSpec(s).map((e) => `${e.path}: ${e.message}`);
    assert.deepEqual(
      paths({ name: 'x', nodes: [host('a'), host('b'), host('c')], links: [link(ep('a:eth1', { ipv4: '10.9.0.1/16' }), 'b:eth1'), link(ep('b:eth2', { ipv4: '10.9.3.1/24' }), 'c:eth1')] }),
      ['links[1].endpoints[0].ipv4: subnet 10.9.3.0/24 overlaps the subnet 10.9.0.0/16 of links[0]'],
    );
    assert.deepEqual(paths({ name: 'x', nodes: [host('a'), host('b')], links: [link(ep('a:eth1', { ipv6: 'fe80::1/64' }), 'b:eth1')] }), [
      "links[0].endpoints[0].ipv6: fe80::1/64 is outside the lab's address space (10.0.0.0/8, fd00::/8)",
    ]);
    assert.deepEqual(paths({ name: 'x', nodes: [host('a'), host('b')], links: [link(ep('a:eth1', { ipv4: '10.9.0.1/32' }), 'b:eth1')] }), [
      'links[0].endpoints[0].ipv4: 10.9.0.1/32 leaves no address for the other end of the link; give both ends',
    ]);
    assert.deepEqual(paths({ name: 'x', nodes: [host('a'), host('a')], links: [] }), ['nodes[1].name: node "a" is defined twice']);
  });
});

// ---- property: random connected topologies ----

interface Shape {
  readonly kinds: readonly ('host' | 'router')[];
  readonly parents: readonly number[];
  readonly extra: readonly (readonly [number, number])[];
  readonly costs: readonly number[];
  readonly ecmp: readonly boolean[];
  readonly anycast: readonly number[];
}

const arbShape: fc.Arbitrary<Shape> = fc.integer({ min: 2, max: 8 }).chain((n) =>
  fc.record({
    kinds: fc.array(fc.constantFrom('host' as const, 'router' as const, 'router' as const), { minLength: n, maxLength: n }),
    parents: fc.tuple(...Array.from({ length: n - 1 }, (_, i) => fc.integer({ min: 0, max: i }))),
    extra: fc.array(fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 0, max: n - 1 })), { maxLength: 5 }),
    costs: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: n + 5, maxLength: n + 5 }),
    ecmp: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
    // Which of two anycast groups (or none) each node's loopback belongs to.
    anycast: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: n, maxLength: n }),
  }),
);

function specFromShape(s: Shape): LabSpec {
  const names = s.kinds.map((_, i) => `n${i}`);
  const counters = names.map(() => 0);
  const pairs: [number, number][] = [...s.parents.map((p, i): [number, number] => [p, i + 1]), ...s.extra.filter(([a, b]) => a !== b).map(([a, b]): [number, number] => [a, b])];
  const links = pairs.map(([a, b], i): LinkSpec => {
    const l: Mutable<LinkSpec> = link(`${names[a]}:e${counters[a]!++}`, `${names[b]}:e${counters[b]!++}`);
    if (s.costs[i]! > 1) l.cost = s.costs[i]!;
    return l;
  });
  const nodes = s.kinds.map((kind, i): NodeSpec => {
    const g = s.anycast[i]!;
    return { name: names[i]!, kind, ecmp: s.ecmp[i]!, ...(g > 0 ? { loopbackAddresses: [`10.100.0.${g}/32`, `fd00:100::${g}/128`] } : {}) };
  });
  return { name: 'prop', nodes, links };
}

function cidrOf(text: string): NonNullable<ReturnType<typeof parseCidr>> {
  return parseCidr(text)!;
}

/** Owners of a destination prefix: nodes with an interface on it or the prefix on their loopback. */
function owners(plan: PlannedLab, family: 4 | 6, to: string): Set<string> {
  const out = new Set<string>();
  for (const n of plan.nodes) {
    const addrs = [...n.interfaces.map((i) => (family === 4 ? i.ipv4 : i.ipv6)), ...n.loopbackAddresses];
    if (addrs.some((a) => cidrOf(a).family === family && prefixText(cidrOf(a)) === to)) out.add(n.name);
  }
  return out;
}

/** Whether `from` can reach an owner through routers only (the plan's rule), ignoring costs. */
function reachable(plan: PlannedLab, from: string, owned: Set<string>): boolean {
  const seen = new Set([from]);
  const queue = [from];
  while (queue.length > 0) {
    const cur = queue.shift()!;
    if (owned.has(cur)) return true;
    if (cur !== from && node(plan, cur).kind !== 'router') continue;
    for (const i of node(plan, cur).interfaces) {
      if (!seen.has(i.peer.node)) {
        seen.add(i.peer.node);
        queue.push(i.peer.node);
      }
    }
  }
  return false;
}

describe('planLab: property over random connected topologies', () => {
  it('plans, addresses are unique, next hops are neighbours, and forwarding reaches the destination without loops', () => {
    fc.assert(
      fc.property(arbShape, (shape) => {
        const plan = planLab(specFromShape(shape));
        const byAddress = new Map<string, string>();
        for (const n of plan.nodes) {
          for (const i of n.interfaces) {
            for (const a of [i.ipv4, i.ipv6]) {
              const bare = a.split('/')[0]!;
              assert.ok(!byAddress.has(bare), `address ${bare} used twice`);
              assert.ok(isLabSpace(cidrOf(a)));
              byAddress.set(bare, n.name);
            }
          }
        }
        const destinations = new Map<string, { family: 4 | 6; to: string }>();
        for (const n of plan.nodes) {
          for (const a of [...n.interfaces.flatMap((i) => [i.ipv4, i.ipv6]), ...n.loopbackAddresses]) {
            const c = cidrOf(a);
            destinations.set(`${c.family} ${prefixText(c)}`, { family: c.family, to: prefixText(c) });
          }
        }
        for (const n of plan.nodes) {
          for (const r of n.routes) {
            for (const h of r.nexthops) {
              const intf = n.interfaces.find((i) => i.ifname === h.ifname);
              assert.ok(intf, `${n.name}: route via unknown interface ${h.ifname}`);
              assert.ok(cidrContains(cidrOf(r.family === 4 ? intf.ipv4 : intf.ipv6), parseAddress(h.via)!.address), `${h.via} not on ${h.ifname}`);
              assert.equal(byAddress.get(h.via), intf.peer.node, 'the next hop is the peer on that link');
            }
            if (!n.ecmp) assert.equal(r.nexthops.length, 1);
          }
          for (const { family, to } of destinations.values()) {
            const owned = owners(plan, family, to);
            const r = route(n, family, to);
            if (owned.has(n.name)) {
              assert.equal(r, undefined, `${n.name} owns ${to} yet routes it`);
              continue;
            }
            assert.equal(r !== undefined, reachable(plan, n.name, owned), `${n.name} -> ${to}: route iff reachable`);
            if (!r) continue;
            // Follow every branch of every multipath route: each must end at an owner, through routers, loop-free.
            const walk = (cur: string, path: readonly string[]): void => {
              if (owned.has(cur)) return;
              assert.ok(!path.includes(cur), `loop ${[...path, cur].join(' > ')} toward ${to}`);
              const here = node(plan, cur);
              if (path.length > 0) assert.equal(here.kind, 'router', `${cur} (a host) would have to forward toward ${to}`);
              const hr = route(here, family, to);
              assert.ok(hr, `${cur} has no route to ${to} on the way from ${n.name}`);
              for (const h of hr.nexthops) walk(byAddress.get(h.via)!, [...path, cur]);
            };
            walk(n.name, []);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
