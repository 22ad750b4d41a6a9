import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { iptablesInput } from '../../src/lab/apply-features.js';
import { buildScripts } from '../../src/lab/build-script.js';
import { startLab } from '../../src/lab/lab.js';
import { listNamespaces } from '../../src/lab/namespaces.js';
import type { PlannedLab, PlannedNode } from '../../src/lab/plan.js';
import { registryDir } from '../../src/lab/registry.js';
import type { LabProcess, RunningLab } from '../../src/lab/running-lab.js';
import type { LabSpec, NodeSpec } from '../../src/lab/spec.js';
import { needsRoot } from '../support/root.js';

const PORT = 8080;

/** Answers every request with what it saw: the peer's address and how many body bytes arrived. */
const HTTP_SERVER = `
const http = require('node:http');
const [port, ...hosts] = process.argv.slice(1);
let pending = hosts.length;
for (const host of hosts) {
  http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c) => { bytes += c.length; });
    req.on('end', () => res.end(JSON.stringify({ remote: req.socket.remoteAddress, bytes })));
  }).listen(Number(port), host, () => { if (--pending === 0) console.log('ready'); });
}
`;

/** client —eth1— r1 —eth2/eth1 (mtu)— r2 —eth2— server; `r1` features as given. */
function chain(name: string, r1: Partial<NodeSpec>, middleMtu: number): LabSpec {
  return {
    name,
    nodes: [
      { name: 'client', kind: 'host' },
      { name: 'r1', kind: 'router', ...r1 },
      { name: 'r2', kind: 'router' },
      { name: 'server', kind: 'host' },
    ],
    links: [
      { endpoints: [{ node: 'client', ifname: 'eth1' }, { node: 'r1', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r1', ifname: 'eth2' }, { node: 'r2', ifname: 'eth1' }], mtu: middleMtu },
      { endpoints: [{ node: 'r2', ifname: 'eth2' }, { node: 'server', ifname: 'eth1' }] },
    ],
  };
}

/** client — r1 — server, all 1500. */
function short(name: string, r1: Partial<NodeSpec>): LabSpec {
  return {
    name,
    nodes: [
      { name: 'client', kind: 'host' },
      { name: 'r1', kind: 'router', ...r1 },
      { name: 'server', kind: 'host' },
    ],
    links: [
      { endpoints: [{ node: 'client', ifname: 'eth1' }, { node: 'r1', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r1', ifname: 'eth2' }, { node: 'server', ifname: 'eth1' }] },
    ],
  };
}

function url(address: string): string {
  return address.includes(':') ? `http://[${address}]:${PORT}/` : `http://${address}:${PORT}/`;
}

async function startServer(lab: RunningLab, node: string): Promise<LabProcess> {
  const server = lab.spawn(node, [process.execPath, '-e', HTTP_SERVER, String(PORT), lab.address(node, 4), lab.address(node, 6)]);
  await server.waitForOutput(/^ready$/m, 10_000);
  return server;
}

/** POSTs `bytes` bytes; returns curl's exit code and the server's answer. */
async function post(lab: RunningLab, address: string, bytes: number, maxTimeS: number): Promise<{ code: number | null; body: string }> {
  const r = await lab.exec(
    'client',
    ['curl', '-sS', '-g', '--noproxy', '*', '--max-time', String(maxTimeS), '-H', 'Expect:', '--data-binary', '@-', url(address)],
    { input: 'x'.repeat(bytes), timeoutMs: (maxTimeS + 5) * 1000 },
  );
  return { code: r.code, body: r.stdout };
}

async function ping(lab: RunningLab, node: string, args: readonly string[]): Promise<{ ok: boolean; output: string }> {
  const r = await lab.exec(node, ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '1', ...args], { timeoutMs: 10_000 });
  assert.ok(!r.timedOut, `ping ${args.join(' ')} hung`);
  return { ok: r.code === 0, output: r.stdout + r.stderr };
}

/** Live processes (not zombies) whose command line matches. */
function pidsOf(cmdline: RegExp): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (cmdline.test(cmd) && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z') pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

function labNamespaces(lab: RunningLab): string[] {
  return listNamespaces().filter((n) => n.startsWith(`mtl-${lab.id}-`));
}

describe('buildScripts and iptablesInput (no root)', () => {
  const node = (over: Partial<PlannedNode>): PlannedNode => ({
    name: 'r1',
    kind: 'router',
    interfaces: [],
    loopbackAddresses: [],
    routes: [],
    dropPacketTooBig: false,
    dropFragments: false,
    clampMss: undefined,
    masquerade: [],
    ecmp: false,
    sysctls: {},
    ...over,
  });
  const plan = (n: PlannedNode): PlannedLab => ({ name: 't', nodes: [n], links: [] });

  it('refuses sysctls outside net.*, which would change the host', () => {
    assert.throws(() => buildScripts(plan(node({ sysctls: { 'kernel.panic': '1' } })), (n) => n), /node r1: sysctl "kernel.panic" is not a net\.\* setting/);
  });

  it('refuses an interface name that would smuggle a second command into ip -batch', () => {
    const iface = { ifname: 'eth1\nnetns del x', mtu: 1500, ipv4: '10.0.1.1/24', ipv6: '', peer: { node: 'x', ifname: 'eth1' }, kind: 'veth' as const };
    assert.throws(() => buildScripts(plan(node({ interfaces: [iface] })), (n) => n), /interface name "eth1\nnetns del x" may only contain/);
  });

  it('puts interface sysctls after the interfaces exist, others before', () => {
    const [s] = buildScripts(plan(node({ sysctls: { 'net.ipv4.conf.eth1.rp_filter': '0', 'net.ipv4.ip_forward': '1' } })), (n) => n);
    assert.ok(s);
    assert.ok(s.globalSysctls.includes('net.ipv4.ip_forward=1'));
    assert.deepEqual(s.interfaceSysctls, ['net.ipv4.conf.eth1.rp_filter=0']);
  });

  it('writes the feature rules for both families', () => {
    const r = iptablesInput(node({ dropPacketTooBig: true, clampMss: 1344, masquerade: ['eth2'] }));
    assert.match(r.v4 ?? '', /-A OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP/);
    assert.match(r.v6 ?? '', /-A FORWARD -p ipv6-icmp --icmpv6-type packet-too-big -j DROP/);
    assert.match(r.v6 ?? '', /\*mangle\n-A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1344\nCOMMIT/);
    assert.match(r.v4 ?? '', /\*nat\n-A POSTROUTING -o eth2 -j MASQUERADE\nCOMMIT/);
    assert.deepEqual(iptablesInput(node({})), { v4: undefined, v6: undefined });
  });

  it('drops fragments with the u32 match (IPv4, quoted for iptables-restore) and the frag match (IPv6)', () => {
    const r = iptablesInput(node({ dropFragments: true }));
    assert.equal(r.v4, '*filter\n-A FORWARD -m u32 --u32 "4&0x3FFF=0x1:0x3FFF" -j DROP\nCOMMIT\n');
    assert.equal(r.v6, '*filter\n-A FORWARD -m frag -j DROP\nCOMMIT\n');
  });
});

describe('a 1400-byte link between two routers', needsRoot(), () => {
  let lab: RunningLab;
  let server: LabProcess;
  before(async () => {
    lab = await startLab(chain('pmtu', {}, 1400));
    server = await startServer(lab, 'server');
  });
  after(async () => {
    await lab?.destroy();
  });

  it('registers the lab while it is up', () => {
    const record = JSON.parse(readFileSync(join(registryDir(), `${lab.id}.json`), 'utf8')) as Record<string, unknown>;
    assert.equal(record['name'], 'pmtu');
    assert.equal(record['ownerPid'], process.pid);
    assert.deepEqual(record['namespaces'], ['client', 'r1', 'r2', 'server'].map((n) => `mtl-${lab.id}-${n}`));
    assert.deepEqual(labNamespaces(lab), [...(record['namespaces'])].sort());
    assert.equal(lab.namespace('r1'), `mtl-${lab.id}-r1`);
    assert.equal(lab.address('r1', 4, 'eth2'), lab.plan.nodes[1]?.interfaces[1]?.ipv4.split('/')[0]);
    assert.throws(() => lab.namespace('nope'), /no node "nope"/);
  });

  it('IPv4: a 1500-byte DF ping draws "fragmentation needed" with MTU 1400, which the route cache keeps', async () => {
    const dst = lab.address('server', 4);
    assert.doesNotMatch((await lab.mustExec('client', ['ip', 'route', 'get', dst])).stdout, /mtu/);
    const p = await ping(lab, 'client', ['-M', 'do', '-s', '1472', dst]);
    assert.equal(p.ok, false);
    assert.match(p.output, /Frag needed and DF set \(mtu = 1400\)/);
    assert.match((await lab.mustExec('client', ['ip', 'route', 'get', dst])).stdout, /mtu 1400/);
  });

  it('IPv6: a 1500-byte ping draws Packet Too Big with MTU 1400, which the route cache keeps', async () => {
    const dst = lab.address('server', 6);
    assert.doesNotMatch((await lab.mustExec('client', ['ip', '-6', 'route', 'get', dst])).stdout, /mtu/);
    const p = await ping(lab, 'client', ['-6', '-M', 'do', '-s', '1452', dst]);
    assert.equal(p.ok, false);
    assert.match(p.output, /Packet too big: mtu=1400/);
    assert.match((await lab.mustExec('client', ['ip', '-6', 'route', 'get', dst])).stdout, /mtu 1400/);
  });

  it('large uploads complete while the ICMP gets through', async () => {
    for (const family of [4, 6] as const) {
      const r = await post(lab, lab.address('server', family), 100_000, 10);
      assert.equal(r.code, 0);
      assert.equal((JSON.parse(r.body) as { bytes: number }).bytes, 100_000);
    }
    assert.ok(server.running);
  });
});

describe('dropPacketTooBig on the router that owns the 1400-byte link', needsRoot(), () => {
  let lab: RunningLab;
  before(async () => {
    lab = await startLab(chain('blackhole', { dropPacketTooBig: true }, 1400));
    await startServer(lab, 'server');
  });
  after(async () => {
    await lab?.destroy();
  });

  it('stalls a 100 KB upload (curl times out) while a 100-byte request completes, both families', async () => {
    const results = await Promise.all(
      [4, 6].flatMap((family) => {
        const dst = lab.address('server', family as 4 | 6);
        return [post(lab, dst, 100_000, 5), post(lab, dst, 100, 5)];
      }),
    );
    const [big4, small4, big6, small6] = results;
    assert.equal(big4?.code, 28, 'curl exit 28 = operation timed out');
    assert.equal(big6?.code, 28);
    assert.equal((JSON.parse(small4?.body ?? '') as { bytes: number }).bytes, 100);
    assert.equal((JSON.parse(small6?.body ?? '') as { bytes: number }).bytes, 100);
  });

  it('the client never learns the path MTU', async () => {
    const p = await ping(lab, 'client', ['-M', 'do', '-s', '1472', lab.address('server', 4)]);
    assert.equal(p.ok, false);
    assert.doesNotMatch(p.output, /mtu/);
    assert.doesNotMatch((await lab.mustExec('client', ['ip', 'route', 'get', lab.address('server', 4)])).stdout, /mtu/);
  });
});

describe('dropFragments', needsRoot(), () => {
  let lab: RunningLab;
  let control: RunningLab;
  before(async () => {
    [lab, control] = await Promise.all([startLab(short('fragdrop', { dropFragments: true })), startLab(short('fragpass', {}))]);
  });
  after(async () => {
    await Promise.all([lab?.destroy(), control?.destroy()]);
  });

  it('drops fragmented pings through the router in both families; unfragmented ones pass', async () => {
    for (const family of [4, 6] as const) {
      const dst = lab.address('server', family);
      const f = family === 4 ? ['-4', '-M', 'dont'] : ['-6'];
      assert.equal((await ping(lab, 'client', [...f, '-s', '100', dst])).ok, true, `IPv${family} small`);
      assert.equal((await ping(lab, 'client', [...f, '-s', '3000', dst])).ok, false, `IPv${family} fragmented`);
      assert.equal((await ping(control, 'client', [...f, '-s', '3000', control.address('server', family)])).ok, true, `IPv${family} control`);
    }
    const v4 = await lab.mustExec('r1', ['iptables', '-n', '-v', '-x', '-L', 'FORWARD']);
    assert.match(v4.stdout, /^\s*[1-9]\d*\s+\d+\s+DROP.*u32/m);
  });

  it('is bypassed once connection tracking runs in the namespace, which is why masquerade is refused with it', async () => {
    // The filter sees no fragments once conntrack reassembles them (it runs before every iptables table).
    await lab.mustExec('r1', ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'eth2', '-j', 'MASQUERADE']);
    assert.equal((await ping(lab, 'client', ['-4', '-M', 'dont', '-s', '3000', lab.address('server', 4)])).ok, true);
    await assert.rejects(
      startLab(short('fragnat', { dropFragments: true, masquerade: ['eth2'] })),
      /nodes\[1\]\.dropFragments: cannot be combined with masquerade/,
    );
  });
});

describe('clampMss 1344', needsRoot(), () => {
  let lab: RunningLab;
  before(async () => {
    lab = await startLab(short('clamp', { clampMss: 1344 }));
  });
  after(async () => {
    await lab?.destroy();
  });

  it('the SYN leaves the client with its own MSS and reaches the server with 1344', async () => {
    for (const family of [4, 6] as const) {
      // The first packet to the port is the SYN; nothing listens, so the connection is refused right after it.
      const watch = (node: string): LabProcess =>
        lab.spawn(node, ['tcpdump', '-n', '-l', '--immediate-mode', '-i', 'eth1', '-c', '1', `ip${family === 6 ? '6' : ''} and tcp dst port ${PORT}`]);
      const atClient = watch('client');
      const atServer = watch('server');
      await Promise.all([atClient.waitForOutput(/listening on/), atServer.waitForOutput(/listening on/)]);
      await lab.exec('client', ['curl', '-sS', '-g', '--max-time', '3', url(lab.address('server', family))]);
      await Promise.all([atClient.waitForOutput(/Flags \[S\]/), atServer.waitForOutput(/Flags \[S\]/)]);
      assert.match(atClient.stdout, family === 4 ? /mss 1460/ : /mss 1440/);
      assert.match(atServer.stdout, /mss 1344/);
    }
  });
});

describe('masquerade', needsRoot(), () => {
  let lab: RunningLab;
  before(async () => {
    lab = await startLab(short('nat', { masquerade: ['eth2'] }));
    await startServer(lab, 'server');
  });
  after(async () => {
    await lab?.destroy();
  });

  it("the server sees the router's address as the source, both families", async () => {
    for (const family of [4, 6] as const) {
      const r = await post(lab, lab.address('server', family), 10, 5);
      assert.equal(r.code, 0);
      const remote = (JSON.parse(r.body) as { remote: string }).remote;
      assert.equal(remote, lab.address('r1', family, 'eth2'));
      assert.notEqual(remote, lab.address('client', family));
    }
  });
});

describe('ECMP', needsRoot(), () => {
  let lab: RunningLab;
  before(async () => {
    lab = await startLab({
      name: 'ecmp',
      nodes: [
        { name: 'client', kind: 'host' },
        { name: 'lb', kind: 'router', ecmp: true },
        { name: 'srv1', kind: 'host', loopbackAddresses: ['10.100.0.1/32', 'fd00:100::1/128'] },
        { name: 'srv2', kind: 'host', loopbackAddresses: ['10.100.0.1/32', 'fd00:100::1/128'] },
      ],
      links: [
        { endpoints: [{ node: 'client', ifname: 'eth1' }, { node: 'lb', ifname: 'eth1' }] },
        { endpoints: [{ node: 'lb', ifname: 'eth2' }, { node: 'srv1', ifname: 'eth1' }] },
        { endpoints: [{ node: 'lb', ifname: 'eth3' }, { node: 'srv2', ifname: 'eth1' }] },
      ],
    });
  });
  after(async () => {
    await lab?.destroy();
  });

  it('installs a multipath route with both next hops, hashing on L4, and the shared address answers', async () => {
    const v4 = (await lab.mustExec('lb', ['ip', '-4', 'route', 'show', '10.100.0.1'])).stdout;
    const v6 = (await lab.mustExec('lb', ['ip', '-6', 'route', 'show', 'fd00:100::1'])).stdout;
    for (const [out, family] of [[v4, 4], [v6, 6]] as const) {
      assert.match(out, new RegExp(`nexthop via ${lab.address('srv1', family).replaceAll('.', '\\.')} dev eth2`));
      assert.match(out, new RegExp(`nexthop via ${lab.address('srv2', family).replaceAll('.', '\\.')} dev eth3`));
    }
    const hash = await lab.mustExec('lb', ['sysctl', '-n', 'net.ipv4.fib_multipath_hash_policy', 'net.ipv6.fib_multipath_hash_policy']);
    assert.deepEqual(hash.stdout.trim().split('\n'), ['1', '1']);
    assert.equal((await ping(lab, 'client', ['10.100.0.1'])).ok, true);
    assert.equal((await ping(lab, 'client', ['-6', 'fd00:100::1'])).ok, true);
  });
});

describe('VXLAN', needsRoot(), () => {
  let lab: RunningLab;
  before(async () => {
    lab = await startLab({
      name: 'vxlan',
      nodes: [
        { name: 'client', kind: 'host' },
        { name: 'lb', kind: 'router' },
        { name: 'backend', kind: 'host', loopbackAddresses: ['10.200.0.1/32', 'fd00:200::1/128'] },
      ],
      links: [
        { endpoints: [{ node: 'client', ifname: 'eth1' }, { node: 'lb', ifname: 'eth1' }] },
        { endpoints: [{ node: 'lb', ifname: 'eth2' }, { node: 'backend', ifname: 'eth1' }], cost: 10 },
        { endpoints: [{ node: 'lb', ifname: 'vx0' }, { node: 'backend', ifname: 'vx0' }], vxlan: { vni: 42 } },
      ],
    });
  });
  after(async () => {
    await lab?.destroy();
  });

  it('carries traffic through the tunnel', async () => {
    assert.match((await lab.mustExec('lb', ['ip', '-d', 'link', 'show', 'vx0'])).stdout, /mtu 1500 .*\n.*\n\s+vxlan id 42 remote /);
    assert.match((await lab.mustExec('lb', ['ip', 'route', 'get', '10.200.0.1'])).stdout, /dev vx0/);
    assert.equal((await ping(lab, 'client', ['10.200.0.1'])).ok, true);
    assert.equal((await ping(lab, 'client', ['-6', 'fd00:200::1'])).ok, true);
  });

  it('loses full-size DF packets: 1500 bytes plus 50 of encapsulation exceed the 1500-byte underlay', async () => {
    for (const family of [4, 6] as const) {
      const dst = lab.address('backend', family, 'vx0');
      const f = family === 4 ? '-4' : '-6';
      const header = family === 4 ? 28 : 48;
      assert.equal((await ping(lab, 'lb', [f, '-M', 'do', '-s', String(1400 - header), dst])).ok, true, `IPv${family} 1400`);
      assert.equal((await ping(lab, 'lb', [f, '-M', 'do', '-s', String(1500 - header), dst])).ok, false, `IPv${family} 1500`);
    }
  });
});

describe('the RunningLab API', needsRoot(), () => {
  it('exec, mustExec, spawn and destroy', async () => {
    const lab = await startLab(short('api', {}));
    let sleeper: LabProcess | undefined;
    try {
      const r = await lab.exec('client', ['sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.deepEqual([r.code, r.stdout, r.stderr, r.timedOut], [3, 'out\n', 'err\n', false]);
      await assert.rejects(lab.mustExec('r1', ['ls', '/nonexistent']), /lab api: node r1: ls \/nonexistent exited with 2: .*No such file/);
      const slow = await lab.exec('client', ['sleep', '10'], { timeoutMs: 200 });
      assert.deepEqual([slow.timedOut, slow.code, slow.signal], [true, null, 'SIGKILL']);
      assert.equal((await lab.exec('server', ['cat'], { input: 'abc' })).stdout, 'abc');
      sleeper = lab.spawn('server', ['sleep', '300']);
      assert.ok(sleeper.running);
      // Started by hand inside a node, not through spawn(): destroy() must find it all the same.
      await lab.mustExec('server', ['sh', '-c', 'sleep 301 >/dev/null 2>&1 &']);
      // A child that keeps the spawned process's output pipes open must not hold up the teardown.
      lab.spawn('client', ['sh', '-c', 'sleep 302 & sleep 303']);
    } finally {
      const start = Date.now();
      await lab.destroy();
      assert.ok(Date.now() - start < 2000, `destroy took ${Date.now() - start} ms`);
    }
    assert.equal(pidsOf(/^sleep 30[123]$/).length, 0);
    assert.equal(sleeper.running, false);
    assert.deepEqual(labNamespaces(lab), []);
    assert.equal(existsSync(join(registryDir(), `${lab.id}.json`)), false);
    assert.throws(() => lab.spawn('client', ['true']), /already torn down/);
  });

  it('a build that fails midway removes what it created and names the node and the command', async () => {
    const node = (name: string, routes: PlannedNode['routes']): PlannedNode => ({
      name,
      kind: 'host',
      interfaces: [{ ifname: 'eth1', mtu: 1500, ipv4: name === 'a' ? '10.9.0.1/24' : '10.9.0.2/24', ipv6: '', peer: { node: name === 'a' ? 'b' : 'a', ifname: 'eth1' }, kind: 'veth' }],
      loopbackAddresses: [],
      routes,
      dropPacketTooBig: false,
      dropFragments: false,
      clampMss: undefined,
      masquerade: [],
      ecmp: false,
      sysctls: {},
    });
    const plan: PlannedLab = {
      name: 'broken',
      nodes: [node('a', []), node('b', [{ family: 4, to: '10.50.0.0/16', nexthops: [{ via: '10.77.0.1', ifname: 'eth1' }] }])],
      links: [{ kind: 'veth', a: { node: 'a', ifname: 'eth1' }, b: { node: 'b', ifname: 'eth1' } }],
    };
    const err = await startLab(plan).then(
      () => assert.fail('the build should have failed'),
      (e: unknown) => e as Error,
    );
    assert.match(err.message, /lab broken: building node b failed: "route add 10\.50\.0\.0\/16 via 10\.77\.0\.1 dev eth1" in ip -n mtl-[0-9a-f]{6}-b -batch - exited with 1: .*gateway/s);
    const id = /mtl-([0-9a-f]{6})-/.exec(err.message)?.[1] ?? '';
    assert.deepEqual(listNamespaces().filter((n) => n.startsWith(`mtl-${id}-`)), []);
    assert.equal(existsSync(join(registryDir(), `${id}.json`)), false);
  });
});
