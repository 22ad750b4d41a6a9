import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LabDropGroup, LabIcmpSent } from '../../src/lab/lab-drops.js';
import type { RunningLab } from '../../src/lab/running-lab.js';
import { listNamespaces } from '../../src/lab/namespaces.js';
import { SCENARIOS, findScenario } from '../../src/lab/scenarios/catalogue.js';
import type { ScenarioReport } from '../../src/lab/scenarios/report.js';
import { formatReport } from '../../src/lab/scenarios/report.js';
import { runScenario } from '../../src/lab/scenarios/run-scenario.js';
import type { TransferResult } from '../../src/lab/traffic/curl.js';
import { CLI, mtuscope, runToEnd } from '../support/cli.js';
import { needsRoot } from '../support/root.js';

function cli(args: readonly string[]): ReturnType<typeof mtuscope> {
  return mtuscope(args, { timeoutMs: 60_000 });
}

/** A word for sh -c. */
function quoted(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The tracefs holds (`mtt-<pid>-<n>`) of this process and its bpftrace children: a finished run leaves neither. */
function tracersOfOurs(): string[] {
  let holds: string[] = [];
  try {
    holds = readdirSync('/sys/kernel/tracing/instances').filter((n) => n.startsWith(`mtt-${process.pid}-`));
  } catch {
    // tracefs not mounted: no hold.
  }
  const children = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return stat.includes('(bpftrace)') && Number(rest[1]) === process.pid;
      } catch {
        return false;
      }
    });
  return [...holds.map((h) => `tracefs hold ${h}`), ...children.map((p) => `bpftrace ${p}`)];
}

function assertNothingLeft(labId: string): void {
  const prefix = `mtl-${labId}`;
  assert.deepEqual(listNamespaces().filter((n) => n.startsWith(`${prefix}-`)), [], 'no namespace of the lab remains');
  assert.deepEqual(tracersOfOurs(), [], 'no tracer of ours remains');
}

/**
 * Runs a scenario whose real run must come out as expected (every scenario of the catalogue does, on a machine like
 * ours): the report and its text say so, whatever parts the scenario's check listed.
 */
async function run(name: string): Promise<ScenarioReport> {
  const scenario = findScenario(name);
  assert.ok(scenario, name);
  let lab: RunningLab | undefined;
  const report = await runScenario(scenario, { onLab: (l) => (lab = l) });
  assert.equal(lab?.id, report.lab.id);
  labs.set(report.lab.id, lab);
  assertNothingLeft(report.lab.id);
  assertAsExpected(report, formatReport(report));
  return report;
}

function assertAsExpected(report: ScenarioReport, text?: string): void {
  assert.deepEqual(report.unmet, [], `${report.scenario}: ${JSON.stringify(report, null, 1)}`);
  assert.equal(report.asExpected, true);
  if (text !== undefined) {
    assert.match(text, /\nexpected: .+\noutcome: as expected\n$/);
    assert.doesNotMatch(text, /NOT as expected/);
  }
}

function fact(report: ScenarioReport, name: string): number | boolean | undefined {
  return report.facts[name];
}

function outcome(report: ScenarioReport, label: string, family: 4 | 6): TransferResult['outcome'] | undefined {
  return report.transfers.find((t) => t.label === label && t.family === family)?.outcome;
}

/** The labs of the runs, for their addresses (a torn-down lab still knows its plan). */
const labs = new Map<string, RunningLab>();

function labOf(report: ScenarioReport): RunningLab {
  const lab = labs.get(report.lab.id);
  assert.ok(lab, report.lab.id);
  return lab;
}

/** The report's places of kernel drops that `pred` selects; every place is a node of the lab. */
function groupsAt(report: ScenarioReport, pred: (d: LabDropGroup) => boolean): LabDropGroup[] {
  const d = report.drops;
  assert.ok(d.available, JSON.stringify(d));
  assert.ok(d.drops.every((g) => d.nodes.includes(g.node)), `only the lab's nodes: ${JSON.stringify(d.drops)}`);
  return d.drops.filter(pred);
}

function dropsAt(report: ScenarioReport, pred: (d: LabDropGroup) => boolean): number {
  return groupsAt(report, pred).reduce((n, d) => n + d.count, 0);
}

function icmpSent(report: ScenarioReport): readonly LabIcmpSent[] {
  assert.ok(report.drops.available, JSON.stringify(report.drops));
  return report.drops.icmpErrorsSent;
}

describe('scenario catalogue', () => {
  it("has the six scenarios of the issue and the relay's two, each explained", () => {
    assert.deepEqual(
      SCENARIOS.map((s) => s.name),
      ['icmp-blackhole', 'ecmp-fragments', 'ecmp-ptb-wrong-server', 'ecmp-ptb-relay', 'ecmp-ptb-relay-servers', 'udp-fragment-firewall', 'mss-clamp-1344', 'encap-lb'],
    );
    for (const s of SCENARIOS) {
      assert.ok(s.explanation.length > 300, `${s.name} explains itself`);
      assert.ok(s.title.length > 10 && s.expected.length > 20, s.name);
    }
  });

  it('lab scenarios lists them; lab run rejects an unknown name with status 2 and the known ones', async () => {
    const list = await cli(['lab', 'scenarios']);
    assert.equal(list.code, 0, list.stderr);
    for (const s of SCENARIOS) assert.match(list.stdout, new RegExp(`^${s.name}$`, 'm'));
    const bad = await cli(['lab', 'run', 'no-such-scenario']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown scenario "no-such-scenario"; known scenarios: icmp-blackhole, /);
  });
});

describe('scenarios with real traffic', needsRoot(), () => {
  it('icmp-blackhole: PTB works when allowed; with it dropped the upload stalls, small request and download complete', async () => {
    const r = await run('icmp-blackhole');
    for (const family of [4, 6] as const) {
      const control = r.pings.find((p) => p.family === family && p.icmpMtu !== undefined);
      assert.equal(control?.icmpMtu, 1400, `IPv${family} control ping got mtu 1400`);
      assert.ok(r.routeCache.some((e) => e.node === 'c' && e.destination === control?.address && e.mtu === 1400));
      const silent = r.pings.find((p) => p.family === family && p.address !== control?.address);
      assert.ok(silent !== undefined && silent.sent > 0 && silent.received === 0 && silent.icmpMtu === undefined, JSON.stringify(r.pings));
      const toServer = r.routeCache.find((e) => e.node === 'c' && e.destination === silent.address);
      assert.ok(toServer?.resolved === true && toServer.mtu === undefined, "c's route to s: no learned mtu");
      assert.equal(outcome(r, 'small request', family), 'completed');
      assert.equal(outcome(r, 'upload 100 KB', family), 'stalled');
      assert.equal(outcome(r, 'download 1 MB', family), 'completed');
    }
    const stalled = r.transfers.filter((t) => t.outcome === 'stalled');
    assert.ok(stalled.every((t) => t.bytesUploaded < t.uploadBytes && t.seconds >= 3.9));
    // r1 drops its own "fragmentation needed" and Packet Too Big (10 of each: the uploads' and the pings' errors), the
    // ICMP errors its ip_forward sent about the full-size packets it could not forward (IPv4 errors: the tracepoint).
    const firewall = groupsAt(r, (d) => d.node === 'r1' && d.function === 'nft_do_chain' && d.reason === 'NETFILTER_DROP');
    assert.equal(firewall.length, 1, JSON.stringify(r.drops));
    assert.deepEqual(Object.keys(firewall[0]!.packets).sort(), ['IPv4 icmp fragmentation needed (3/4) mtu 1400', 'IPv6 icmp6 packet too big (2/0) mtu 1400']);
    assert.ok(dropsAt(r, (d) => d.node === 'r1' && d.function === 'ip_forward' && d.reason === 'PKT_TOO_BIG') > 0, JSON.stringify(r.drops));
    assert.ok(dropsAt(r, (d) => d.node === 'r1' && d.function === 'ip6_forward' && d.reason === 'PKT_TOO_BIG') > 0, JSON.stringify(r.drops));
    const client = labOf(r).address('c', 4);
    assert.ok(icmpSent(r).some((i) => i.node === 'r1' && i.type === 3 && i.code === 4 && i.to === client), JSON.stringify(icmpSent(r)));
  });

  it('ecmp-fragments: kernel ECMP keeps fragments together; first-fragment hashing loses large datagrams only', async () => {
    const r = await run('ecmp-fragments');
    const tally = (label: string, size: number) => r.datagrams.find((d) => d.label === label && d.size === size);
    assert.equal(tally('kernel ECMP', 3000)?.received, 16);
    assert.equal(tally('first-fragment hashing', 200)?.received, 16);
    const large = tally('first-fragment hashing', 3000);
    assert.ok(large !== undefined && large.received < large.sent);
    for (const server of ['s1', 's2']) {
      assert.ok(dropsAt(r, (d) => d.node === server && d.reason === 'FRAG_REASM_TIMEOUT') > 0, `incomplete datagrams expire on ${server}: ${JSON.stringify(r.drops)}`);
    }
    // Each lost datagram leaves an incomplete part on both servers, which expires there.
    for (const server of ['s1', 's2']) assert.ok(Number(fact(r, `hashedReasmTimeouts_${server}`)) > 0, server);
    for (const server of ['s1', 's2']) assert.equal(fact(r, `kernelReasmTimeouts_${server}`), 0, server);
  });

  it('ecmp-ptb-wrong-server: downloads on the server that gets no Packet Too Big stall, the others complete', async () => {
    const r = await run('ecmp-ptb-wrong-server');
    for (const family of [4, 6] as const) {
      const mine = r.transfers.filter((t) => t.family === family);
      assert.equal(mine.length, 12);
      assert.ok(mine.some((t) => t.outcome === 'stalled') && mine.some((t) => t.outcome === 'completed'), `IPv${family}`);
      // Exactly one server learned the smaller MTU: the one rc's ICMP errors reached, and no download stalled there.
      const learned = r.routeCache.filter((e) => e.node.startsWith('s') && e.destination.includes(family === 4 ? '.' : ':') && e.mtu === 1400);
      assert.equal(learned.length, 1, JSON.stringify(r.routeCache));
      const [told, other] = learned[0]?.node === 's1' ? ['s1', 's2'] : ['s2', 's1'];
      assert.ok(Number(fact(r, `packetTooBig${family}_${told}`)) > 0, JSON.stringify(r.facts));
      assert.equal(fact(r, `packetTooBig${family}_${other}`), 0);
      assert.equal(fact(r, `stalled${family}_${told}`), 0);
      assert.equal(fact(r, `stalled${family}_${other}`), mine.filter((t) => t.outcome === 'stalled').length);
    }
  });

  it('ecmp-ptb-relay: with the relay on r every download completes and both servers learn 1400 from one copy of each error', async () => {
    const r = await run('ecmp-ptb-relay');
    let sent = 0;
    for (const family of [4, 6] as const) {
      const mine = r.transfers.filter((t) => t.family === family);
      assert.equal(mine.length, 12);
      assert.ok(mine.every((t) => t.outcome === 'completed'), `IPv${family}`);
      const servers = r.routeCache.filter((e) => e.node.startsWith('s') && e.destination === (family === 4 ? '10.0.1.1' : 'fd00:0:0:1::1'));
      assert.deepEqual(servers.map((e) => [e.node, e.mtu]), [['s1', 1400], ['s2', 1400]], JSON.stringify(r.routeCache));
      // Without the relay one server gets every error (ecmp-ptb-wrong-server); steered by flow, both get some.
      for (const s of ['s1', 's2']) assert.ok(Number(fact(r, `packetTooBig${family}_${s}`)) > 0, `IPv${family} ${s}: ${JSON.stringify(r.facts)}`);
      sent += Number(fact(r, `packetTooBigSent${family}`));
    }
    assert.equal(fact(r, 'relayedOwner_r'), sent);
    // rc's errors quote plain TCP segments: the relay's kernel steering relays every one, none comes through its queue.
    assert.equal(fact(r, 'relayedInKernel_r'), sent);
    assert.equal(fact(r, 'relayQueued_r'), 0);
    assert.equal(fact(r, 'relayedFallback_r'), 0);
    assert.equal(fact(r, 'relayCopies_r'), 0, 'an owner delivery is not a copy');
    assert.ok(r.findings.some((f) => f.startsWith(`the relay on r relayed ${sent} in the kernel, queued 0 `)), r.findings.join('\n'));
  });

  it('ecmp-ptb-relay-servers: each server relays the errors for the other\'s flows, which its relay hands to its kernel once', async () => {
    const r = await run('ecmp-ptb-relay-servers');
    assert.ok(Number(fact(r, 'hashSeed')) > 0, "r's hash seed was pinned");
    for (const family of [4, 6] as const) {
      assert.ok(r.transfers.filter((t) => t.family === family).every((t) => t.outcome === 'completed'), `IPv${family}`);
      // The server r's route lookup names gets every error from r; the other learns 1400 from what its peer relayed.
      const [told, other] = fact(r, `icmpRoutedTo${family}_s1`) === true ? ['s1', 's2'] : ['s2', 's1'];
      assert.equal(fact(r, `packetTooBig${family}_${told}`), fact(r, `packetTooBigSent${family}`));
      assert.equal(fact(r, `packetTooBig${family}_${other}`), 0);
      assert.ok(Number(fact(r, `packetTooBigHandedOn${family}_${other}`)) > 0, JSON.stringify(r.facts));
      assert.equal(fact(r, `packetTooBigHandedOn${family}_${told}`), 0);
      assert.equal(fact(r, `serverMtu${family}_${other}`), 1400);
    }
    for (const [s, peer] of [['s1', 's2'], ['s2', 's1']] as const) {
      assert.equal(fact(r, `relayInjected_${s}`), fact(r, `relayedBroadcast_${peer}`));
      assert.equal(fact(r, `relayEnvelopeDuplicates_${s}`), fact(r, `relayInjected_${s}`));
      assert.equal(fact(r, `relayedOwner_${s}`), 0);
      assert.equal(fact(r, `relayedFallback_${s}`), 0);
    }
  });

  it('udp-fragment-firewall (through `lab run` on a terminal): progress while it runs; small answers arrive, fragmented ones do not', async () => {
    // script(1) gives the command a terminal; its standard output goes to a file, so the terminal shows standard error.
    const json = join(tmpdir(), `mtl-run-${randomBytes(3).toString('hex')}.json`);
    const command = `${quoted(process.execPath)} ${quoted(CLI)} lab run udp-fragment-firewall --json > ${quoted(json)}`;
    let r: ScenarioReport;
    try {
      const tty = await runToEnd('script', ['-qec', command, '/dev/null'], { timeoutMs: 60_000 });
      assert.equal(tty.code, 0, tty.stdout);
      const lines = tty.stdout.split('\r\x1b[K').filter((l) => l !== '');
      assert.match(lines[0] ?? '', /^lab run udp-fragment-firewall: building the lab \(3 nodes\) \(0 s\)$/);
      assert.ok(lines.some((l) => /^lab run udp-fragment-firewall: running the traffic \([1-9]\d* s\)$/.test(l)), JSON.stringify(lines));
      assert.match(lines.at(-1) ?? '', /^lab run udp-fragment-firewall: tearing the lab down \(\d+ s\)$/);
      assert.ok(tty.stdout.endsWith('\r\x1b[K'), 'the progress line is cleared before the command ends');
      r = JSON.parse(await readFile(json, 'utf8')) as ScenarioReport;
    } finally {
      await rm(json, { force: true });
    }
    assertNothingLeft(r.lab.id);
    assertAsExpected(r);
    for (const family of [4, 6] as const) {
      const got = (size: number, label = 'answer') => r.datagrams.find((d) => d.family === family && d.size === size && d.label === label)?.received;
      assert.equal(got(200), 1);
      assert.equal(got(1400), 1);
      assert.equal(got(3000), 0);
      assert.equal(got(8000), 0);
      assert.equal(got(3000, 'answer, control (fragments let through)'), 1);
      assert.equal(got(8000, 'answer, control (fragments let through)'), 1);
      // Every fragment of a lost answer was dropped by fw: UDP header and payload in pieces of at most 1480 (IPv6: 1448)
      // bytes, twice (the client asks once more when the answer does not come).
      const perFragment = family === 4 ? 1480 : 1448;
      for (const size of [3000, 8000]) assert.equal(fact(r, `fragmentsDropped${family}_${size}`), 2 * Math.ceil((size + 8) / perFragment), `IPv${family} ${size}`);
      for (const size of [200, 1400]) assert.equal(fact(r, `fragmentsDropped${family}_${size}`), 0);
    }
    assert.ok(dropsAt(r, (d) => d.node === 'fw' && d.reason === 'NETFILTER_DROP') > 0, JSON.stringify(r.drops));
    assert.equal(dropsAt(r, (d) => d.node !== 'fw' && d.reason === 'NETFILTER_DROP'), 0);
  });

  it('mss-clamp-1344 (through `lab run --json`): the server sees MSS 1344 and every transfer completes', async () => {
    const out = await cli(['lab', 'run', 'mss-clamp-1344', '--json']);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stderr, '', 'no progress line when standard error is not a terminal');
    const r = JSON.parse(out.stdout) as ScenarioReport;
    assertNothingLeft(r.lab.id);
    assertAsExpected(r);
    for (const family of [4, 6] as const) {
      assert.ok(Number(fact(r, `clientSyns${family}`)) >= 2);
      assert.equal(fact(r, `clientSynsOwnMss${family}`), fact(r, `clientSyns${family}`), 'c announces its own MSS');
      assert.ok(Number(fact(r, `serverSyns${family}`)) >= 2);
      assert.equal(fact(r, `serverSynsClamped${family}`), fact(r, `serverSyns${family}`), 's sees 1344');
    }
    assert.equal(r.transfers.length, 4);
    assert.ok(r.transfers.every((t) => t.outcome === 'completed'));
    assert.equal(r.pings.length, 2);
    assert.ok(r.pings.every((p) => p.sent > 0 && p.icmpMtu === undefined && p.received === 0));
  });

  it('encap-lb: upload stalls after encapsulation, small request and download complete; the drop is in ip_fragment', async () => {
    const r = await run('encap-lb');
    assert.equal(outcome(r, 'small request', 4), 'completed');
    assert.equal(outcome(r, 'upload 100 KB', 4), 'stalled');
    assert.equal(outcome(r, 'download 1 MB', 4), 'completed');
    assert.equal(r.routeCache.find((e) => e.node === 'lb')?.mtu, 1450, "lb learned the tunnel's real MTU");
    const atClient = r.routeCache.find((e) => e.node === 'c');
    assert.ok(atClient?.resolved === true && atClient.mtu === undefined, 'the client never did');
    // The kernel drops: lb's ip_fragment refuses the wrapped packets on the underlay and sends "fragmentation needed" to
    // the outer source, lb's own underlay address.
    const underlay = labOf(r).address('lb', 4, 'eth2');
    const refused = groupsAt(r, (d) => d.node === 'lb' && d.device === 'eth2' && d.function === 'ip_fragment');
    assert.equal(refused.length, 1, JSON.stringify(r.drops));
    assert.ok(refused[0]!.count > 0 && Object.keys(refused[0]!.packets).every((p) => p === 'IPv4 udp (vxlan: IPv4 tcp)'), JSON.stringify(refused));
    assert.match(refused[0]!.meaning, new RegExp(`larger than the route MTU \\(1550 bytes > eth2's MTU 1500\\) with DF set; an ICMP fragmentation-needed was sent to ${underlay.replace(/\./g, '\\.')}`));
    assert.deepEqual(
      icmpSent(r).map((i) => [i.node, i.device, i.type, i.code, i.to]),
      [['lb', 'eth2', 3, 4, underlay]],
    );
    assert.equal(dropsAt(r, (d) => d.node === 'c' && !d.benign), 0, 'nothing dropped at the client');
    assert.ok(Number(fact(r, 'lbFragFails')) > 0, "lb's own counter of ip_fragment's refusals rose");
    assert.equal(fact(r, 'clientFragNeeded'), 0);
  });
});
