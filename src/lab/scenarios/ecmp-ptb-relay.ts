/**
 * The farm of ecmp-ptb-wrong-server with `mtuscope relay` in owner mode on the ECMP router: each Packet Too Big goes to
 * the server that carries the flow it quotes, so every download completes and nothing is copied.
 */
import { IP_FAMILIES, type IpFamily } from '../../packet/ip-family.js';
import { PACKET_TOO_BIG_MATCH } from '../../host/iptables-matches.js';
import type { RunningLab } from '../running-lab.js';
import { curlTransfer, type TransferResult } from '../traffic/curl.js';
import { startHttpServer } from '../traffic/http-server.js';
import { startLabRelay } from '../traffic/relay.js';
import { countPackets } from '../traffic/rule-counters.js';
import {
  ANYCAST,
  CLIENT_SIDE_MTU,
  countServerPacketTooBig,
  downloadWords,
  ecmpPtbFarmSpec,
  farmDownloads,
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
import type { Measurements } from './report.js';
import type { CapturePoint, Scenario, TrafficGate, Want } from './scenario.js';
import { count, observe, positive } from './support.js';

const RELAY_NODE = 'r';

export const ecmpPtbRelay: Scenario = {
  name: 'ecmp-ptb-relay',
  title: 'the farm of ecmp-ptb-wrong-server with `mtuscope relay` on the ECMP router: each Packet Too Big reaches the server of its flow',
  explanation:
    'The anycast farm of ecmp-ptb-wrong-server (client c behind router rc, whose link toward c is 1400 bytes; the ' +
    'L4-hashing ECMP router r; servers s1 and s2 sharing the service address), with `mtuscope relay` in owner mode ' +
    'running on r. The relay marks each connection with the interface its packets to the servers leave by, finds that ' +
    'mark again on the "fragmentation needed"/Packet Too Big that rc sends about the connection (conntrack knows it as ' +
    'related), and steers the message to that interface instead of where the hash of its ICMP header would send it. ' +
    'So the client downloads 1 MB over 12 connections per family and every one completes: each server that carries a ' +
    'download learns the 1400-byte MTU toward the client, each message reaches exactly one server (no copies), and the ' +
    "relay's summary, printed when the lab stops it, shows every message delivered to its owner and none to all servers.",
  expected:
    'both families: every download completes, and each server that carried one has mtu 1400 toward the client; rc\'s ICMP errors ' +
    "reach the servers once each (counted leaving rc and arriving at s1 and s2); the relay on r relayed that many to their owner, none by fallback",
  spec: ecmpPtbFarmSpec('ecmp-ptb-relay'),
  run,
  findings,
  check,
  capturePoints: [
    ...SERVERS.map(
      (s): CapturePoint => ({
        node: s,
        sees: `an anycast server behind the relay on r: rc's ICMP errors about ${s}'s downloads, and only those, reach it`,
        expect: [
          { kinds: ['ptb-honoured'], place: farmFlows(), what: `rc's Packet Too Big about ${s}'s downloads, honoured`, when: carriedOn(s) },
          // Where the relay cannot tell the owner (no conntrack entry), it sends a copy to every server: the others see an orphan.
          { kinds: ['ptb-orphan'], place: farmFlows(), need: 'tolerated', what: 'a copy the relay sent to every server (owner unknown)' },
          // A message the relay hands on after the server already re-sent the data smaller (it learned the path MTU from
          // another message to the same client) quotes data already acknowledged: the kernel rightly ignores it (RFC 5927).
          { kinds: ['ptb-suspicious'], place: farmFlows(), need: 'tolerated', what: 'a relayed message that arrives after the data it quotes was acknowledged' },
        ],
      }),
    ),
    rcCapturePoint(true),
  ],
};

async function run(lab: RunningLab, gate?: TrafficGate): Promise<Measurements> {
  return observe(
    SERVERS.map((s) => startHttpServer(lab, s)),
    async (log, servers) => {
      const sent = await countPackets(lab, 'rc', 'OUTPUT', 'packet-too-big', PACKET_TOO_BIG_MATCH);
      const arrivals = await Promise.all(SERVERS.map((s) => countServerPacketTooBig(lab, s, 'r')));
      const relay = await startLabRelay(lab, RELAY_NODE, ['--mode', 'owner', '--served', ANYCAST[4], '--served', ANYCAST[6]]);
      let results: TransferResult[];
      try {
        results = await Promise.all(farmDownloads().map((r) => curlTransfer(lab, r)));
      } finally {
        recordRelay(log, RELAY_NODE, await relay.stop());
      }
      log.transfers.push(...results);
      const [fromRc, received] = await Promise.all([sent.read(), Promise.all(arrivals.map((a) => a.read()))]);
      for (const family of IP_FAMILIES) {
        recordDownloads(log, servers, results, family);
        log.facts[`packetTooBigSent${family}`] = fromRc[family];
        for (const [i, s] of SERVERS.entries()) log.facts[`packetTooBig${family}_${s}`] = received[i]![family];
        await recordRoutesBack(lab, log, family);
      }
    },
    gate,
  );
}

/** What rc sent of the family's ICMP errors, if counted, and whether the arrivals at the servers add up to it. */
function onceEach(m: Measurements, family: IpFamily): boolean {
  const sent = count(m, `packetTooBigSent${family}`);
  const arrived = SERVERS.map((s) => count(m, `packetTooBig${family}_${s}`));
  return positive(sent) && arrived.every((n) => n !== undefined) && arrived.reduce((a, n) => a + n, 0) === sent;
}

/** rc's ICMP errors of both families, when both were counted. */
function sentInAll(m: Measurements): number | undefined {
  const [v4, v6] = IP_FAMILIES.map((f) => count(m, `packetTooBigSent${f}`));
  return v4 === undefined || v6 === undefined ? undefined : v4 + v6;
}

function findings(m: Measurements): string[] {
  const perFamily = IP_FAMILIES.map((family) => {
    const sent = count(m, `packetTooBigSent${family}`);
    const arrived = SERVERS.map((s) => count(m, `packetTooBig${family}_${s}`));
    const icmp =
      sent === undefined
        ? `cannot tell how many ${ICMP_NAME[family]} rc sent (OUTPUT counter not read)`
        : `rc sent ${sent} ${ICMP_NAME[family]} (OUTPUT counter)`;
    const where = arrived.every((n) => n !== undefined)
      ? `${SERVERS.map((s, i) => `${s} got ${arrived[i]}`).join(', ')} (INPUT counters on their links from r)${onceEach(m, family) ? ': one copy of each' : ''}`
      : 'cannot tell where they arrived (INPUT counters not read)';
    return `IPv${family}: ${downloadWords(m, family)}; ${icmp}, ${where}`;
  });
  const total = sentInAll(m);
  const owner = count(m, `relayedOwner_${RELAY_NODE}`);
  const share = total === undefined || owner === undefined ? '' : `: ${owner} of the ${total} ICMP errors rc sent went to the server of their flow`;
  return [...perFamily, `${relaySummaryWords(m, RELAY_NODE)}${share}`];
}

function check(o: Measurements, want: Want): void {
  for (const family of IP_FAMILIES) {
    wantDownloadsHealed(o, want, family);
    want(positive(count(o, `packetTooBigSent${family}`)), `IPv${family}: rc sent ${ICMP_NAME[family]} (its link toward c is ${CLIENT_SIDE_MTU} bytes)`);
    want(onceEach(o, family), `IPv${family}: each of rc's ${ICMP_NAME[family]} reached the servers once (arrivals at ${SERVERS.join(' and ')} add up to what rc sent)`);
  }
  const total = sentInAll(o);
  want(total !== undefined && count(o, `relayedOwner_${RELAY_NODE}`) === total, `the relay on ${RELAY_NODE} relayed every ICMP error rc sent to the server of its flow (relayed owner = rc's count, both families)`);
  want(count(o, `relayedFallback_${RELAY_NODE}`) === 0, `the relay on ${RELAY_NODE} sent nothing to every server (fallback 0)`);
}
