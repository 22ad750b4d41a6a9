import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { formatLabFileErrors, parseLabFile, type LabFileError } from '../../src/lab/lab-file.js';
import { planLab } from '../../src/lab/plan-lab.js';
import type { LabSpec } from '../../src/lab/spec.js';

const examplesDir = new URL('../../../examples/labs/', import.meta.url);

/** 1-based line of the first line containing `marker` (markers are unique in each test's text). */
function lineOf(text: string, marker: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(marker));
  assert.ok(i >= 0, `marker ${marker} not in text`);
  return i + 1;
}

function errorsOf(text: string): readonly LabFileError[] {
  const r = parseLabFile(text);
  assert.equal(r.ok, false, 'expected the file to be rejected');
  return r.ok ? [] : r.errors;
}

function specOf(text: string): LabSpec {
  const r = parseLabFile(text);
  if (!r.ok) assert.fail(formatLabFileErrors(r.errors, 'test.yaml'));
  return r.spec;
}

/** Asserts one error with exactly this path and line whose message matches. */
function expectError(text: string, path: string, marker: string, message: RegExp): void {
  const errors = errorsOf(text);
  const hit = errors.find((e) => e.path === path);
  assert.ok(hit, `no error at ${path}; got:\n${formatLabFileErrors(errors, 'test.yaml')}`);
  assert.equal(hit.line, lineOf(text, marker), `line of ${path}`);
  assert.match(hit.message, message);
}

/** A valid chain lab; tests splice one mistake into it. */
function chain(nodeExtra = '', linkExtra = ''): string {
  return `name: chain
topology:
  nodes:
    client: { kind: host }
    r1:
      kind: router
${nodeExtra}
    server: { kind: host }
  links:
    - endpoints: ["client:eth1", "r1:eth1"]
    - endpoints: ["r1:eth2", "server:eth1"]
${linkExtra}
`;
}

describe('lab files: examples', () => {
  const files = readdirSync(examplesDir).filter((f) => f.endsWith('.yaml'));

  it('has the pmtu-blackhole and ecmp-anycast examples', () => {
    assert.ok(files.includes('pmtu-blackhole.yaml'));
    assert.ok(files.includes('ecmp-anycast.yaml'));
  });

  for (const file of files) {
    it(`${file} parses and plans`, () => {
      const spec = specOf(readFileSync(new URL(file, examplesDir), 'utf8'));
      const plan = planLab(spec);
      assert.equal(plan.name, file.replace(/\.yaml$/, ''), 'a lab is named after its file');
      assert.ok(plan.nodes.every((n) => n.interfaces.length > 0));
    });
  }

  it('pmtu-blackhole: a 1400-byte link between two routers, the one that owns it dropping its Packet Too Big', () => {
    const plan = planLab(specOf(readFileSync(new URL('pmtu-blackhole.yaml', examplesDir), 'utf8')));
    const r1 = plan.nodes.find((n) => n.name === 'r1')!;
    const r2 = plan.nodes.find((n) => n.name === 'r2')!;
    assert.equal(r1.kind, 'router');
    assert.equal(r1.dropPacketTooBig, true);
    assert.equal(r2.dropPacketTooBig, false);
    const shared = r1.interfaces.find((i) => i.peer.node === 'r2')!;
    assert.equal(shared.mtu, 1400);
    assert.equal(r2.interfaces.find((i) => i.peer.node === 'r1')!.mtu, 1400);
  });
});

describe('lab files: what a valid file says', () => {
  const full = `name: features
topology:
  nodes:
    client: { kind: host }
    r1:
      kind: router
      drop-packet-too-big: true
      drop-fragments: false
      clamp-mss: 1344
      masquerade: [eth2]
      ecmp: true
      loopback-addresses: [10.100.0.1/32]
      sysctls: { net.ipv4.tcp_mtu_probing: 1, net.ipv4.tcp_rmem: "4096 87380 6291456" }
      routes: [{ to: 10.9.0.0/24, via: [10.5.0.2], advmss: 1460 }, { to: default, via: fd00:0:0:1::1 }]
    server: { kind: host }
    lb: { kind: router }
    srv: { kind: host }
  links:
    - endpoints: ["client:eth1", "r1:eth1"]
      mtu: 1400
    - endpoints: ["r1:eth2", { node: server, interface: eth1, mtu: 9000, ipv4: 10.5.0.2/24 }]
      cost: 2
    - endpoints: ["lb:eth1", "srv:eth1"]
    - endpoints: ["lb:vx0", "srv:vx0"]
      vxlan: { vni: 42, port: 8472 }
`;

  it('maps every key onto the spec', () => {
    const spec = specOf(full);
    assert.equal(spec.name, 'features');
    assert.deepEqual(
      spec.nodes.map((n) => [n.name, n.kind]),
      [
        ['client', 'host'],
        ['r1', 'router'],
        ['server', 'host'],
        ['lb', 'router'],
        ['srv', 'host'],
      ],
    );
    assert.deepEqual(spec.nodes[1], {
      name: 'r1',
      kind: 'router',
      dropPacketTooBig: true,
      dropFragments: false,
      clampMss: 1344,
      masquerade: ['eth2'],
      ecmp: true,
      loopbackAddresses: ['10.100.0.1/32'],
      // A YAML number becomes the text the kernel reads.
      sysctls: { 'net.ipv4.tcp_mtu_probing': '1', 'net.ipv4.tcp_rmem': '4096 87380 6291456' },
      routes: [
        { to: '10.9.0.0/24', via: ['10.5.0.2'], advmss: 1460 },
        { to: 'default', via: ['fd00:0:0:1::1'] },
      ],
    });
    assert.deepEqual(spec.links[0], { endpoints: [{ node: 'client', ifname: 'eth1' }, { node: 'r1', ifname: 'eth1' }], mtu: 1400 });
    assert.deepEqual(spec.links[1], {
      endpoints: [
        { node: 'r1', ifname: 'eth2' },
        { node: 'server', ifname: 'eth1', mtu: 9000, ipv4: '10.5.0.2/24' },
      ],
      cost: 2,
    });
    assert.deepEqual(spec.links[3]!.vxlan, { vni: 42, port: 8472 });
  });

  it('plans it: the one given address decides the subnet, the other end is numbered in it', () => {
    const plan = planLab(specOf(full));
    const r1 = plan.nodes[1]!;
    assert.equal(r1.interfaces[1]!.ipv4, '10.5.0.1/24');
    assert.equal(r1.interfaces[1]!.mtu, 1500);
    assert.equal(plan.nodes[2]!.interfaces[0]!.mtu, 9000);
    assert.equal(r1.sysctls['net.ipv4.tcp_mtu_probing'], '1');
  });

  it('follows YAML anchors and aliases', () => {
    const spec = specOf(`name: anchors
topology:
  nodes:
    r1: &router { kind: router, drop-fragments: true }
    r2: *router
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
`);
    assert.equal(spec.nodes[1]!.dropFragments, true);
    assert.equal(spec.nodes[1]!.name, 'r2');
  });

  it('a lab without links is a single node', () => {
    const spec = specOf('name: solo\ntopology:\n  nodes:\n    only: { kind: host }\n');
    assert.deepEqual(spec.links, []);
  });
});

describe('lab files: errors name the key, the line and what is wrong', () => {
  it('formats errors as file:line: path: message', () => {
    const text = `name: bad
topology:
  nodes:
    lb: { kind: router }
    r1: { kind: router }
    a: { kind: host }
  links:
    - endpoints: ["a:eth1", "lb:eth1"]
    - endpoints: ["lb:eth2", "r1:eth1"]
    - endpoints: ["srv:eth1", "r1:eth2"] # MARK
`;
    const errors = errorsOf(text);
    assert.equal(
      formatLabFileErrors(errors, 'lab.yaml'),
      `lab.yaml:${lineOf(text, 'MARK')}: topology.links[2].endpoints[0]: node "srv" is not defined`,
    );
  });

  it('YAML syntax errors carry their line', () => {
    const text = 'name: broken\ntopology:\n  nodes:\n    a: { kind: host\n  links: []\n';
    const errors = errorsOf(text);
    assert.ok(errors.length > 0);
    assert.match(errors[0]!.message, /^YAML syntax: /);
    assert.ok(errors[0]!.line !== undefined && errors[0]!.line >= 4, `line ${String(errors[0]!.line)}`);
  });

  it('a key given twice is a YAML error at its line', () => {
    const text = 'name: twice\ntopology:\n  nodes:\n    a: { kind: host }\n    a: { kind: router } # MARK\n';
    const errors = errorsOf(text);
    assert.equal(errors[0]!.line, lineOf(text, 'MARK'));
    assert.match(errors[0]!.message, /unique/i);
  });

  it('an empty file, a missing name, a missing topology', () => {
    assert.match(errorsOf('')[0]!.message, /empty/);
    assert.deepEqual(
      errorsOf('topology: { nodes: { a: { kind: host } } }\n').map((e) => e.path),
      ['name'],
    );
    assert.deepEqual(
      errorsOf('name: x\n').map((e) => e.path),
      ['topology'],
    );
  });

  describe('unknown keys', () => {
    it('a misspelt node feature does not pass silently', () => {
      expectError(chain('      drop-packet-to-big: true'), 'topology.nodes.r1.drop-packet-to-big', 'drop-packet-to-big', /unknown key "drop-packet-to-big" \(did you mean "drop-packet-too-big"\?\)/);
    });
    it('at the top level, in topology, in a link, an endpoint, a route, a vxlan block', () => {
      expectError(`${chain()}mgmt: { network: x }\n`, '(top level).mgmt', 'mgmt', /unknown key "mgmt"/);
      expectError(chain().replace('  links:', '  kinds: {}\n  links:'), 'topology.kinds', 'kinds', /unknown key/);
      expectError(chain('', '      mut: 1400'), 'topology.links[1].mut', 'mut', /did you mean "mtu"/);
      expectError(
        chain().replace('"server:eth1"]', '{ node: server, interface: eth1, ip: 10.0.9.1/24 }]'),
        'topology.links[1].endpoints[1].ip',
        'ip: 10.0.9.1',
        /unknown key "ip"/,
      );
      expectError(chain('      routes: [{ to: default, via: 10.0.1.1, metric: 5 }]'), 'topology.nodes.r1.routes[0].metric', 'metric', /unknown key/);
      expectError(chain('', '      vxlan: { vni: 1, dstport: 4789 }'), 'topology.links[1].vxlan.dstport', 'dstport', /unknown key/);
    });
  });

  describe('wrong types', () => {
    it('a string where a number belongs', () => {
      expectError(chain('', '      mtu: big'), 'topology.links[1].mtu', 'mtu: big', /must be an integer, not "big"/);
    });
    it('YAML 1.2 "yes" is a string, not a boolean', () => {
      expectError(chain('      drop-fragments: yes'), 'topology.nodes.r1.drop-fragments', 'drop-fragments', /must be true or false, not "yes"/);
    });
    it('a mapping where a list belongs, a fraction where an integer belongs', () => {
      expectError(chain('      masquerade: { eth2: true }'), 'topology.nodes.r1.masquerade', 'masquerade', /must be a list/);
      expectError(chain('      clamp-mss: 1344.5'), 'topology.nodes.r1.clamp-mss', 'clamp-mss', /must be an integer/);
    });
    it('a node without kind, or an unknown kind', () => {
      expectError(chain().replace('server: { kind: host }', 'server: { ecmp: true }'), 'topology.nodes.server.kind', 'server:', /is required: host or router/);
      expectError(chain().replace('server: { kind: host }', 'server: { kind: switch }'), 'topology.nodes.server.kind', 'server:', /"switch" must be host or router/);
    });
    it('an endpoint string without the node:interface form', () => {
      expectError(chain().replace('"server:eth1"', '"server"'), 'topology.links[1].endpoints[1]', '"server"', /must be "node:interface"/);
    });
    it('a sysctl value that is neither number nor string', () => {
      expectError(chain('      sysctls: { net.ipv4.tcp_mtu_probing: [1] }'), 'topology.nodes.r1.sysctls.net.ipv4.tcp_mtu_probing', 'sysctls', /must be a number or a string/);
    });
  });

  describe('out of range', () => {
    it('link MTU below the IPv6 minimum or above 65535', () => {
      expectError(chain('', '      mtu: 1279'), 'topology.links[1].mtu', 'mtu: 1279', /1279 must be an integer MTU from 1280 to 65535.*IPv6/);
      expectError(chain('', '      mtu: 65536'), 'topology.links[1].mtu', 'mtu: 65536', /from 1280 to 65535/);
    });
    it('endpoint MTU', () => {
      expectError(chain().replace('"server:eth1"', '{ node: server, interface: eth1, mtu: 100 }'), 'topology.links[1].endpoints[1].mtu', 'mtu: 100', /MTU from 1280/);
    });
    it('MSS clamp and advmss', () => {
      expectError(chain('      clamp-mss: 0'), 'topology.nodes.r1.clamp-mss', 'clamp-mss', /from 88 to 65495/);
      expectError(chain('      clamp-mss: 65496'), 'topology.nodes.r1.clamp-mss', 'clamp-mss', /from 88 to 65495/);
      expectError(chain('      routes: [{ to: default, via: 10.0.2.2, advmss: 70000 }]'), 'topology.nodes.r1.routes[0].advmss', 'routes', /from 88 to 65495/);
    });
    it('VNI, VXLAN port and cost', () => {
      const vx = (v: string): string =>
        chain().replace('server: { kind: host }', 'server: { kind: host }\n    far: { kind: host }') +
        `    - endpoints: ["server:eth2", "far:eth1"]\n    - endpoints: ["server:vx0", "far:vx0"]\n      vxlan: ${v}\n`;
      assert.ok(parseLabFile(vx('{ vni: 16777215 }')).ok, 'the largest VNI is fine');
      expectError(vx('{ vni: 16777216 }'), 'topology.links[3].vxlan.vni', 'vni:', /from 0 to 16777215/);
      expectError(vx('{ vni: 1, port: 0 }'), 'topology.links[3].vxlan.port', 'vni:', /UDP port/);
      expectError(vx('{ port: 4789 }'), 'topology.links[3].vxlan.vni', 'port: 4789', /is required/);
      expectError(chain('', '      cost: 0'), 'topology.links[1].cost', 'cost', /from 1 to/);
    });
  });

  describe('addresses', () => {
    const withAddress = (a: string, b = ''): string =>
      chain().replace('"server:eth1"]', `{ node: server, interface: eth1, ${a} }]`).replace('["r1:eth2",', b ? `[{ node: r1, interface: eth2, ${b} },` : '["r1:eth2",');
    it('only 10.0.0.0/8 and fd00::/8', () => {
      expectError(withAddress('ipv4: 192.168.1.2/24'), 'topology.links[1].endpoints[1].ipv4', 'ipv4', /outside the lab's address space/);
      expectError(withAddress('ipv6: 2001:db8::2/64'), 'topology.links[1].endpoints[1].ipv6', 'ipv6', /outside the lab's address space/);
      expectError(withAddress('ipv4: 10.0.0.0/7'), 'topology.links[1].endpoints[1].ipv4', 'ipv4', /outside/);
      expectError(chain('      loopback-addresses: [8.8.8.8/32]'), 'topology.nodes.r1.loopback-addresses[0]', 'loopback', /outside/);
      expectError(chain('      routes: [{ to: 1.0.0.0/8, via: 10.0.2.2 }]'), 'topology.nodes.r1.routes[0].to', 'routes', /outside/);
      expectError(chain('      routes: [{ to: default, via: 192.168.0.1 }]'), 'topology.nodes.r1.routes[0].via', 'routes', /outside/);
    });
    it('a prefix length is required and must fit the family', () => {
      expectError(withAddress('ipv4: 10.0.9.2'), 'topology.links[1].endpoints[1].ipv4', 'ipv4', /not an address with prefix length/);
      expectError(withAddress('ipv4: 10.0.9.2/33'), 'topology.links[1].endpoints[1].ipv4', 'ipv4', /not an address with prefix length/);
      expectError(withAddress('ipv4: fd00::2/64'), 'topology.links[1].endpoints[1].ipv4', 'ipv4', /not an IPv4 address/);
      expectError(withAddress('ipv4: 10.0.9.0/24'), 'topology.links[1].endpoints[1].ipv4', 'ipv4', /network or broadcast/);
    });
    it('both ends of a link in one subnet, with different addresses', () => {
      expectError(withAddress('ipv4: 10.0.9.2/24', 'ipv4: 10.0.8.1/24'), 'topology.links[1].endpoints[1].ipv4', 'server, interface', /not in the same subnet as 10.0.8.1\/24/);
      expectError(withAddress('ipv6: fd00:9::1/64', 'ipv6: fd00:9::1/64'), 'topology.links[1].endpoints[1].ipv6', 'server, interface', /both ends/);
    });
    it('subnets of different links must not overlap, nor loopbacks overlap link subnets', () => {
      const text = chain('      loopback-addresses: [10.0.9.1/32]').replace('"server:eth1"]', '{ node: server, interface: eth1, ipv4: 10.0.9.2/24 }]');
      expectError(text, 'topology.nodes.r1.loopback-addresses[0]', 'loopback', /overlaps the subnet 10.0.9.0\/24 of links\[1\]/);
    });
  });

  describe('names and structure', () => {
    it('lab, node and interface names follow their patterns', () => {
      expectError(chain().replace('name: chain', 'name: Bad_Name'), 'name', 'Bad_Name', /must be 1-24 characters/);
      expectError(chain().replace(/server/g, 'serverwithlongname'), 'topology.nodes.serverwithlongname', 'serverwithlongname: {', /1-12 characters/);
      expectError(chain().replace('"server:eth1"', '"server:eth.1"'), 'topology.links[1].endpoints[1]', 'eth.1', /1-15 characters/);
      expectError(chain().replace('"server:eth1"', '"server:lo"'), 'topology.links[1].endpoints[1]', 'server:lo', /reserved/);
    });
    it('an interface name used twice on a node', () => {
      expectError(chain().replace('["r1:eth2"', '["r1:eth1"'), 'topology.links[1].endpoints[0]', '"r1:eth1", "server', /node "r1" already has an interface "eth1"/);
    });
    it('a link joining a node to itself', () => {
      expectError(chain('', '    - endpoints: ["r1:eth3", "r1:eth4"] # MARK'), 'topology.links[2].endpoints[1]', 'MARK', /cannot join node "r1" to itself/);
    });
    it('a link with three endpoints', () => {
      expectError(chain().replace('"server:eth1"]', '"server:eth1", "client:eth2"]'), 'topology.links[1].endpoints', '"client:eth2"', /exactly two endpoints, not 3/);
    });
    it('a vxlan link whose nodes have no direct underlay link', () => {
      const text = chain('', '    - endpoints: ["client:vx0", "server:vx0"] # MARK\n      vxlan: { vni: 7 }');
      expectError(text, 'topology.links[2].vxlan', 'vni: 7', /needs a direct non-vxlan link between "client" and "server"/);
    });
    it('routes: mixed-family next hops, a next hop off every connected subnet, a duplicate prefix', () => {
      expectError(chain('      routes: [{ to: default, via: [10.0.2.2, "fd00:0:0:2::2"] }]'), 'topology.nodes.r1.routes[0].via', 'routes', /mix IPv4 and IPv6/);
      expectError(chain('      routes: [{ to: 10.9.0.0/24, via: 10.0.7.1 }]'), 'topology.nodes.r1.routes[0].via', 'routes', /10.0.7.1 is not on a subnet directly connected to "r1"/);
      expectError(chain('      routes:\n        - to: 10.9.0.0/24\n          via:\n            - 10.0.2.2\n            - 10.0.7.1'), 'topology.nodes.r1.routes[0].via[1]', '10.0.7.1', /not on a subnet directly connected/);
      expectError(chain('      routes: [{ to: 10.9.0.0/24, via: 10.0.2.1 }]'), 'topology.nodes.r1.routes[0].via', 'routes', /an address of "r1" itself/);
      expectError(chain('      routes:\n        - { to: 10.9.0.0/24, via: 10.0.2.2 }\n        - { to: 10.9.0.1/24, via: 10.0.1.1 } # MARK'), 'topology.nodes.r1.routes[1].to', 'MARK', /given twice/);
      expectError(chain('      routes: [{ to: "fd00:9::/64", via: 10.0.2.2 }]'), 'topology.nodes.r1.routes[0].to', 'routes', /is IPv6 but its next hops are IPv4/);
      expectError(chain('      routes: [{ to: 10.0.2.0/24, via: 10.0.1.1 }]'), 'topology.nodes.r1.routes[0].to', 'routes', /directly connected/);
    });
    it('masquerade names an interface of the node', () => {
      expectError(chain('      masquerade: [eth9]'), 'topology.nodes.r1.masquerade[0]', 'masquerade', /node "r1" has no interface "eth9"/);
    });
    it('a node that drops fragments cannot also masquerade (conntrack would reassemble them first)', () => {
      expectError(chain('      drop-fragments: true\n      masquerade: [eth2]'), 'topology.nodes.r1.drop-fragments', 'drop-fragments', /masquerade.*reassembles/);
    });
    it('sysctls must be network sysctls', () => {
      expectError(chain('      sysctls: { kernel.panic: 1 }'), 'topology.nodes.r1.sysctls.kernel.panic', 'sysctls', /not a network sysctl/);
      expectError(chain('      sysctls: { "net.ipv4../../x": 1 }'), 'topology.nodes.r1.sysctls.net.ipv4../../x', 'sysctls', /not a network sysctl/);
    });
    it('reports every structural problem at once, each at its own line', () => {
      const text = chain('      clamp-mss: big\n      ecmpp: true', '      mtu: [1]');
      const errors = errorsOf(text);
      assert.deepEqual(
        errors.map((e) => [e.path, e.line]),
        [
          ['topology.nodes.r1.ecmpp', lineOf(text, 'ecmpp')],
          ['topology.nodes.r1.clamp-mss', lineOf(text, 'clamp-mss')],
          ['topology.links[1].mtu', lineOf(text, 'mtu: [1]')],
        ],
      );
    });
  });
});
