/**
 * Packet Too Big hashed to the wrong anycast server: the ICMP error travels from a router near the client to the
 * service address, and an L4-hashing ECMP router has no ports to hash it on (they are only inside the quoted packet).
 */
import { IP_FAMILIES, type FamilyMap } from '../../packet/ip-family.js';
import type { RunningLab } from '../running-lab.js';
import { curlTransfer } from '../traffic/curl.js';
import { startHttpServer, DEFAULT_HTTP_PORT, type HttpServer } from '../traffic/http-server.js';
import { routeDevice, routeGet } from '../traffic/route-cache.js';
import type { ScenarioObservations } from './report.js';
import type { Scenario, Want } from './scenario.js';
import { DOWNLOAD_BYTES, interfaceToward, observe, STALL_TIMEOUT_S } from './support.js';

const ANYCAST: FamilyMap<string> = { 4: '10.99.0.1', 6: 'fd00:99::1' };
const SERVERS = ['s1', 's2'] as const;
/** Connections per family: with two servers, the chance that all land on one is 2^-(n-1). */
const CONNECTIONS = 12;
const CLIENT_SIDE_MTU = 1400;
/**
 * Longer than the other scenarios' bound: connections on the server that does get a Packet Too Big may still wait
 * for a retransmission timeout or two (rc rate-limits its ICMP errors per destination, and all of them go to the one
 * service address), and on a loaded machine that can pass STALL_TIMEOUT_S without the path being broken.
 */
const DOWNLOAD_TIMEOUT_S = 2 * STALL_TIMEOUT_S;

function serverOfPort(servers: readonly HttpServer[], port: number): string | undefined {
  return servers.find((s) => s.connections().some((c) => c.remotePort === port))?.node;
}

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
  expected: 'both families: some downloads stall and some complete; every stalled one was on the server that does not get the ICMP errors',
  spec: {
    name: 'ecmp-ptb-wrong-server',
    nodes: [
      { name: 'c', kind: 'host' },
      { name: 'rc', kind: 'router' },
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
  },
  run,
  check,
};

async function run(lab: RunningLab): Promise<ScenarioObservations> {
  return observe(
    SERVERS.map((s) => startHttpServer(lab, s)),
    async (log, servers) => {
      const requests = IP_FAMILIES.flatMap((family) =>
        Array.from({ length: CONNECTIONS }, (_, i) => ({
          label: `download 1 MB #${i + 1}`,
          node: 'c',
          address: ANYCAST[family],
          port: DEFAULT_HTTP_PORT,
          downloadBytes: DOWNLOAD_BYTES,
          maxTimeS: DOWNLOAD_TIMEOUT_S,
        })),
      );
      const results = await Promise.all(requests.map((r) => curlTransfer(lab, r)));
      log.transfers.push(...results);
      const rIn = interfaceToward(lab, 'r', 'rc');
      for (const family of IP_FAMILIES) {
        const mine = results.filter((t) => t.family === family);
        const stalled = mine.filter((t) => t.outcome === 'stalled');
        const completed = mine.filter((t) => t.outcome === 'completed');
        log.facts[`stalled${family}`] = stalled.length;
        log.facts[`completed${family}`] = completed.length;
        log.facts[`failed${family}`] = mine.length - stalled.length - completed.length;
        const where = (ts: typeof mine): string =>
          SERVERS.map((s) => `${s}: ${ts.filter((t) => serverOfPort(servers, t.localPort) === s).length}`).join(', ');
        // Where r sends an ICMP error from rc to the service address (no ports: one path for all of them).
        const icmp = await routeGet(lab, 'r', ANYCAST[family], ['from', lab.address('rc', family, interfaceToward(lab, 'rc', 'r')), 'iif', rIn, 'ipproto', family === 4 ? 'icmp' : 'ipv6-icmp']);
        log.routeCache.push(icmp);
        const icmpDev = routeDevice(icmp);
        const icmpServer = SERVERS.find((s) => interfaceToward(lab, 'r', s) === icmpDev);
        log.findings.push(
          `IPv${family}: ${stalled.length} of ${mine.length} downloads stalled (by server ${where(stalled)}), ${completed.length} completed (${where(completed)}); ` +
            `r routes ICMP errors for ${ANYCAST[family]} to ${icmpServer ?? icmpDev ?? '?'}`,
        );
        log.facts[`stalledOnIcmpServer${family}`] = stalled.filter((t) => serverOfPort(servers, t.localPort) === icmpServer).length;
        for (const s of SERVERS) log.routeCache.push(await routeGet(lab, s, lab.address('c', family)));
      }
      log.findings.push(
        `rc's link to c is ${CLIENT_SIDE_MTU} bytes: each server's first full-size segment draws a Packet Too Big from rc, addressed to the anycast address; ` +
          'the server that gets it lowers its path MTU (its route cache shows 1400) and its downloads complete, the other keeps resending 1500-byte segments',
      );
    },
  );
}

function check(o: ScenarioObservations, want: Want): void {
  for (const family of IP_FAMILIES) {
    want(Number(o.facts[`stalled${family}`]) > 0, `IPv${family}: some downloads stalled`);
    want(Number(o.facts[`completed${family}`]) > 0, `IPv${family}: some downloads completed`);
    want(o.facts[`failed${family}`] === 0, `IPv${family}: no download failed otherwise`);
    want(o.facts[`stalledOnIcmpServer${family}`] === 0, `IPv${family}: no download stalled on the server that gets the ICMP errors`);
  }
}
