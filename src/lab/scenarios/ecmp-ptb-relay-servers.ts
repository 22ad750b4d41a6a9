/**
 * The farm of ecmp-ptb-wrong-server with `mtuscope relay` in broadcast mode on both servers, each the other's routed
 * peer: a server that receives a Packet Too Big for a flow it does not carry sends it to the other in UDP envelopes,
 * and the other hands it to its kernel.
 */
import { IP_FAMILIES } from '../../packet/ip-family.js';
import type { RunningLab } from '../running-lab.js';
import { curlTransfer, type TransferResult } from '../traffic/curl.js';
import { startHttpServer } from '../traffic/http-server.js';
import { startLabRelay, type LabRelay } from '../traffic/relay.js';
import { routeDevice, routeGet } from '../traffic/route-cache.js';
import { countPackets } from '../traffic/rule-counters.js';
import { PACKET_TOO_BIG_MATCH } from '../../host/iptables-matches.js';
import {
  ANYCAST,
  CLIENT_SIDE_MTU,
  countServerPacketTooBig,
  downloadWords,
  ecmpPtbFarmSpec,
  farmDownloads,
  type FarmServer,
  ICMP_NAME,
  recordDownloads,
  recordRelay,
  recordRoutesBack,
  relaySummaryWords,
  SERVERS,
  wantDownloadsHealed,
  carriedOn,
  farmFlows,
  rcCapturePoint,
} from './ecmp-ptb-farm.js';
import type { Measurements, ObservationLog } from './report.js';
import type { CapturePoint, Scenario, TrafficGate, Want } from './scenario.js';
import { addressToward, count, interfaceToward, observe, positive } from './support.js';

/** Each server's peer. */
const OTHER: Readonly<Record<FarmServer, FarmServer>> = { s1: 's2', s2: 's1' };
/** Seeds tried for r's multipath hash until the two families' ICMP errors take different paths (each try: p = 1/2). */
const MAX_SEEDS = 32;

export const ecmpPtbRelayServers: Scenario = {
  name: 'ecmp-ptb-relay-servers',
  title: 'the farm of ecmp-ptb-wrong-server with `mtuscope relay` on both servers, each sending the other the Packet Too Big it cannot use',
  explanation:
    'The anycast farm of ecmp-ptb-wrong-server (client c behind router rc, whose link toward c is 1400 bytes; the ' +
    'L4-hashing ECMP router r; servers s1 and s2 sharing the service address), with `mtuscope relay` in broadcast mode ' +
    'on each server and nothing on r. A server that receives a "fragmentation needed"/Packet Too Big for a connection it ' +
    'does not have (conntrack: INVALID) keeps it (its kernel ignores it) and sends it in UDP envelopes to the other ' +
    "server's relay, given as --peer by both of that server's addresses on its link to r (so routed through r, and each " +
    'message travels twice); that relay hands the first envelope to its own kernel and ignores the second as a ' +
    "duplicate. r's hash seed is pinned so that IPv4's errors go to one server and IPv6's to the other: each relay " +
    'then both sends and receives. Every download completes, and counters on each server show every message handed to ' +
    'its kernel exactly once.',
  expected:
    "both families: every download completes, and each server that carried one has mtu 1400 toward the client; rc's ICMP errors reach " +
    "the servers from r once each; each server's relay receives the other's messages, two envelopes each, and hands each to its kernel " +
    'once (the second ignored as a duplicate; counted on arrival through lo); no relay queues a message it handed on itself',
  spec: ecmpPtbFarmSpec('ecmp-ptb-relay-servers'),
  run,
  findings,
  check,
  capturePoints: [
    ...SERVERS.map(
    (s): CapturePoint => ({
      node: s,
      interfaces: ['eth1', 'lo'],
      sees:
        `an anycast server with a relay: rc's ICMP errors of one family arrive from r on eth1, those about ${OTHER[s]}'s downloads are sent on ` +
        `to ${OTHER[s]}'s relay; the ones ${OTHER[s]}'s relay sends here are handed to the kernel through lo`,
      expect: [
        // Tolerated, not expected: a copy handed on by the other relay can arrive after the server already learned the
        // path MTU from another message to the same client (the route cache is per destination), so a given server's
        // capture need not show one honoured; rc's capture shows every download shrink.
        {
          kinds: ['ptb-honoured'],
          place: farmFlows(),
          need: 'tolerated',
          what: `rc's Packet Too Big about ${s}'s downloads (from r or handed on by ${OTHER[s]}'s relay), honoured`,
          when: carriedOn(s),
        },
        {
          kinds: ['ptb-orphan'],
          place: farmFlows(undefined, ['eth1']),
          need: 'tolerated',
          what: `rc's Packet Too Big about ${OTHER[s]}'s downloads as it first arrives here, before the relay sends it on`,
        },
        {
          kinds: ['ptb-suspicious'],
          place: farmFlows(undefined, ['lo']),
          need: 'tolerated',
          what: `a copy handed on by ${OTHER[s]}'s relay that arrives after the data it quotes was acknowledged: the kernel rightly ignores it (RFC 5927)`,
        },
      ],
    }),
  ),
    rcCapturePoint(true),
  ],
};

/**
 * Pins r's multipath hash seed to the first one under which the ICMP errors rc sends to the service address of one
 * family take another path than those of the other (what `ip route get` on r says for them), and records the seed and
 * the paths. Records nothing when the kernel has no such setting (before Linux 6.11) or no seed tried does it. (The
 * lookup tells where rc's errors really go because rc puts no flow label on them: see ecmpPtbFarmSpec.)
 */
async function pinSeedApart(lab: RunningLab, log: ObservationLog): Promise<void> {
  const rIn = interfaceToward(lab, 'r', 'rc');
  const serverOn = (device: string | undefined): FarmServer | undefined => SERVERS.find((s) => interfaceToward(lab, 'r', s) === device);
  for (let seed = 1; seed <= MAX_SEEDS; seed++) {
    if ((await lab.exec('r', ['sysctl', '-qw', `net.ipv4.fib_multipath_hash_seed=${seed}`])).code !== 0) return;
    const routes = await Promise.all(
      IP_FAMILIES.map((family) =>
        routeGet(lab, 'r', ANYCAST[family], ['from', lab.address('rc', family, interfaceToward(lab, 'rc', 'r')), 'iif', rIn, 'ipproto', family === 4 ? 'icmp' : 'ipv6-icmp']),
      ),
    );
    const paths = routes.map((route) => (route.resolved ? serverOn(routeDevice(route)) : undefined));
    if (paths[0] !== undefined && paths[1] !== undefined && paths[0] !== paths[1]) {
      log.routeCache.push(...routes);
      log.facts['hashSeed'] = seed;
      for (const [i, family] of IP_FAMILIES.entries()) for (const s of SERVERS) log.facts[`icmpRoutedTo${family}_${s}`] = paths[i] === s;
      return;
    }
  }
}

async function run(lab: RunningLab, gate?: TrafficGate): Promise<Measurements> {
  return observe(
    SERVERS.map((s) => startHttpServer(lab, s)),
    async (log, servers) => {
      await pinSeedApart(lab, log);
      const sent = await countPackets(lab, 'rc', 'OUTPUT', 'packet-too-big', PACKET_TOO_BIG_MATCH);
      const fromR = await Promise.all(SERVERS.map((s) => countServerPacketTooBig(lab, s, 'r')));
      const handedOn = await Promise.all(SERVERS.map((s) => countServerPacketTooBig(lab, s, 'lo')));
      const relays: LabRelay[] = [];
      let results: TransferResult[];
      try {
        for (const s of SERVERS) {
          const peers = IP_FAMILIES.flatMap((family) => ['--peer', addressToward(lab, 'r', OTHER[s], family)]);
          relays.push(await startLabRelay(lab, s, ['--mode', 'broadcast', '--served', ANYCAST[4], '--served', ANYCAST[6], ...peers]));
        }
        results = await Promise.all(farmDownloads().map((r) => curlTransfer(lab, r)));
      } finally {
        const stopped = await Promise.all(relays.map((r) => r.stop()));
        for (const [i, r] of relays.entries()) recordRelay(log, r.node, stopped[i]!);
      }
      log.transfers.push(...results);
      const [fromRc, arrived, injected] = await Promise.all([sent.read(), Promise.all(fromR.map((c) => c.read())), Promise.all(handedOn.map((c) => c.read()))]);
      for (const family of IP_FAMILIES) {
        recordDownloads(log, servers, results, family);
        log.facts[`packetTooBigSent${family}`] = fromRc[family];
        for (const [i, s] of SERVERS.entries()) {
          log.facts[`packetTooBig${family}_${s}`] = arrived[i]![family];
          log.facts[`packetTooBigHandedOn${family}_${s}`] = injected[i]![family];
        }
        await recordRoutesBack(lab, log, family);
      }
    },
    gate,
  );
}

/** A per-family fact summed over both families, when both were measured. */
function bothFamilies(m: Measurements, name: (family: 4 | 6) => string): number | undefined {
  const [v4, v6] = IP_FAMILIES.map((f) => count(m, name(f)));
  return v4 === undefined || v6 === undefined ? undefined : v4 + v6;
}

/** Whether the family's errors from rc were counted leaving rc and reached the servers from r once each. */
function onceEachFromR(m: Measurements, family: 4 | 6): boolean {
  const sent = count(m, `packetTooBigSent${family}`);
  const arrived = SERVERS.map((s) => count(m, `packetTooBig${family}_${s}`));
  return positive(sent) && arrived.every((n) => n !== undefined) && arrived.reduce((a, n) => a + n, 0) === sent;
}

/**
 * What the envelopes of server `s` and the messages its relay handed to its kernel add up to, from its relay's summary
 * and event lines, the other relay's summary and the kernel's counter on lo. Each `undefined` where a number is missing.
 */
function handOn(m: Measurements, s: FarmServer): Record<'envelopes' | 'injected' | 'duplicates' | 'ignored' | 'sentByPeer' | 'arrivedOnLo' | 'queued' | 'fromR', number | undefined> {
  return {
    envelopes: count(m, `relayEnvelopes_${s}`),
    injected: count(m, `relayInjected_${s}`),
    duplicates: count(m, `relayEnvelopeDuplicates_${s}`),
    ignored: count(m, `relayEnvelopesIgnored_${s}`),
    sentByPeer: count(m, `relayedBroadcast_${OTHER[s]}`),
    arrivedOnLo: bothFamilies(m, (f) => `packetTooBigHandedOn${f}_${s}`),
    queued: count(m, `relayQueued_${s}`),
    fromR: bothFamilies(m, (f) => `packetTooBig${f}_${s}`),
  };
}

function findings(m: Measurements): string[] {
  const seed = count(m, 'hashSeed');
  const pinned =
    seed === undefined
      ? "r's hash seed was not pinned (no seed found, or no such setting): cannot tell beforehand where each family's ICMP errors go"
      : `r's hash seed pinned to ${seed}: r's route lookup sends rc's IPv4 errors to ${SERVERS.find((s) => m.facts[`icmpRoutedTo4_${s}`] === true) ?? '?'}, ` +
        `IPv6 errors to ${SERVERS.find((s) => m.facts[`icmpRoutedTo6_${s}`] === true) ?? '?'}`;
  const perFamily = IP_FAMILIES.map((family) => {
    const sent = count(m, `packetTooBigSent${family}`);
    const arrived = SERVERS.map((s) => count(m, `packetTooBig${family}_${s}`));
    const handed = SERVERS.map((s) => count(m, `packetTooBigHandedOn${family}_${s}`));
    const icmp = sent === undefined ? `cannot tell how many ${ICMP_NAME[family]} rc sent (OUTPUT counter not read)` : `rc sent ${sent} ${ICMP_NAME[family]} (OUTPUT counter)`;
    const where = arrived.every((n) => n !== undefined)
      ? `from r, ${SERVERS.map((s, i) => `${s} got ${arrived[i]}`).join(', ')}${onceEachFromR(m, family) ? ' (one copy of each)' : ''}`
      : 'cannot tell where they arrived from r (INPUT counters not read)';
    const relayed = handed.every((n) => n !== undefined)
      ? `handed on by a relay, through lo: ${SERVERS.map((s, i) => `${s} ${handed[i]}`).join(', ')}`
      : 'cannot tell what the relays handed to their kernels (INPUT counters on lo not read)';
    return `IPv${family}: ${downloadWords(m, family)}; ${icmp}; ${where}; ${relayed}`;
  });
  const relays = SERVERS.map((s) => {
    const h = handOn(m, s);
    const envelopes =
      h.envelopes === undefined || h.sentByPeer === undefined || h.injected === undefined || h.duplicates === undefined
        ? ''
        : `; ${OTHER[s]}'s relay sent ${h.sentByPeer} messages, which arrived as ${h.envelopes} envelopes: ${h.injected} handed to the kernel, ${h.duplicates} ignored as duplicates`;
    return `${relaySummaryWords(m, s)}${envelopes}`;
  });
  return [pinned, ...perFamily, ...relays];
}

function check(o: Measurements, want: Want): void {
  for (const family of IP_FAMILIES) {
    wantDownloadsHealed(o, want, family);
    want(positive(count(o, `packetTooBigSent${family}`)), `IPv${family}: rc sent ${ICMP_NAME[family]} (its link toward c is ${CLIENT_SIDE_MTU} bytes)`);
    want(onceEachFromR(o, family), `IPv${family}: each of rc's ${ICMP_NAME[family]} reached the servers from r once (arrivals at ${SERVERS.join(' and ')} add up to what rc sent)`);
  }
  for (const s of SERVERS) {
    const h = handOn(o, s);
    const peer = OTHER[s];
    want(positive(h.envelopes) && positive(h.injected), `${s}: its relay received envelopes from ${peer}'s and handed messages to its kernel`);
    // Each message the peer relayed goes to both of this server's addresses: two envelopes, one injected.
    want(h.sentByPeer !== undefined && h.envelopes === 2 * h.sentByPeer, `${s}: every message ${peer}'s relay sent arrived in two envelopes (one per address)`);
    want(h.sentByPeer !== undefined && h.injected === h.sentByPeer, `${s}: its relay handed each message ${peer}'s relay sent to its kernel once`);
    want(
      h.envelopes !== undefined && h.injected !== undefined && h.duplicates === h.envelopes - h.injected && h.ignored === h.duplicates,
      `${s}: its relay ignored every other envelope as a duplicate, and none for another reason`,
    );
    want(h.injected !== undefined && h.arrivedOnLo === h.injected, `${s}: its kernel received through lo exactly what its relay handed on (INPUT counter)`);
    want(h.queued !== undefined && h.fromR !== undefined && h.queued <= h.fromR, `${s}: its relay queued only messages that came from r, never one it handed on itself`);
  }
}
