/**
 * Hostile input for the relay in owner mode on r: rc floods the anycast address with 100,000 crafted Packet Too Big
 * (test/support/ptb-flood.ts, half IPv4, half IPv6) mixing forged messages for flows nobody carries, one message
 * repeated, bad checksums, quotes of an unserved address, MTUs below the minimum and quotes cut inside the IP header.
 * The relay's counters by reason are held against what was sent per kind and against the kernel's own queue counters,
 * every relayed message is traced back to the flood's loop index (only forged and duplicate messages may be relayed),
 * and the copies that reach the servers are held against the bound the rate limits set.
 */
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { IP_FAMILIES, type IpFamily } from '../../src/packet/ip-family.js';
import type { RunningLab } from '../../src/lab/running-lab.js';
import type { IgnoreReason } from '../../src/relay/relay-core.js';
import { RELAY_DEFAULTS } from '../../src/cli/relay-command.js';
import { floodMessage, type FloodKind } from '../support/ptb-flood.js';
import { judgePacketTooBig } from '../../src/relay/relay-verdict.js';
import { parseCidrOrAddress } from '../../src/packet/cidr.js';
import { needsRoot } from '../support/root.js';
import {
  ANYCAST,
  arrivedTotal,
  BATCH,
  carriers,
  conntrackStats,
  countDelivery,
  downloads,
  FLOOD,
  floodBound,
  floodIndexOf,
  nextHops,
  notCompleted,
  ownerDeliveryProblems,
  parseConntrackStats,
  queueStats,
  RelayRun,
  SERVED_ARGS,
  serverAddress,
  SERVERS,
  spread,
  startServers,
  stopServers,
  withRelayLab,
} from './relay-lab.js';

const KINDS: readonly FloodKind[] = ['forged', 'duplicate', 'bad-checksum', 'unserved-quote', 'below-minimum', 'truncated'];
const PER_FAMILY = 50_000;
const LIMITS = { routerRate: 50, flowRate: 2, totalRate: 80 } as const;
/** The reason the relay must give for each kind it may not relay. */
const REJECTED: Partial<Record<FloodKind, IgnoreReason>> = {
  'bad-checksum': 'bad-checksum',
  'unserved-quote': 'quote-not-served',
  'below-minimum': 'mtu-below-minimum',
  truncated: 'quote-unparsable',
};
/** What may become of a valid message (forged, duplicate): relayed as a fallback, or refused by a limit. */
const LIMIT_REASONS: readonly IgnoreReason[] = ['duplicate', 'router-limit', 'flow-limit', 'total-limit'];

interface FloodReport {
  readonly sent: Partial<Record<FloodKind, number>>;
  readonly errors: number;
  readonly seconds: number;
}

async function flood(lab: RunningLab, family: IpFamily, count = PER_FAMILY, kinds: readonly FloodKind[] = KINDS): Promise<FloodReport> {
  const argv = [process.execPath, FLOOD, ANYCAST[family], lab.address('rc', family, 'eth2'), String(count), kinds.join(',')];
  const r = await lab.mustExec('rc', argv, { timeoutMs: 120_000 });
  return JSON.parse(r.stdout) as FloodReport;
}

/** Waits until the relay has taken everything from its queue and printed every event (its output stands still). */
async function quiet(lab: RunningLab, relay: RelayRun): Promise<void> {
  let length = -1;
  for (let i = 0; i < 200; i++) {
    const waiting = (await queueStats(lab, 'r', RELAY_DEFAULTS.queueNum)).waiting;
    if (waiting === 0 && relay.process.stdout.length === length) return;
    length = relay.process.stdout.length;
    await delay(250);
  }
  throw new Error('the relay did not become idle within 50 s');
}

describe('flood checks', () => {
  it('traces a flood message back to its index from its quoted flow, and no other message to that index', () => {
    const policy4 = { served: [parseCidrOrAddress(ANYCAST[4])!], maxMtu: { 4: 1500, 6: 1500 } };
    const policy6 = { served: [parseCidrOrAddress(ANYCAST[6])!], maxMtu: { 4: 1500, 6: 1500 } };
    for (const i of [0, 1, 249, 250, 32_767, 32_768, 49_999]) {
      for (const [to, policy] of [[ANYCAST[4], policy4], [ANYCAST[6], policy6]] as const) {
        const v = judgePacketTooBig(floodMessage('forged', i, to, to === ANYCAST[4] ? '10.0.2.1' : 'fd00:0:0:2::1'), policy);
        assert.ok(v.ok, `message ${i} to ${to} is valid`);
        assert.equal(floodIndexOf(v.message.flow.peer, v.message.flow.peerPort!, PER_FAMILY), i, `${to} #${i}`);
      }
    }
    assert.equal(floodIndexOf('192.0.2.1', 20_000, PER_FAMILY), undefined, 'a port without the flood\'s top bit is none of its');
    assert.equal(floodIndexOf('192.0.2.251', 0x8000, PER_FAMILY), undefined, 'nor an address byte it never uses');
    assert.equal(floodIndexOf('192.0.2.2', 0x8000, PER_FAMILY), undefined, 'nor a pair no index below the limit gives');
  });

  it('bounds the copies by the smallest of the router, flow and total buckets over the flood\'s duration', () => {
    const b = floodBound({ sent: 100_000, seconds: 10, routers: 2, flows: 50_001, copiesPerFallback: 2, ...LIMITS });
    // Routers: 2 x (100 + 500) = 1200; total: 160 + 800 = 960; flows: plenty.
    assert.equal(b.fallbacks, 960);
    assert.equal(b.arrivals, 100_960);
    assert.equal(b.amplification, 1.0096);
    assert.equal(floodBound({ sent: 1000, seconds: 1, routers: 1, flows: 2, copiesPerFallback: 3, routerRate: 100, flowRate: 4, totalRate: 1000 }).fallbacks, 24, 'two flows of 8 + 4');
  });

  it('reads the kernel\'s conntrack counters', () => {
    const ct = parseConntrackStats('entries  clashres found new invalid ignore\n00000002  00000000 00000000 00000001 0000000a 00000000\n00000002  00000000 00000000 00000000 00000010 00000000\n');
    assert.equal(ct.invalid, 26);
    assert.equal(ct.new, 1);
  });
});

describe('mtuscope relay under a flood of hostile Packet Too Big', needsRoot('for network namespaces, iptables and raw sockets'), () => {
  for (const steering of ['kernel', 'user space'] as const) {
  it(`relays only the valid messages, within its limits, accounts for every message by reason, and keeps running (steering in ${steering})`, { timeout: 150_000 }, async (t) => {
    await withRelayLab('relay-flood', {}, async (lab) => {
      const relay = await RelayRun.start(lab, 'r', [
        '--served', ANYCAST[4], '--served', ANYCAST[6],
        '--router-rate', String(LIMITS.routerRate), '--flow-rate', String(LIMITS.flowRate), '--total-rate', String(LIMITS.totalRate),
        ...(steering === 'kernel' ? [] : ['--no-kernel-steering']),
      ]);
      assert.equal(relay.started.steering?.inKernel, steering === 'kernel', JSON.stringify(relay.started.steering));
      const counting = await countDelivery(lab, 'flood');
      const queueBefore = await queueStats(lab, 'r', RELAY_DEFAULTS.queueNum);
      const conntrackBefore = await conntrackStats(lab, 'r');
      const start = performance.now();
      const reports = await Promise.all(IP_FAMILIES.map((f) => flood(lab, f)));
      await quiet(lab, relay);
      const seconds = (performance.now() - start) / 1000;
      const delivery = await counting.read();
      const queueAfter = await queueStats(lab, 'r', RELAY_DEFAULTS.queueNum);
      const conntrackAfter = await conntrackStats(lab, 'r');
      const stillRunning = relay.process.running;
      const relayed = relay.relayed();
      const exit = await relay.stop('SIGTERM');
      const summary = exit.summary;

      const sentOf = (k: FloodKind): number => reports.reduce((n, r) => n + (r.sent[k] ?? 0), 0);
      const sent = KINDS.reduce((n, k) => n + sentOf(k), 0);
      const queued = queueAfter.taken - queueBefore.taken;
      const queueDropped = queueAfter.queueFull - queueBefore.queueFull;
      const userDropped = queueAfter.socketFull - queueBefore.socketFull;
      const arrived = IP_FAMILIES.reduce((n, f) => n + arrivedTotal(delivery, f), 0);
      const fallbacks = summary?.relayed.fallback ?? 0;
      const ignored = (reason: IgnoreReason): number => summary?.ignored[reason] ?? 0;
      const bound = floodBound({
        sent,
        seconds,
        routers: IP_FAMILIES.length,
        flows: IP_FAMILIES.length * (sentOf('forged') / 2 + 1),
        copiesPerFallback: SERVERS.length,
        ...LIMITS,
      });
      const ct = (name: string): number => (conntrackAfter[name] ?? 0) - (conntrackBefore[name] ?? 0);
      t.diagnostic(`flood: ${sent} messages (${KINDS.map((k) => `${k} ${sentOf(k)}`).join(', ')}), send errors ${reports.map((r) => r.errors).join('+')}, sent in ${reports.map((r) => r.seconds.toFixed(1)).join(' s and ')} s (both families at once); relay idle ${seconds.toFixed(1)} s after the start`);
      t.diagnostic(`rc's OUTPUT counted IPv4 ${delivery.sent[4]}, IPv6 ${delivery.sent[6]}; r's queue took ${queued}, the kernel dropped ${queueDropped} at the full queue and ${userDropped} at the full netlink socket`);
      t.diagnostic(`r's conntrack during the flood: invalid +${ct('invalid')}, icmp_error +${ct('icmp_error')}, drop +${ct('drop')}, new +${ct('new')}`);
      t.diagnostic(`relay summary: ${JSON.stringify(summary)}`);
      t.diagnostic(
        `limits --router-rate ${LIMITS.routerRate} --flow-rate ${LIMITS.flowRate} --total-rate ${LIMITS.totalRate} over ${seconds.toFixed(1)} s: at most ${bound.fallbacks} fallbacks, ` +
          `${bound.arrivals} arrivals, amplification ${bound.amplification.toFixed(4)}; measured ${fallbacks} fallbacks, ${arrived} Packet Too Big arrived at s1+s2 ` +
          `(IPv4 ${arrivedTotal(delivery, 4)}, IPv6 ${arrivedTotal(delivery, 6)}): amplification ${(arrived / sent).toFixed(4)}`,
      );

      // The flood went out (a send refused with ENOBUFS is counted as an error, not sent), and rc's kernel saw each
      // message it sent once.
      for (const [i, f] of IP_FAMILIES.entries()) {
        const r = reports[i]!;
        const total = KINDS.reduce((n, k) => n + (r.sent[k] ?? 0), 0);
        assert.equal(total + r.errors, PER_FAMILY, `IPv${f}: the flood tried every message`);
        assert.equal(delivery.sent[f], total, `IPv${f}: rc's OUTPUT counted every message sent`);
      }
      assert.ok(sent >= 0.99 * IP_FAMILIES.length * PER_FAMILY, `${sent} of ${IP_FAMILIES.length * PER_FAMILY} sent`);

      // The relay is still there and ends as it should.
      assert.ok(stillRunning, 'the relay still ran after the flood');
      assert.equal(exit.code, 0, relay.process.stderr);
      assert.ok(summary !== undefined, 'the summary was printed');

      // Every message is accounted for: relayed by the kernel steering, taken by the relay, or kept from its queue by
      // the kernel-side limits (then forwarded as without the relay; counted by the chain's RETURN rule). None is
      // dropped at a full queue: the limits let in no more than the relay reads (before they existed, 56,603 of
      // 100,000 were dropped there, genuine messages included). Nothing else stood between rc and the queue: conntrack
      // marks ICMP errors without a connection invalid but drops none.
      const overQueueLimit = summary.overQueueLimit ?? Number.NaN;
      const k = summary.kernel;
      const inKernel = k === undefined ? 0 : k.relayedOwner + k.relayedOwnerUnknown + k.relayedSharedInterface;
      t.diagnostic(`kept from the queue by the kernel-side limits: ${overQueueLimit}; relayed in the kernel: ${inKernel}`);
      if (steering === 'kernel') {
        // The flood's valid messages are the kernel's; everything it refused reached the queue's rules.
        assert.ok(k !== undefined && inKernel > 0, 'the kernel steering relayed the valid messages');
        assert.equal(k.eventsLost + k.copiesFailed, 0, 'every message it relayed was reported, every copy sent');
        assert.equal(relayed.filter((e) => e.inKernel === true).length, inKernel, 'one event per message relayed in the kernel');
      } else assert.equal(k, undefined, 'no kernel steering');
      assert.equal(queueDropped + userDropped, 0, 'the kernel dropped no message at a full queue');
      assert.deepEqual(summary.kernelDropped, { queueFull: queueDropped, socketFull: userDropped }, 'the summary says what the kernel dropped');
      assert.equal(inKernel + queued + overQueueLimit, sent, 'every message was relayed in the kernel, reached r\'s queue or was kept from it by the kernel-side limits');
      assert.equal(summary.queued, queued, 'the relay took every message the queue held');
      const handled = (k: FloodKind): number => ignored(REJECTED[k]!);
      for (const k of KINDS.filter((x) => REJECTED[x] !== undefined)) {
        assert.ok(handled(k) <= sentOf(k) && handled(k) > 0, `${k}: ${handled(k)} ignored as ${REJECTED[k]}, of ${sentOf(k)} sent`);
      }
      const valid = fallbacks + LIMIT_REASONS.reduce((n, r) => n + ignored(r), 0);
      assert.ok(valid <= sentOf('forged') + sentOf('duplicate'));
      const known = new Set<string>([...Object.values(REJECTED), ...LIMIT_REASONS]);
      assert.deepEqual(Object.keys(summary.ignored).filter((r) => !known.has(r)), [], 'no other reason');
      const accounted = valid + KINDS.filter((k) => REJECTED[k] !== undefined).reduce((n, k) => n + handled(k), 0);
      assert.equal(accounted, summary.queued + inKernel, 'each message the relay took has one outcome');
      assert.equal(sent - accounted, overQueueLimit, 'what the relay never saw is what the kernel-side limits kept from it');

      // Nothing relayed that should not be: only fallbacks (no flow is known), each a forged message (or the one
      // repeated message, which quotes message 0's flow), to both next hops of its family.
      assert.equal(summary.relayed.owner, 0);
      assert.equal(summary.relayed.broadcast, 0);
      assert.equal(relayed.length, fallbacks);
      for (const e of relayed) {
        const index = floodIndexOf(e.flow.peer, e.flow.peerPort ?? 0, PER_FAMILY);
        assert.ok(index !== undefined && KINDS[index % KINDS.length] === 'forged', `relayed flow ${JSON.stringify(e.flow)} is that of a forged message (index ${index})`);
        assert.equal(e.method, 'fallback');
        assert.equal(e.fallback, 'owner-unknown');
        assert.equal(e.flow.served, ANYCAST[e.family]);
        assert.equal(e.router, lab.address('rc', e.family, 'eth2'));
        assert.deepEqual([...e.peers].sort(), SERVERS.map((s) => serverAddress(lab, s, e.family)).sort());
      }
      // The router and total rates act first in the kernel (the queue sees no more than they allow), then in the relay.
      assert.ok(overQueueLimit + ignored('router-limit') + ignored('total-limit') > 0, 'the limits refused some');
      assert.ok(ignored('duplicate') > 0, 'the repeated message was de-duplicated');

      // Copies: one per next hop for each fallback, the original dropped; everything else went on once.
      assert.equal(summary.copies, SERVERS.length * fallbacks);
      assert.equal(arrived, sent - fallbacks + summary.copies, 'the servers got each message once (relayed or passed by), a fallback once per next hop');
      assert.ok(fallbacks <= bound.fallbacks, `${fallbacks} fallbacks within the limits' ${bound.fallbacks}`);
      assert.ok(arrived <= bound.arrivals, `amplification ${(arrived / sent).toFixed(4)} within ${bound.amplification.toFixed(4)}`);
    });
  });
  }

  it('steers in the kernel what it can judge there and relays in user space a message whose own header has IPv4 options or an IPv6 extension header', { timeout: 60_000 }, async (t) => {
    await withRelayLab('relay-split', {}, async (lab) => {
      const relay = await RelayRun.start(lab, 'r', SERVED_ARGS);
      const counting = await countDelivery(lab, 'split');
      // Few enough that no limit refuses any (a burst of 8 per flow and 400 per router by default): 5 of each kind.
      const reports = await Promise.all(IP_FAMILIES.map((f) => flood(lab, f, 10, ['forged', 'outer-options'])));
      await quiet(lab, relay);
      const delivery = await counting.read();
      const relayed = relay.relayed();
      const exit = await relay.stop();
      const k = exit.summary?.kernel;
      t.diagnostic(`sent ${JSON.stringify(reports.map((r) => r.sent))}; summary ${JSON.stringify(exit.summary)}`);
      assert.equal(exit.code, 0, relay.process.stderr);
      for (const [i, f] of IP_FAMILIES.entries()) {
        assert.deepEqual(reports[i]!.sent, { forged: 5, 'outer-options': 5 }, `IPv${f}: all sent`);
        const mine = relayed.filter((e) => e.family === f);
        // Every message is about a flow r never carried: a copy to each server, from wherever it was relayed.
        assert.equal(mine.length, 10, `IPv${f}: every message relayed once`);
        assert.ok(mine.every((e) => e.method === 'fallback' && e.fallback === 'owner-unknown' && e.peers.length === SERVERS.length));
        assert.equal(mine.filter((e) => e.inKernel === true).length, 5, `IPv${f}: the plain ones in the kernel`);
        assert.equal(arrivedTotal(delivery, f), 2 * delivery.sent[f], `IPv${f}: each reached both servers once (two copies, the original dropped)`);
      }
      assert.equal(exit.summary?.queued, 10, 'the queue had the ten with options or extension headers, no other');
      assert.equal(k?.relayedOwnerUnknown, 10);
      assert.equal(k?.copies, 20);
      // A copy leaves straight toward its peer once the kernel knows the peer's link address; before, through the
      // peer's policy route (one per peer and family at most here: that forwarding resolves it).
      assert.ok(k !== undefined && k.copiesForwarded <= 4, `copies forwarded ${k?.copiesForwarded} of ${k?.copies}`);
      // The IPv4 ones with options were looked at and left; ip6tables, not the program, finds ICMPv6 behind an extension header.
      assert.equal(k?.leftToUserSpace, 5);
    });
  });

  it('lets downloads complete that run during a flood sent in the name of their own router', { timeout: 150_000 }, async (t) => {
    await withRelayLab('relay-flood-dl', {}, async (lab) => {
      const servers = await startServers(lab);
      try {
        const relay = await RelayRun.start(lab, 'r', SERVED_ARGS);
        const queueBefore = await queueStats(lab, 'r', RELAY_DEFAULTS.queueNum);
        const start = performance.now();
        const flooding = Promise.all(IP_FAMILIES.map((f) => flood(lab, f)));
        // The downloads start once the flood is under way (it lasts about 4 s). The kernel-side limits let only a few
        // hundred of its messages a second into r's queue, so that count cannot tell when it started: time does.
        await delay(1000);
        const into = (performance.now() - start) / 1000;
        const results = await downloads(lab, { ...BATCH, maxTimeS: 20 });
        const reports = await flooding;
        const seconds = (performance.now() - start) / 1000;
        await quiet(lab, relay);
        const queueAfter = await queueStats(lab, 'r', RELAY_DEFAULTS.queueNum);
        const exit = await relay.stop();
        const carrierOf = carriers(servers);
        const genuine = relay.relayed().filter((e) => e.method === 'owner');
        t.diagnostic(`flood of ${reports.map((r) => r.seconds.toFixed(1)).join(' s and ')} s, downloads from ${into.toFixed(1)} s on, all over after ${seconds.toFixed(1)} s; the kernel dropped ${queueAfter.queueFull - queueBefore.queueFull} at r's full queue`);
        for (const f of IP_FAMILIES) {
          const mine = results.filter((r) => r.family === f);
          t.diagnostic(
            `during the flood IPv${f}: connections ${spread(results, carrierOf, f)}; ${genuine.filter((e) => e.family === f).length} of rc's own errors steered to their owner; ` +
              `downloads ${mine.map((r) => `${r.outcome} ${r.seconds.toFixed(1)} s`).join(', ')}`,
          );
        }
        t.diagnostic(`relay summary: ${JSON.stringify(exit.summary)}`);
        assert.equal(exit.code, 0, relay.process.stderr);
        // Sharing the router's budget with the flood, most of rc's own errors pass the relay by and go where the
        // kernel hashes them (as without the relay) until the flood ends; no message is lost to a full queue.
        assert.equal(queueAfter.queueFull - queueBefore.queueFull, 0, 'the kernel dropped no message at a full queue');
        assert.deepEqual(notCompleted(results), [], 'every download completed');
        assert.deepEqual(ownerDeliveryProblems(genuine, carrierOf, nextHops(lab)), []);
      } finally {
        await stopServers(servers);
      }
    });
  });
});
