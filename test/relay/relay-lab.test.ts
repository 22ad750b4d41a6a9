/**
 * `mtuscope relay` against real kernels: the lab of relay-lab.ts (c --1400-- rc -- r(ECMP) -- s1/s2 with the anycast
 * address), real curl downloads from c, Packet Too Big counted with iptables counters where rc sends them and where
 * they arrive, and the relay's own --json events and summary. Owner mode on r with L4 hashing, the control with L3
 * hashing, and broadcast mode on the servers with routed and with L2-adjacent peers.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { IP_FAMILIES } from '../../src/packet/ip-family.js';
import type { RunningLab } from '../../src/lab/running-lab.js';
import type { TransferResult } from '../../src/lab/traffic/curl.js';
import type { HttpServer } from '../../src/lab/traffic/http-server.js';
import { routeGet } from '../../src/lab/traffic/route-cache.js';
import { needsRoot } from '../support/root.js';
import {
  ANYCAST,
  arrivedTotal,
  BATCH,
  carriers,
  CLIENT_SIDE_MTU,
  countDelivery,
  countFollowing,
  deliveryWords,
  downloads,
  downloadsOnBothServers,
  forgetPathMtus,
  learnedMtuToClient,
  nextHops,
  notCompleted,
  otherServer,
  ownerDeliveryProblems,
  ptbServer,
  relayLeftovers,
  RelayRun,
  SERVED_ARGS,
  serverAddress,
  serverLinkAddress,
  SERVERS,
  spread,
  STALLING_BATCH,
  startServers,
  stopServers,
  withRelayLab,
  type CarrierOf,
  type Delivery,
  type RelayedLine,
  type ServerName,
} from './relay-lab.js';

describe('relay lab checks', () => {
  const relayed = (method: RelayedLine['method'], peer: string, port: number): RelayedLine => ({
    event: 'relayed',
    method,
    peers: [peer],
    dryRun: false,
    family: 4,
    router: '10.0.2.1',
    mtu: 1400,
    flow: { protocol: 6, served: ANYCAST[4], servedPort: 8080, peer: '10.0.1.1', peerPort: port },
  });
  const hops = new Map<string, ServerName>([['10.0.3.2', 's1'], ['10.0.4.2', 's2']]);
  const carrierOf: CarrierOf = (_f, port) => (port === 40000 ? 's1' : port === 40001 ? 's2' : undefined);

  it('finds nothing wrong when every message was steered to the next hop of the server carrying its flow', () => {
    assert.deepEqual(ownerDeliveryProblems([relayed('owner', '10.0.3.2', 40000), relayed('owner', '10.0.4.2', 40001)], carrierOf, hops), []);
  });

  it('says what is wrong when a message went to the other server, by fallback, or for a flow no server logged', () => {
    const problems = ownerDeliveryProblems(
      [relayed('owner', '10.0.4.2', 40000), relayed('fallback', '10.0.3.2', 40000), relayed('owner', '10.0.3.2', 40999)],
      carrierOf,
      hops,
    );
    assert.deepEqual(problems, [
      "IPv4 flow from c's port 40000: steered to s2, but s1 carries it",
      "IPv4 flow from c's port 40000: relayed by fallback, not owner",
      "IPv4 flow from c's port 40999: no (single) server logged this connection",
    ]);
  });

  it('sees the chains, rule preferences and tables of a relay in a host\'s listings, and nothing in a clean host\'s', () => {
    const clean = ['-P PREROUTING ACCEPT\n-A POSTROUTING -o eth1 -j MASQUERADE\n', '0:\tfrom all lookup local\n32766:\tfrom all lookup main\n', 'local 10.99.0.1 dev lo table local proto kernel scope host src 10.99.0.1\n'];
    assert.deepEqual(relayLeftovers(clean), []);
    const left = [
      '-N MTUSCOPE-RELAY-PRE\n-A PREROUTING -m comment --comment "mtuscope pid=1 start=2" -j MTUSCOPE-RELAY-PRE\n',
      '7361:\tfrom all fwmark 0x1020000/0x1ff0000 lookup 7361\n7487:\tfrom all lookup main\n',
      '10.99.0.1 via 10.0.4.2 dev eth3 table 7361\n10.99.0.1 via 10.0.4.2 dev eth3 table 7487\n',
    ];
    assert.deepEqual(relayLeftovers(left), [
      '-N MTUSCOPE-RELAY-PRE',
      '-A PREROUTING -m comment --comment "mtuscope pid=1 start=2" -j MTUSCOPE-RELAY-PRE',
      '7361:\tfrom all fwmark 0x1020000/0x1ff0000 lookup 7361',
      '10.99.0.1 via 10.0.4.2 dev eth3 table 7361',
    ]);
  });
});

/** Owner mode on r: the downloads, the relay's events and the copies that reach the servers. */
async function ownerRun(
  t: TestContext,
  lab: RunningLab,
  servers: readonly HttpServer[],
  name: string,
  tag: string,
  steering: 'kernel' | 'user space' = 'kernel',
): Promise<{ results: TransferResult[]; relay: RelayRun; delivery: Delivery }> {
  const counting = await countDelivery(lab, tag);
  const relay = await RelayRun.start(lab, 'r', [...SERVED_ARGS, ...(steering === 'kernel' ? [] : ['--no-kernel-steering'])]);
  const following = await countFollowing(lab, relay, tag);
  const results = await downloads(lab, BATCH);
  const delivery = await counting.read();
  const routed = await following.read();
  const exit = await relay.stop();
  const carrierOf = carriers(servers);
  for (const family of IP_FAMILIES) {
    const owner = relay.relayed().filter((e) => e.family === family);
    t.diagnostic(
      `${name} IPv${family}: connections ${spread(results, carrierOf, family)}; ${deliveryWords(delivery, family)}; relayed by owner ${owner.length}; ` +
        `r sent ${routed[family].withFlow} with their flow, ${routed[family].toOther} to the other server (of ${routed[family].forwarded})`,
    );
  }
  t.diagnostic(`${name}: steering ${JSON.stringify(relay.started.steering)}; summary ${JSON.stringify(exit.summary)}`);
  assert.deepEqual(notCompleted(results), [], 'every download completed');
  // rc's errors quote plain TCP segments: the kernel steering judges every one of them, unless it is turned off.
  assert.equal(relay.started.steering?.inKernel, steering === 'kernel', JSON.stringify(relay.started.steering));
  assert.ok(relay.relayed().every((e) => (e.inKernel === true) === (steering === 'kernel')), `every message relayed in ${steering}`);
  assert.equal(exit.summary?.queued, steering === 'kernel' ? 0 : relay.relayed().length);
  assert.deepEqual(ownerDeliveryProblems(relay.relayed(), carrierOf, nextHops(lab)), []);
  assert.equal(exit.code, 0, relay.process.stderr);
  assert.equal(exit.summary?.relayed.owner, relay.relayed().length, 'the summary counts what the events say');
  assert.equal(exit.summary?.relayed.fallback, 0);
  for (const family of IP_FAMILIES) {
    assert.ok(relay.relayed().some((e) => e.family === family), `IPv${family}: some Packet Too Big was relayed`);
    assert.ok(delivery.sent[family] > 0, `IPv${family}: rc sent Packet Too Big`);
    assert.equal(arrivedTotal(delivery, family), delivery.sent[family], `IPv${family}: exactly one copy of each reached the servers`);
    assert.equal(routed[family].toOther, 0, `IPv${family}: none went to the server without the flow`);
  }
  return { results, relay, delivery };
}

describe('mtuscope relay in owner mode on the ECMP router', needsRoot('for network namespaces, iptables and raw sockets'), () => {
  it('steers every Packet Too Big to the server carrying its flow under L4 hashing, so every download completes and each message arrives once (IPv4 and IPv6)', { timeout: 60_000 }, async (t) => {
    await withRelayLab('relay-owner', {}, async (lab) => {
      const servers = await startServers(lab);
      try {
        await ownerRun(t, lab, servers, 'L4 hashing with relay in user space', 'l4-user', 'user space');
        await forgetPathMtus(lab);
        const { relay } = await ownerRun(t, lab, servers, 'L4 hashing with relay', 'l4-relay');
        assert.deepEqual(
          relay.started.peers.map((p) => `${p.address} ${p.device ?? ''}`).sort(),
          SERVERS.flatMap((s) => IP_FAMILIES.map((f) => `${serverAddress(lab, s, f)} ${s === 's1' ? 'eth2' : 'eth3'}`)).sort(),
          'the next hops of the multipath routes are its peers',
        );
      } finally {
        await stopServers(servers);
      }
    });
  });

  it('duplicates nothing under L3 hashing (policy 0), where the kernel itself routes IPv4 errors by the quoted flow', { timeout: 90_000 }, async (t) => {
    const l3 = { sysctls: { 'net.ipv4.fib_multipath_hash_policy': '0', 'net.ipv6.fib_multipath_hash_policy': '0' } };
    await withRelayLab('relay-l3', l3, async (lab) => {
      const servers = await startServers(lab);
      try {
        // First a relay in dry run, which steers nothing but marks each message with its flow's interface: where the
        // kernel's own L3 hash sends rc's errors.
        const watching = await RelayRun.start(lab, 'r', [...SERVED_ARGS, '--dry-run']);
        const counting = await countDelivery(lab, 'plain');
        const following = await countFollowing(lab, watching, 'plain');
        const plain = await downloads(lab, STALLING_BATCH);
        const d = await counting.read();
        const routed = await following.read();
        assert.equal((await watching.stop()).code, 0, watching.process.stderr);
        const carrierOf = carriers(servers);
        for (const family of IP_FAMILIES) {
          const mine = plain.filter((r) => r.family === family);
          const stalled = mine.filter((r) => r.outcome !== 'completed');
          const slowest = Math.max(...mine.map((r) => r.seconds));
          t.diagnostic(
            `policy 0, kernel alone, IPv${family}: connections ${spread(plain, carrierOf, family)}; ${deliveryWords(d, family)}; ` +
              `r routed ${routed[family].withFlow} with their flow, ${routed[family].toOther} to the other server (of ${routed[family].forwarded}); ` +
              `${mine.length - stalled.length} of ${mine.length} downloads completed, slowest ${slowest.toFixed(2)} s`,
          );
        }
        assert.deepEqual(notCompleted(plain.filter((r) => r.family === 4)), [], 'IPv4: every download completed');
        assert.equal(routed[4].toOther, 0, 'IPv4: the kernel routed no error away from its flow');
        assert.equal(routed[4].withFlow, d.sent[4], 'IPv4: every error of rc went with its flow');
        assert.equal(arrivedTotal(d, 4), d.sent[4]);
        await forgetPathMtus(lab);
        await ownerRun(t, lab, servers, 'policy 0 with relay', 'l3-relay');
      } finally {
        await stopServers(servers);
      }
    });
  });
});

describe('mtuscope relay in broadcast mode on the servers', needsRoot('for network namespaces, iptables and raw sockets'), () => {
  const cases = [
    // One address carries envelopes of both families.
    { name: 'routed peers (each other\'s address on the link toward r)', lab: 'relay-bc-routed', routed: true, peers: (lab: RunningLab, s: ServerName) => [serverAddress(lab, s, 4)] },
    {
      name: 'L2-adjacent peers (both addresses on the direct s1-s2 link)',
      lab: 'relay-bc-l2',
      routed: false,
      peers: (lab: RunningLab, s: ServerName) => IP_FAMILIES.map((f) => serverLinkAddress(lab, s, f)),
    },
  ];
  for (const c of cases) {
    it(`hands each Packet Too Big for a flow it does not carry to the other server, which takes it: ${c.name}`, { timeout: 90_000 }, async (t) => {
      await withRelayLab(c.lab, {}, async (lab) => {
        const servers = await startServers(lab);
        try {
          const relays: Record<ServerName, RelayRun> = {
            s1: await RelayRun.start(lab, 's1', ['--mode', 'broadcast', ...SERVED_ARGS, ...c.peers(lab, 's2').flatMap((p) => ['--peer', p])]),
            s2: await RelayRun.start(lab, 's2', ['--mode', 'broadcast', ...SERVED_ARGS, ...c.peers(lab, 's1').flatMap((p) => ['--peer', p])]),
          };
          for (const s of SERVERS) {
            for (const peer of c.peers(lab, otherServer(s))) {
              const route = await routeGet(lab, s, peer);
              assert.equal(/ via /.test(route.route), c.routed, `${s} reaches its peer ${peer} ${c.routed ? 'through r' : 'on the direct link'}: ${route.route}`);
            }
          }
          const counting = await countDelivery(lab, 'broadcast');
          const results = await downloadsOnBothServers(lab, servers, BATCH);
          const delivery = await counting.read();
          const carrierOf = carriers(servers);
          const mtus: string[] = [];
          for (const s of SERVERS) {
            for (const f of IP_FAMILIES) {
              if (results.some((r) => r.family === f && carrierOf(f, r.localPort) === s)) mtus.push(`${s} IPv${f} ${await learnedMtuToClient(lab, s, f)}`);
            }
          }
          const exits = { s1: await relays.s1.stop(), s2: await relays.s2.stop() };
          for (const f of IP_FAMILIES) t.diagnostic(`${c.lab} IPv${f}: connections ${spread(results, carrierOf, f)}; ${deliveryWords(delivery, f)}`);
          for (const s of SERVERS) t.diagnostic(`${c.lab} ${s} summary: ${JSON.stringify(exits[s].summary)}`);
          t.diagnostic(`${c.lab} learned path MTU toward c (carriers): ${mtus.join(', ')}`);

          assert.deepEqual(notCompleted(results), [], 'every download completed');
          for (const s of SERVERS) {
            assert.equal(exits[s].code, 0, relays[s].process.stderr);
            assert.ok(exits[s].summary !== undefined, `${s} printed its summary`);
          }
          for (const f of IP_FAMILIES) {
            const first = ptbServer(delivery, f);
            assert.ok(first !== undefined, `IPv${f}: rc's Packet Too Big reached one server (r hashes them without ports): ${deliveryWords(delivery, f)}`);
            const other = otherServer(first);
            const sent = relays[first].relayed().filter((e) => e.family === f);
            assert.ok(sent.length > 0, `IPv${f}: ${first} relayed messages for flows it does not carry`);
            for (const e of sent) {
              assert.equal(e.method, 'broadcast');
              assert.deepEqual([...e.peers].sort(), c.peers(lab, other).sort());
              assert.equal(carrierOf(f, e.flow.peerPort ?? 0), other, `IPv${f}: ${first} relayed only flows of ${other}`);
            }
            const got = relays[other].received().filter((e) => e.family === f);
            assert.ok(got.length > 0, `IPv${f}: ${other} received envelopes and handed them to its kernel`);
            for (const e of got) assert.ok(c.peers(lab, first).includes(e.from), `from ${first}'s relay address, not ${e.from}`);
          }
          for (const s of SERVERS) {
            const o = otherServer(s);
            const envelopesSent = exits[o].summary!.copies - exits[o].summary!.injected;
            assert.equal(exits[s].summary!.envelopes, envelopesSent, `${s} received every envelope ${o} sent`);
            assert.equal(exits[s].summary!.injected, relays[s].received().length);
          }
          assert.ok(SERVERS.some((s) => exits[s].summary!.injected > 0), 'envelopes were injected');
          if (!c.routed) {
            // Each message went to both addresses of the one peer; the peer handed it to its kernel once.
            for (const s of SERVERS) assert.equal(exits[s].summary!.ignored.duplicate ?? 0, exits[s].summary!.injected, `${s}: the second envelope of each message was a duplicate`);
          }
          for (const m of mtus) assert.match(m, new RegExp(` ${CLIENT_SIDE_MTU}$`), `the carrier learned the path MTU: ${m}`);
        } finally {
          await stopServers(servers);
        }
      });
    });
  }
});
