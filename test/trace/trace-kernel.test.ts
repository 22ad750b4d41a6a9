/**
 * `mtuscope trace` against real kernels: labs of network namespaces in which packets die for the reasons of our
 * field (a veth MTU mismatch, a firewall rule, a DF packet too big for the next link, fragments dropped, the
 * encapsulating load balancer of the IPVS/GUE article), traced by the command as users run it. The kernel is the
 * oracle: each case knows where it made the packet die, and the trace must name that namespace, device, function and
 * reason, and nothing outside its filter.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startLab } from '../../src/lab/lab.js';
import type { RunningLab } from '../../src/lab/running-lab.js';
import { encapLb } from '../../src/lab/scenarios/encap-lb.js';
import type { LabSpec } from '../../src/lab/spec.js';
import { removeStaleTracefsHolds, TRACEFS_DIR } from '../../src/trace/tracefs.js';
import { CLI, mtuscope } from '../support/cli.js';
import { needsRoot } from '../support/root.js';

interface JsonEvent {
  readonly type: 'event';
  readonly packet: number;
  readonly netns: { readonly inode: number; readonly name: string };
  readonly device: string | null;
  readonly deviceMtu: number | null;
  readonly event: string;
  readonly match: string;
  readonly length: number | null;
  readonly tuple: { src: string; dst: string; protocol: number; srcPort?: number; dstPort?: number; length: number } | null;
  readonly tunnel: string | null;
  readonly inner: { src: string; dst: string; dstPort?: number } | null;
  readonly icmp: { type: number; code: number; mtu?: number; quoted?: { src: string; dst: string; protocol: number } } | null;
  readonly reason: string | null;
  readonly location: string | null;
  readonly icmpSend: { type: number; code: number } | null;
  readonly note: string | null;
}

interface JsonSummary {
  readonly type: 'summary';
  readonly packets: number;
  readonly deaths: readonly { namespace: string; device: string; function: string; reason: string; count: number; meaning: string }[];
  readonly lostEvents: number | null;
  readonly endedBy: string;
  readonly attachMs: number;
  readonly detachMs: number;
}

interface TraceRun {
  readonly code: number | null;
  readonly stderr: string;
  readonly events: JsonEvent[];
  readonly summary: JsonSummary | undefined;
  readonly bpftracePid: number | undefined;
}

/** Runs `mtuscope trace --json ARGS`, waits until it is attached, runs `traffic`, then ends it with Ctrl-C (SIGINT). */
async function traceDuring(args: readonly string[], traffic: () => Promise<void>, end: NodeJS.Signals = 'SIGINT'): Promise<TraceRun> {
  const child = spawn(process.execPath, [CLI, 'trace', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`trace did not attach within 30 s: ${stderr}`)), 30_000);
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      if (/attached in/.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`trace ended before it attached: ${stderr}`));
    });
  });
  try {
    await traffic();
    // The last events of the traffic are on their way through the perf buffer.
    await new Promise((r) => setTimeout(r, 400));
  } finally {
    child.kill(end);
  }
  const code = await closed;
  const lines = stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as JsonEvent | JsonSummary);
  const pid = /bpftrace pid (\d+)/.exec(stderr)?.[1];
  return {
    code,
    stderr,
    events: lines.filter((l): l is JsonEvent => l.type === 'event'),
    summary: lines.find((l): l is JsonSummary => l.type === 'summary'),
    bpftracePid: pid === undefined ? undefined : Number(pid),
  };
}

/** client —eth1— r1 —eth2 (mtu 1400)— server; client —eth2 (mtu 9000 | 1500)— side. */
function spec(name: string): LabSpec {
  return {
    name,
    nodes: [
      { name: 'client', kind: 'host' },
      { name: 'r1', kind: 'router' },
      { name: 'server', kind: 'host', sysctls: { 'net.ipv4.ipfrag_time': '1' } },
      { name: 'side', kind: 'host' },
    ],
    links: [
      { endpoints: [{ node: 'client', ifname: 'eth1' }, { node: 'r1', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r1', ifname: 'eth2' }, { node: 'server', ifname: 'eth1' }], mtu: 1400 },
      { endpoints: [{ node: 'client', ifname: 'eth2', mtu: 9000 }, { node: 'side', ifname: 'eth1' }] },
    ],
  };
}

function dropsOf(run: TraceRun): JsonEvent[] {
  return run.events.filter((e) => e.event === 'dropped');
}

describe('mtuscope trace on real kernels', needsRoot('for network namespaces and BPF'), () => {
  let lab: RunningLab;
  let other: RunningLab;
  let server: string;
  let side: string;
  let client: string;

  before(async () => {
    lab = await startLab(spec('trc'));
    other = await startLab(spec('trcother'));
    server = lab.address('server', 4);
    side = lab.address('side', 4);
    client = lab.address('client', 4, 'eth1');
  });

  after(async () => {
    await lab?.destroy();
    await other?.destroy();
  });

  it('names the veth whose other end refused a packet larger than its MTU', async () => {
    const run = await traceDuring(['--lab', lab.id, `icmp and host ${side}`], async () => {
      await lab.exec('client', ['ping', '-c', '1', '-W', '1', '-M', 'do', '-s', '3000', side]);
    });
    const drops = dropsOf(run);
    assert.ok(drops.length >= 1, run.stderr);
    const d = drops[0]!;
    assert.equal(d.netns.name, 'trc/client');
    assert.equal(d.device, 'eth2');
    assert.match(d.location ?? '', /^__dev_forward_skb/);
    assert.equal(d.length, 3028);
    assert.match(run.summary?.deaths[0]?.meaning ?? '', /other end of the veth pair \(3028 bytes\)/);
    assert.equal(run.code, 1, 'a drop is a problem found: exit 1');
  });

  it('names the router and the firewall rule that dropped a packet (NETFILTER_DROP)', async () => {
    await lab.mustExec('r1', ['iptables', '-A', 'FORWARD', '-p', 'udp', '--dport', '9999', '-j', 'DROP']);
    try {
      const run = await traceDuring(['--lab', lab.id, 'udp and port 9999'], async () => {
        await lab.exec('client', ['bash', '-c', `echo hello > /dev/udp/${server}/9999`]);
      });
      const drops = dropsOf(run);
      assert.equal(drops.length, 1, JSON.stringify(run.events));
      assert.equal(drops[0]!.netns.name, 'trc/r1');
      assert.equal(drops[0]!.reason, 'NETFILTER_DROP');
      assert.match(run.summary?.deaths[0]?.meaning ?? '', /^netfilter drop in namespace trc\/r1: a firewall rule/);
      // The packet's way there: queued by the client, received by r1.
      const p = run.events.filter((e) => e.packet === drops[0]!.packet).map((e) => `${e.event}@${e.netns.name}`);
      assert.deepEqual(p.slice(0, 1), ['queued@trc/client']);
      assert.ok(p.includes('received@trc/r1'), p.join(' '));
    } finally {
      await lab.mustExec('r1', ['iptables', '-D', 'FORWARD', '-p', 'udp', '--dport', '9999', '-j', 'DROP']);
    }
  });

  it('shows a router that cannot forward a DF packet onto its smaller link, and the ICMP fragmentation-needed it sends back', async () => {
    const run = await traceDuring(['--lab', lab.id, `icmp and dst host ${server}`], async () => {
      await lab.exec('client', ['ping', '-c', '1', '-W', '1', '-M', 'do', '-s', '1450', server]);
    });
    const drop = dropsOf(run).find((e) => e.netns.name === 'trc/r1');
    assert.ok(drop, JSON.stringify(run.events));
    assert.equal(drop.reason, 'PKT_TOO_BIG');
    assert.match(drop.location ?? '', /^ip_forward/);
    const error = run.events.find((e) => e.match === 'icmp-error' && e.icmp?.type === 3 && e.icmp.code === 4);
    assert.ok(error, 'the ICMP error the router sent is traced');
    assert.equal(error.icmp?.mtu, 1400);
    assert.equal(error.tuple?.dst, client);
    assert.equal(error.icmp?.quoted?.dst, server);
    assert.ok(run.events.some((e) => e.packet === error.packet && e.netns.name === 'trc/client'), 'the error is followed back to the client');
    const meaning = run.summary?.deaths.find((d) => d.namespace === 'trc/r1')?.meaning ?? '';
    assert.match(meaning, /^dropped in ip_forward \(namespace trc\/r1, device eth1\): larger than the route MTU \(1478 bytes > 1400\) with DF set; an ICMP fragmentation-needed \(mtu 1400\) was sent to /);
  });

  it('shows an IPv6 router dropping a packet too big for its next link, and the ICMPv6 Packet Too Big it sends', async () => {
    const server6 = lab.address('server', 6);
    const run = await traceDuring(['--lab', lab.id, `icmp6 and dst host ${server6}`], async () => {
      await lab.exec('client', ['ping', '-6', '-c', '1', '-W', '1', '-s', '1450', server6]);
    });
    const drop = dropsOf(run).find((e) => e.netns.name === 'trc/r1');
    assert.ok(drop, JSON.stringify(run.events));
    assert.equal(drop.reason, 'PKT_TOO_BIG');
    assert.match(drop.location ?? '', /^ip6_forward/);
    const error = run.events.find((e) => e.match === 'icmp-error' && e.icmp?.type === 2);
    assert.ok(error, 'the Packet Too Big the router sent is traced');
    assert.equal(error.icmp?.mtu, 1400);
    assert.equal(error.icmp?.quoted?.dst, server6);
    assert.match(run.summary?.deaths.find((d) => d.namespace === 'trc/r1')?.meaning ?? '', /IPv6 packets are never fragmented by routers; an ICMPv6 Packet Too Big \(mtu 1400\) was sent to /);
  });

  it('starts tracing only on the interface (--ifname) and with the mark (--mark) it is given', async () => {
    await lab.mustExec('client', ['iptables', '-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '7003', '-j', 'MARK', '--set-mark', '0x42']);
    try {
      const send = async (): Promise<void> => {
        await lab.exec('client', ['bash', '-c', `echo a > /dev/udp/${server}/7002; echo b > /dev/udp/${side}/7002; echo c > /dev/udp/${server}/7003`]);
      };
      // Interface names repeat from one namespace to the next: r1 has an eth2 too.
      const byIf = await traceDuring(['--lab', lab.id, '--ifname', 'eth2', 'udp'], send);
      const ifStarts = byIf.events.filter((e) => e.match === 'matched');
      assert.deepEqual(new Set(ifStarts.map((e) => `${e.netns.name} ${e.device} ${e.tuple?.dst}`)), new Set([`trc/client eth2 ${side}`, `trc/r1 eth2 ${server}`]));
      const byNode = await traceDuring(['--lab', lab.id, '--node', 'client', '--ifname', 'eth2', 'udp'], send);
      const nodeStarts = byNode.events.filter((e) => e.match === 'matched');
      assert.deepEqual(nodeStarts.map((e) => `${e.netns.name} ${e.device} ${e.tuple?.dst}`), [`trc/client eth2 ${side}`]);
      const byMark = await traceDuring(['--lab', lab.id, '--mark', '0x42', 'udp'], send);
      const markStarts = byMark.events.filter((e) => e.match === 'matched');
      assert.ok(markStarts.length >= 1);
      assert.ok(markStarts.every((e) => e.tuple?.dstPort === 7003), JSON.stringify(markStarts));
    } finally {
      await lab.mustExec('client', ['iptables', '-t', 'mangle', '-D', 'OUTPUT', '-p', 'udp', '--dport', '7003', '-j', 'MARK', '--set-mark', '0x42']);
    }
  });

  it('prints one line per event and a summary as text, and --count ends it after the packets it asked for', async () => {
    const child = spawn(process.execPath, [CLI, 'trace', '--lab', lab.id, '--node', 'client', '--count', '1', `icmp and host ${side}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (x: string) => (stdout += x));
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      child.stderr.setEncoding('utf8').on('data', (x: string) => {
        stderr += x;
        if (/attached in/.test(stderr)) resolve();
      });
    });
    await lab.exec('client', ['ping', '-c', '1', '-W', '1', '-M', 'do', '-s', '3000', side]);
    const code = await Promise.race([closed, new Promise<string>((r) => setTimeout(() => r('still running'), 10_000))]);
    if (code === 'still running') {
      const wchan = (pid: number | undefined): string => {
        try {
          return readFileSync(`/proc/${String(pid)}/wchan`, 'utf8');
        } catch {
          return '?';
        }
      };
      const bpftracePid = Number(/bpftrace pid (\d+)/.exec(stderr)?.[1]);
      console.error('STUCK', JSON.stringify({ stdout, stderr, cli: wchan(child.pid), bpftrace: wchan(bpftracePid), bpftraceAlive: existsSync(`/proc/${bpftracePid}`) }));
      child.kill('SIGKILL');
    }
    assert.equal(code, 1, stderr);
    const lines = stdout.split('\n');
    assert.match(lines[0] ?? '', /^TIME +CPU PACKET +NETNS +DEVICE +LEN +EVENT +TUPLE$/);
    assert.match(lines[1] ?? '', /^\d+\.\d{6} +\d+ +#1 +trc\/client +eth2 +3028 +queued +10\.\d+\.\d+\.\d+ > 10\.\d+\.\d+\.\d+ icmp icmp echo request \(8\/0\)$/);
    assert.match(stdout, /dropped NOT_SPECIFIED in __dev_forward_skb2?/);
    assert.match(stdout, /summary: 1 packet traced \(2 events, 0 lost\) in [\d.]+ s, ended by --count 1/);
  });

  it('shows fragments dropped by a firewall and the rest of their datagram given up by reassembly', async () => {
    // The raw table sees fragments before conntrack would reassemble them.
    await lab.mustExec('r1', ['iptables', '-t', 'raw', '-A', 'PREROUTING', '-f', '-j', 'DROP']);
    try {
      const run = await traceDuring(['--lab', lab.id, `icmp and host ${server}`], async () => {
        await lab.exec('client', ['ping', '-c', '1', '-W', '1', '-M', 'dont', '-s', '2600', server]);
        // ipfrag_time is 1 s on the server.
        await new Promise((r) => setTimeout(r, 1800));
      });
      const drops = dropsOf(run);
      const filtered = drops.filter((d) => d.reason === 'NETFILTER_DROP' && d.netns.name === 'trc/r1');
      assert.ok(filtered.length >= 1, JSON.stringify(drops));
      assert.ok(filtered.every((d) => d.tuple !== null && d.tuple.protocol === 1), 'the dropped fragments are the ping\'s');
      const expired = drops.filter((d) => d.reason === 'FRAG_REASM_TIMEOUT' && d.netns.name === 'trc/server');
      assert.equal(expired.length, 1, JSON.stringify(drops.map((d) => [d.netns.name, d.reason, d.location])));
      assert.match(run.summary?.deaths.find((d) => d.reason === 'FRAG_REASM_TIMEOUT')?.meaning ?? '', /reassembly gave up/);
    } finally {
      await lab.mustExec('r1', ['iptables', '-t', 'raw', '-D', 'PREROUTING', '-f', '-j', 'DROP']);
    }
  });

  it('follows a packet across source NAT, which the filter no longer matches', async () => {
    const r1Out = lab.address('r1', 4, 'eth2');
    const rule = ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'eth2', '-p', 'udp', '--dport', '7010', '-j', 'MASQUERADE'];
    await lab.mustExec('r1', ['iptables', ...rule]);
    try {
      const run = await traceDuring(['--lab', lab.id, `udp and src host ${client} and dst port 7010`], async () => {
        await lab.exec('client', ['bash', '-c', `echo nat > /dev/udp/${server}/7010`]);
      });
      const first = run.events.find((e) => e.match === 'matched');
      assert.ok(first, run.stderr);
      const timeline = run.events.filter((e) => e.packet === first.packet);
      const atServer = timeline.find((e) => e.netns.name === 'trc/server' && e.event === 'received');
      assert.ok(atServer, timeline.map((e) => `${e.event}@${e.netns.name}`).join(' '));
      assert.equal(atServer.tuple?.src, r1Out, 'the server sees the translated source');
      assert.ok(timeline.some((e) => e.note !== null && e.note.startsWith(`rewritten (NAT or a new header): now ${r1Out}:`)), 'the rewrite is named');
    } finally {
      await lab.mustExec('r1', ['iptables', ...rule.map((x) => (x === '-A' ? '-D' : x))]);
    }
  });

  it('shows only packets that match its filter, and nothing of another lab running at the same time', async () => {
    const otherServer = other.address('server', 4);
    const run = await traceDuring(['--lab', lab.id, `udp and dst port 7001 and len >= 1000`], async () => {
      for (const l of [lab, other]) {
        const to = l === lab ? server : otherServer;
        await l.exec('client', [
          'bash',
          '-c',
          `head -c 500 /dev/zero > /dev/udp/${to}/7001; head -c 1200 /dev/zero > /dev/udp/${to}/7001; head -c 1200 /dev/zero > /dev/udp/${to}/7000; ping -c 1 -W 1 ${to} > /dev/null`,
        ]);
      }
    });
    const matched = run.events.filter((e) => e.match === 'matched');
    assert.ok(matched.length >= 1, run.stderr);
    for (const e of matched) {
      assert.equal(e.tuple?.protocol, 17);
      assert.equal(e.tuple?.dstPort, 7001);
      assert.ok((e.tuple?.length ?? 0) >= 1000, `len ${String(e.tuple?.length)}`);
    }
    // Matched or followed, every event happened in this lab's namespaces.
    assert.ok(run.events.every((e) => e.netns.name.startsWith('trc/') || e.event === 'transmitted'), run.events.map((e) => e.netns.name).join(' '));
    // The other lab sent the same packets to the same addresses: none of them shows.
    const packets = new Set(matched.map((e) => e.packet));
    assert.equal(packets.size, 1, 'one datagram of this lab matched');
  });

  it('follows a client packet into the VXLAN tunnel of the encapsulating load balancer and names the drop (encap-lb)', async () => {
    const encap = await startLab(encapLb.spec);
    try {
      const run = await traceDuring(['--lab', encap.id, 'tcp and dst port 8080 and len > 1400'], async () => {
        await encapLb.run(encap);
      });
      const drop = dropsOf(run).find((e) => e.netns.name === 'encap-lb/lb' && e.tunnel === 'vxlan');
      assert.ok(drop, JSON.stringify(dropsOf(run)));
      assert.match(drop.location ?? '', /^ip_fragment/);
      assert.equal(drop.inner?.dst, '10.99.0.1');
      assert.equal(drop.inner?.dstPort, 8080);
      const timeline = run.events.filter((e) => e.packet === drop.packet);
      assert.equal(timeline[0]?.netns.name, 'encap-lb/c', 'it starts as the client\'s packet');
      assert.equal(timeline[0]?.tuple?.dst, '10.99.0.1');
      assert.ok(timeline.some((e) => e.note !== null && /encapsulated \(vxlan\)/.test(e.note)), 'the encapsulation is named');
      assert.ok(timeline.some((e) => e.event === 'icmp-send' && e.icmpSend?.type === 3 && e.icmpSend.code === 4));
      const meaning = run.summary?.deaths.find((d) => d.namespace === 'encap-lb/lb')?.meaning ?? '';
      assert.match(meaning, /larger than the route MTU \(1550 bytes > 1500\) with DF set; an ICMP fragmentation-needed \(mtu 1500\) was sent to 10\.\d+\.\d+\.\d+; it was a packet of 1500 bytes inside vxlan/);
    } finally {
      await encap.destroy();
    }
  });

  it('leaves nothing attached after Ctrl-C, SIGTERM or SIGKILL', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const run = await traceDuring(['--lab', lab.id, 'udp and port 9'], async () => undefined, signal);
      assert.ok(run.summary, `${signal} ends it with the summary`);
      assert.equal(run.code, 0, `${signal}: no drop, exit 0`);
      assert.equal(run.summary.lostEvents, 0, `${signal}: bpftrace ended in order and gave its count`);
      assert.ok(run.bpftracePid !== undefined && !existsSync(`/proc/${run.bpftracePid}`), `${signal}: bpftrace is gone`);
    }
    // SIGKILL cannot be caught: bpftrace dies by its parent-death signal, and the stale tracefs hold is collected.
    const child = spawn(process.execPath, [CLI, 'trace', '--lab', lab.id, 'udp and port 9'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
        if (/attached in/.test(stderr)) resolve();
      });
      child.on('close', () => reject(new Error(stderr)));
    });
    const pid = Number(/bpftrace pid (\d+)/.exec(stderr)?.[1]);
    const hold = `mtt-${child.pid}-1`;
    assert.ok(existsSync(`${TRACEFS_DIR}/instances/${hold}`), 'the tracer holds tracefs while it runs');
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!existsSync(`/proc/${pid}`), 'bpftrace ended with its parent');
    assert.ok(removeStaleTracefsHolds().includes(hold));
    // Gone, or tracefs itself is gone: unmounted by the last of our users, as it was not mounted before.
    assert.ok(!existsSync(`${TRACEFS_DIR}/instances`) || !readdirSync(`${TRACEFS_DIR}/instances`).includes(hold));
  });

  it('refuses what it cannot do, saying why', async () => {
    const cases: [readonly string[], RegExp, number, Parameters<typeof mtuscope>[1]?][] = [
      [['vlan', '100'], /filter "vlan 100": "vlan" at character 1: "vlan" is not supported/, 2],
      [['host', 'example.com'], /"example\.com" at character 6: "example\.com" is not an IPv4 or IPv6 address/, 2],
      [['port', '70000'], /70000 is out of range/, 2],
      [['--netns', 'mtt-no-such-ns'], /--netns: there is no network namespace "mtt-no-such-ns"/, 2],
      [['--lab', 'no-such-lab'], /--lab: no running lab is called "no-such-lab"/, 2],
      [['--mark', 'x'], /--mark: "x" is not VALUE or VALUE\/MASK/, 2],
      [['--duration', '1'], /needs root/, 1, { prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] }],
      [['--duration', '1'], /BPF is not permitted here: this process lacks CAP_SYS_ADMIN/, 1, { prefix: ['setpriv', '--inh-caps=-all', '--bounding-set=-all'] }],
      [['--duration', '1'], /\/nonexistent\/bpftrace is not installed \(Debian: apt-get install bpftrace\)/, 1, { env: { ...process.env, MTUSCOPE_BPFTRACE: '/nonexistent/bpftrace' } }],
    ];
    for (const [args, message, status, options] of cases) {
      const r = await mtuscope(['trace', ...args], options);
      assert.match(r.stderr, /^mtuscope trace: /, r.stderr);
      assert.match(r.stderr, message, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.code, status, `${args.join(' ')}: ${r.stderr}`);
    }
  });
});
