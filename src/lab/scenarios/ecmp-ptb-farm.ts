/**
 * The anycast farm of the ECMP Packet Too Big scenarios, written once: client c behind router rc, whose link toward c
 * is 1400 bytes, then the L4-hashing ECMP router r and two servers s1 and s2 sharing the service address. The
 * scenarios differ only in what runs on it: nothing (ecmp-ptb-wrong-server), `mtuscope relay` on r
 * (ecmp-ptb-relay), or on each server (ecmp-ptb-relay-servers).
 */
import { familyOfAddress, IP_FAMILIES, type FamilyMap, type IpFamily } from '../../packet/ip-family.js';
import { PACKET_TOO_BIG_MATCH } from '../../host/iptables-matches.js';
import type { RunningLab } from '../running-lab.js';
import type { LabSpec } from '../spec.js';
import type { TransferRequest, TransferResult } from '../traffic/curl.js';
import { DEFAULT_HTTP_PORT, type HttpServer } from '../traffic/http-server.js';
import type { RelayEventTally, RelaySummary } from '../traffic/relay.js';
import { learnedMtu, routeGet } from '../traffic/route-cache.js';
import { countPackets, type PacketCounter } from '../traffic/rule-counters.js';
import type { Measurements, ObservationLog } from './report.js';
import type { CaptureExpectation, CapturePoint, FindingPlace, Want } from './scenario.js';
import { count, DOWNLOAD_BYTES, interfaceToward, mtuWords, positive, STALL_TIMEOUT_S } from './support.js';

export const ANYCAST: FamilyMap<string> = { 4: '10.99.0.1', 6: 'fd00:99::1' };
export const SERVERS = ['s1', 's2'] as const;
export type FarmServer = (typeof SERVERS)[number];
/** Connections per family: with two servers, the chance that all land on one is 2^-(n-1). */
export const CONNECTIONS = 12;
export const CLIENT_SIDE_MTU = 1400;
/**
 * Longer than the other scenarios' bound: connections on the server that does get a Packet Too Big may still wait
 * for a retransmission timeout or two (rc rate-limits its ICMP errors per destination, and all of them go to the one
 * service address), and on a loaded machine that can pass STALL_TIMEOUT_S without the path being broken.
 */
export const DOWNLOAD_TIMEOUT_S = 2 * STALL_TIMEOUT_S;

export const ICMP_NAME: FamilyMap<string> = { 4: '"fragmentation needed"', 6: 'Packet Too Big' };

/** The farm's topology, under the name of the scenario that builds it. */
export function ecmpPtbFarmSpec(name: string): LabSpec {
  return {
    name,
    nodes: [
      { name: 'c', kind: 'host' },
      // rc labels its ICMPv6 errors with no flow label of its own: computing one gives the packet a hash, which the veth
      // carries over to r, and r's multipath hash then takes that hash instead of hashing the packet's addresses (as
      // it does with the hash of a TCP socket's packets), so `ip route get` on r could not tell where they go. A router
      // behind a real NIC gets the NIC's hash of the addresses instead, which is what the lookup computes.
      { name: 'rc', kind: 'router', sysctls: { 'net.ipv6.auto_flowlabels': '0' } },
      { name: 'r', kind: 'router', ecmp: true },
      { name: 's1', kind: 'host', loopbackAddresses: [`${ANYCAST[4]}/32`, `${ANYCAST[6]}/128`] },
      { name: 's2', kind: 'host', loopbackAddresses: [`${ANYCAST[4]}/32`, `${ANYCAST[6]}/128`] },
    ],
    links: [
      // Only rc's end is small: c still announces a 1460-byte MSS, as a host behind a PPPoE or tunnel router would.
      { endpoints: [{ node: 'c', ifname: 'eth1' }, { node: 'rc', ifname: 'eth1', mtu: CLIENT_SIDE_MTU }] },
      { endpoints: [{ node: 'rc', ifname: 'eth2' }, { node: 'r', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r', ifname: 'eth2' }, { node: 's1', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r', ifname: 'eth3' }, { node: 's2', ifname: 'eth1' }] },
    ],
  };
}

/** The client's downloads: CONNECTIONS of 1 MB per family from c to the service address, all at once. */
export function farmDownloads(): TransferRequest[] {
  return IP_FAMILIES.flatMap((family) =>
    Array.from({ length: CONNECTIONS }, (_, i) => ({
      label: `download 1 MB #${i + 1}`,
      node: 'c',
      address: ANYCAST[family],
      port: DEFAULT_HTTP_PORT,
      downloadBytes: DOWNLOAD_BYTES,
      maxTimeS: DOWNLOAD_TIMEOUT_S,
    })),
  );
}

/**
 * The server that accepted a download's connection: the one whose log shows the download's source port from an
 * address of its family (IPv4 clients appear as ::ffff:a.b.c.d; an IPv4 and an IPv6 connection may share a port).
 */
export function serverOf(servers: readonly HttpServer[], t: TransferResult): string | undefined {
  const ofFamily = (address: string): boolean => familyOfAddress(address.replace(/^::ffff:/, '')) === t.family;
  return servers.find((s) => s.connections().some((c) => c.remotePort === t.localPort && ofFamily(c.remoteAddress)))?.node;
}

/** "s1: 3, s2: 9" for the per-server fact `${fact}_s1`, `${fact}_s2` ("?" where it was not measured). */
export function byServer(m: Measurements, fact: string): string {
  return SERVERS.map((s) => `${s}: ${count(m, `${fact}_${s}`) ?? '?'}`).join(', ');
}

/** Records how a family's downloads ended, and how many of each outcome each server carried (`completed4_s1`, ...). */
export function recordDownloads(log: ObservationLog, servers: readonly HttpServer[], results: readonly TransferResult[], family: IpFamily): void {
  const mine = results.filter((t) => t.family === family);
  const stalled = mine.filter((t) => t.outcome === 'stalled');
  const completed = mine.filter((t) => t.outcome === 'completed');
  log.facts[`stalled${family}`] = stalled.length;
  log.facts[`completed${family}`] = completed.length;
  log.facts[`failed${family}`] = mine.length - stalled.length - completed.length;
  for (const s of SERVERS) {
    const on = (ts: readonly TransferResult[]): number => ts.filter((t) => serverOf(servers, t) === s).length;
    log.facts[`stalled${family}_${s}`] = on(stalled);
    log.facts[`completed${family}_${s}`] = on(completed);
    log.facts[`carried${family}_${s}`] = on(mine);
  }
}

/**
 * What the relay scenarios record of a relay, as facts named `<fact>_<node>`: the counters of its summary line, and of
 * its event lines the envelopes from peers it ignored (all, and as duplicates), which the summary does not tell apart
 * from messages of its own queue it ignored.
 */
export const RELAY_FACTS = {
  relayQueued: (r: RelaySummary) => r.queued,
  relayedInKernel: (r: RelaySummary) => r.relayedInKernel,
  relayEnvelopes: (r: RelaySummary) => r.envelopes,
  relayedOwner: (r: RelaySummary) => r.relayed.owner,
  relayedBroadcast: (r: RelaySummary) => r.relayed.broadcast,
  relayedFallback: (r: RelaySummary) => r.relayed.fallback,
  relayCopies: (r: RelaySummary) => r.copies,
  relayInjected: (r: RelaySummary) => r.injected,
  relayIgnored: (r: RelaySummary) => sum(Object.values(r.ignored)),
  relayIgnoredDuplicate: (r: RelaySummary) => r.ignored['duplicate'] ?? 0,
  relayEnvelopesIgnored: (_: RelaySummary, e: RelayEventTally) => sum(Object.values(e.ignoredEnvelopes)),
  relayEnvelopeDuplicates: (_: RelaySummary, e: RelayEventTally) => e.ignoredEnvelopes['duplicate'] ?? 0,
} as const satisfies Record<string, (r: RelaySummary, e: RelayEventTally) => number>;

function sum(ns: readonly number[]): number {
  return ns.reduce((a, n) => a + n, 0);
}

/** Records what a stopped relay said (nothing when it printed no summary: every fact of it stays unmeasured). */
export function recordRelay(log: ObservationLog, node: string, stopped: { summary: RelaySummary | undefined; events: RelayEventTally }): void {
  const { summary, events } = stopped;
  if (summary === undefined) return;
  for (const [name, read] of Object.entries(RELAY_FACTS)) log.facts[`${name}_${node}`] = read(summary, events);
}

/** A relay's summary in words, from the recorded facts ("cannot tell" when it printed none). */
export function relaySummaryWords(m: Measurements, node: string): string {
  const [queued, inKernel, envelopes, owner, broadcast, fallback, injected, ignored, duplicate] = (
    ['relayQueued', 'relayedInKernel', 'relayEnvelopes', 'relayedOwner', 'relayedBroadcast', 'relayedFallback', 'relayInjected', 'relayIgnored', 'relayIgnoredDuplicate'] as const
  ).map((n) => count(m, `${n}_${node}`));
  if (queued === undefined || envelopes === undefined) return `cannot tell what the relay on ${node} did (no summary)`;
  return (
    `the relay on ${node} relayed ${inKernel ?? '?'} in the kernel, queued ${queued} and received ${envelopes} envelopes; relayed in all: owner ${owner ?? '?'}, broadcast ${broadcast ?? '?'}, ` +
    `fallback ${fallback ?? '?'}; handed ${injected ?? '?'} to its kernel; ignored ${ignored ?? '?'} (duplicates ${duplicate ?? '?'})`
  );
}

/**
 * Records what each server's route back to c from the service address carries (`serverMtu4_s1`: 0 none, absent when
 * the lookup failed).
 */
export async function recordRoutesBack(lab: RunningLab, log: ObservationLog, family: IpFamily): Promise<void> {
  for (const s of SERVERS) {
    const back = await routeGet(lab, s, lab.address('c', family), ['from', ANYCAST[family]]);
    log.routeCache.push(back);
    log.fact(`serverMtu${family}_${s}`, learnedMtu(back));
  }
}

/** Whether all the family's downloads ran, each with a known outcome. */
export function allDownloadsRan(m: Measurements, family: IpFamily): boolean {
  const ran = m.transfers.filter((t) => t.family === family).length;
  const tally = [count(m, `stalled${family}`), count(m, `completed${family}`), count(m, `failed${family}`)];
  return ran === CONNECTIONS && tally.every((n) => n !== undefined) && tally.reduce((a, n) => a + n, 0) === ran;
}

/**
 * Whether every server that carried one of the family's downloads learned the client side's MTU: each server's count
 * of downloads is known, they add up to all downloads, and each server that carried any has CLIENT_SIDE_MTU toward c.
 */
export function carriersLearnedMtu(m: Measurements, family: IpFamily): boolean {
  const carried = SERVERS.map((s) => count(m, `carried${family}_${s}`));
  if (!carried.every((n) => n !== undefined)) return false;
  const total = carried.reduce((a, n) => a + n, 0);
  return total === CONNECTIONS && SERVERS.every((s, i) => carried[i] === 0 || count(m, `serverMtu${family}_${s}`) === CLIENT_SIDE_MTU);
}

/** The checks both relay scenarios make of the downloads and the servers' routes back to c. */
export function wantDownloadsHealed(m: Measurements, want: Want, family: IpFamily): void {
  want(allDownloadsRan(m, family), `IPv${family}: all ${CONNECTIONS} downloads ran`);
  want(allDownloadsRan(m, family) && count(m, `completed${family}`) === CONNECTIONS, `IPv${family}: every download completed`);
  want(carriersLearnedMtu(m, family), `IPv${family}: every server that carried a download has mtu ${CLIENT_SIDE_MTU} toward c`);
}

/** How a family's downloads ended and what the servers' routes back to c carry, in words. */
export function downloadWords(m: Measurements, family: IpFamily): string {
  const total = m.transfers.filter((t) => t.family === family).length;
  const [stalled, completed, failed] = [count(m, `stalled${family}`), count(m, `completed${family}`), count(m, `failed${family}`)];
  const downloads =
    completed === undefined || stalled === undefined
      ? 'cannot tell how the downloads ended'
      : `${completed} of ${total} downloads completed (${byServer(m, `completed${family}`)})` +
        (positive(stalled) ? `, ${stalled} stalled (${byServer(m, `stalled${family}`)})` : '') +
        (positive(failed) ? `, ${failed} failed otherwise` : '');
  const mtus = SERVERS.map((s) => `${s} ${mtuWords(count(m, `serverMtu${family}_${s}`))}`).join(', ');
  return `${downloads}; routes back to c: ${mtus}`;
}

/**
 * Counts the ICMP errors from rc that a server receives through `via`: 'r', its link to r (what r forwarded to it), or
 * 'lo' (what the host sent itself: a relay handing on a peer's message). Errors must be told apart by where they come
 * in and who reported them: a server whose route toward c has learned a smaller MTU also sends itself
 * "fragmentation needed"/Packet Too Big, through lo, for every full-size segment it had already queued (ip_fragment
 * refusing DF).
 */
export async function countServerPacketTooBig(lab: RunningLab, server: string, via: 'r' | 'lo'): Promise<PacketCounter> {
  const ifname = via === 'lo' ? 'lo' : interfaceToward(lab, server, 'r');
  const match = (family: IpFamily): string[] => ['-i', ifname, '-s', lab.address('rc', family, interfaceToward(lab, 'rc', 'r')), ...PACKET_TOO_BIG_MATCH[family]];
  return countPackets(lab, server, 'INPUT', `packet-too-big-${via === 'lo' ? 'lo' : 'from-r'}`, { 4: match(4), 6: match(6) });
}

/** The farm's downloads as a place in a capture: c and the service address, TCP port DEFAULT_HTTP_PORT, one family. */
export function farmFlows(family?: IpFamily, interfaces?: readonly string[]): FindingPlace {
  return {
    between: [{ node: 'c' }, { address: ANYCAST }],
    protocol: 'tcp',
    port: DEFAULT_HTTP_PORT,
    ...(family === undefined ? {} : { families: [family] }),
    ...(interfaces === undefined ? {} : { interfaces }),
  };
}

/** Whether server `s` carried some of the family's downloads (as the servers' logs say). */
export function carriedOn(s: FarmServer): (m: Measurements, family: IpFamily) => boolean {
  return (m, family) => positive(count(m, `carried${family}_${s}`));
}

/**
 * rc's capture, where the servers' full-size segments meet the 1400-byte link toward c: rc answers them with
 * "fragmentation needed"/Packet Too Big on eth2, and the segments that follow show whether the server of each flow
 * heard of it.
 */
export function rcCapturePoint(healed: boolean): CapturePoint {
  const honoured: CaptureExpectation = {
    kinds: ['ptb-honoured'],
    place: farmFlows(undefined, ['eth2']),
    what: "downloads whose server got rc's Packet Too Big and re-sent smaller",
    when: (m, family) => positive(count(m, `completed${family}`)),
  };
  return {
    node: 'rc',
    sees: "the router in front of c's 1400-byte link: the servers' full-size segments arrive on eth2 and draw rc's ICMP errors, sent to the service address",
    expect: healed
      ? [honoured]
      : [
          honoured,
          {
            kinds: ['ptb-ignored', 'pmtu-blackhole'],
            place: farmFlows(undefined, ['eth2']),
            what: "downloads whose server never got rc's Packet Too Big (it went to the other server): the same full-size segments keep coming",
            when: (m, family) => positive(count(m, `stalled${family}`)),
          },
        ],
  };
}
