/**
 * Packet Too Big hashed to the wrong anycast server: the ICMP error travels from a router near the client to the
 * service address, and an L4-hashing ECMP router has no ports to hash it on (they are only inside the quoted packet).
 */
import { IP_FAMILIES, type IpFamily } from '../../packet/ip-family.js';
import type { RunningLab } from '../running-lab.js';
import { curlTransfer } from '../traffic/curl.js';
import { startHttpServer } from '../traffic/http-server.js';
import { learnedMtu, routeDevice, routeGet } from '../traffic/route-cache.js';
import {
  ANYCAST, byServer, carriedOn, CONNECTIONS, countServerPacketTooBig, ecmpPtbFarmSpec, farmDownloads, farmFlows, type FarmServer, ICMP_NAME, rcCapturePoint,
  recordDownloads, SERVERS,
} from './ecmp-ptb-farm.js';
import type { Measurements } from './report.js';
import type { CapturePoint, Scenario, TrafficGate, Want } from './scenario.js';
import { count, flag, interfaceToward, mtuWords, observe, positive } from './support.js';

export const ecmpPtbWrongServer: Scenario = {
  name: 'ecmp-ptb-wrong-server',
  title: 'server→client with DF: Packet Too Big hashed by the ECMP router to the wrong anycast server',
  explanation:
    'Two servers share the anycast service address behind router r, which spreads connections over them by hashing ' +
    'the L4 five-tuple. The client downloads 1 MB over 12 connections per family; its own link is 1500 bytes, but the ' +
    'router rc in front of it forwards onto a 1400-byte link, so the servers\' full-size segments draw ICMP ' +
    '"fragmentation needed"/Packet Too Big. rc sends those to the service address, and r must route them like any ' +
    'packet to it: the ICMP header has no ports (the flow\'s ports are only inside the quoted packet), so every error ' +
    'from rc hashes to one and the same server. Connections on that server adapt and complete; those on the other ' +
    'server never hear of the smaller MTU and stall. This is the third case of the fragmentation article - the reason ' +
    'operators of anycast and ECMP-balanced services run daemons that copy incoming Packet Too Big to every server.',
  expected:
    "both families: rc's ICMP errors reach exactly one of the two servers (counted on arrival); some downloads stall and some complete, " +
    'and every stalled one was on the other server, the one that got no ICMP errors',
  spec: ecmpPtbFarmSpec('ecmp-ptb-wrong-server'),
  run,
  findings,
  check,
  capturePoints: [...SERVERS.map(serverCapturePoint), rcCapturePoint(false)],
};

/**
 * A server of the farm: if rc's ICMP errors of a family hash to it, it receives those about the other server's flows
 * too (orphans: it never carried them) and its own flows adapt; if they hash to the other, its own downloads keep
 * sending full-size segments into the 1400-byte link and never hear why (a black hole seen from the sender).
 */
function serverCapturePoint(s: FarmServer): CapturePoint {
  const other = SERVERS.find((x) => x !== s)!;
  const gotIcmp = (m: Measurements, family: IpFamily): boolean => positive(count(m, `packetTooBig${family}_${s}`));
  return {
    node: s,
    sees: `one of the two anycast servers: rc's ICMP errors of a family reach either this one or ${other}, whichever the ECMP hash of their addresses picks`,
    expect: [
      {
        kinds: ['ptb-orphan'],
        place: farmFlows(),
        what: `rc's Packet Too Big about downloads ${other} carries, delivered to ${s}: they quote connections ${s} never had`,
        when: (m, family) => gotIcmp(m, family) && carriedOn(other)(m, family),
      },
      {
        kinds: ['ptb-honoured'],
        place: farmFlows(),
        what: `rc's Packet Too Big about ${s}'s own downloads, honoured`,
        when: (m, family) => gotIcmp(m, family) && carriedOn(s)(m, family),
      },
      {
        kinds: ['pmtu-blackhole', 'ptb-ignored'],
        place: farmFlows(),
        what: `${s}'s downloads: full-size segments retransmitted, never acknowledged, no Packet Too Big (it went to ${other})`,
        when: (m, family) => count(m, `packetTooBig${family}_${s}`) === 0 && positive(count(m, `stalled${family}_${s}`)),
      },
    ],
  };
}

async function run(lab: RunningLab, gate?: TrafficGate): Promise<Measurements> {
  return observe(
    SERVERS.map((s) => startHttpServer(lab, s)),
    async (log, servers) => {
      const arrivals = await Promise.all(SERVERS.map((s) => countServerPacketTooBig(lab, s, 'r')));
      const results = await Promise.all(farmDownloads().map((r) => curlTransfer(lab, r)));
      log.transfers.push(...results);
      const received = await Promise.all(arrivals.map((a) => a.read()));
      const rIn = interfaceToward(lab, 'r', 'rc');
      for (const family of IP_FAMILIES) {
        recordDownloads(log, servers, results, family);
        // Where r sends an ICMP error from rc to the service address (no ports: one path for all of them).
        const icmp = await routeGet(lab, 'r', ANYCAST[family], ['from', lab.address('rc', family, interfaceToward(lab, 'rc', 'r')), 'iif', rIn, 'ipproto', family === 4 ? 'icmp' : 'ipv6-icmp']);
        log.routeCache.push(icmp);
        for (const [i, s] of SERVERS.entries()) {
          log.facts[`packetTooBig${family}_${s}`] = received[i]![family];
          log.fact(`icmpRoutedTo${family}_${s}`, icmp.resolved ? routeDevice(icmp) === interfaceToward(lab, 'r', s) : undefined);
          const back = await routeGet(lab, s, lab.address('c', family));
          log.routeCache.push(back);
          log.fact(`serverMtu${family}_${s}`, learnedMtu(back));
        }
      }
    },
    gate,
  );
}

/** The servers whose count of arrived ICMP errors is known, split by whether it is zero. */
function serversByIcmp(m: Measurements, family: IpFamily): { got: string[]; none: string[] } {
  const got = SERVERS.filter((s) => positive(count(m, `packetTooBig${family}_${s}`)));
  const none = SERVERS.filter((s) => count(m, `packetTooBig${family}_${s}`) === 0);
  return { got, none };
}

/**
 * Whether every stalled download is known to have been on a server that received no ICMP error: each server's count of
 * stalls is known, they add up to all stalls, and every server that did receive one has none.
 */
function stallsAllWithoutIcmp(m: Measurements, family: IpFamily): boolean {
  const stalled = count(m, `stalled${family}`);
  const on = SERVERS.map((s) => count(m, `stalled${family}_${s}`));
  const { none } = serversByIcmp(m, family);
  if (stalled === undefined || !on.every((n) => n !== undefined)) return false;
  return on.reduce((a, n) => a + n, 0) === stalled && SERVERS.every((s, i) => none.includes(s) || on[i] === 0);
}

function findings(m: Measurements): string[] {
  return IP_FAMILIES.map((family) => {
    const total = m.transfers.filter((t) => t.family === family).length;
    const [stalled, completed, failed] = [count(m, `stalled${family}`), count(m, `completed${family}`), count(m, `failed${family}`)];
    const downloads =
      stalled === undefined || completed === undefined
        ? 'cannot tell how the downloads ended'
        : `${stalled} of ${total} downloads stalled (${byServer(m, `stalled${family}`)}), ${completed} completed (${byServer(m, `completed${family}`)})` +
          (positive(failed) ? `, ${failed} failed otherwise` : '');
    const counts = SERVERS.map((s) => count(m, `packetTooBig${family}_${s}`));
    const arrived = counts.every((n) => n !== undefined)
      ? `rc's ${ICMP_NAME[family]} arrived at ${SERVERS.map((s, i) => `${s} ${counts[i]}`).join(', ')} (INPUT counters on their links from r)`
      : `cannot tell where rc's ${ICMP_NAME[family]} arrived (INPUT counters not read)`;
    const routed = SERVERS.find((s) => flag(m, `icmpRoutedTo${family}_${s}`) === true);
    const mtus = SERVERS.map((s) => `${s} ${mtuWords(count(m, `serverMtu${family}_${s}`))}`).join(', ');
    const { got, none } = serversByIcmp(m, family);
    const verdict =
      got.length === 1 && positive(stalled) && stallsAllWithoutIcmp(m, family)
        ? `; every stalled download was on ${none.join(', ')}, which never received one`
        : '';
    return (
      `IPv${family}: ${downloads}; ${arrived}` +
      `${routed === undefined ? '' : `, where r's route lookup for them leads to ${routed}`}; routes back to c: ${mtus}${verdict}`
    );
  });
}

function check(o: Measurements, want: Want): void {
  for (const family of IP_FAMILIES) {
    const stalled = count(o, `stalled${family}`);
    const { got, none } = serversByIcmp(o, family);
    const ran = o.transfers.filter((t) => t.family === family).length;
    const tally = [stalled, count(o, `completed${family}`), count(o, `failed${family}`)];
    want(ran === CONNECTIONS && tally.every((n) => n !== undefined) && tally.reduce((a, n) => a + n, 0) === ran, `IPv${family}: all ${CONNECTIONS} downloads ran`);
    want(positive(stalled), `IPv${family}: some downloads stalled`);
    want(positive(count(o, `completed${family}`)), `IPv${family}: some downloads completed`);
    want(count(o, `failed${family}`) === 0, `IPv${family}: no download failed otherwise`);
    want(got.length === 1 && none.length === SERVERS.length - 1, `IPv${family}: rc's ${ICMP_NAME[family]} reached exactly one of the servers`);
    want(stallsAllWithoutIcmp(o, family), `IPv${family}: every stalled download was on a server that received no ${ICMP_NAME[family]}`);
  }
}
