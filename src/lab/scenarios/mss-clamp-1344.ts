/**
 * An ISP router clamping the TCP MSS to 1344: TCP segments stay small enough for any path behind it, so connections
 * work even where path MTU discovery cannot (its ICMP is dropped too).
 */
import { IP_FAMILIES } from '../../packet/ip-family.js';
import type { RunningLab } from '../running-lab.js';
import { curlTransfer, type TransferRequest } from '../traffic/curl.js';
import { startHttpServer, DEFAULT_HTTP_PORT } from '../traffic/http-server.js';
import { ping } from '../traffic/ping.js';
import { routeGet } from '../traffic/route-cache.js';
import { countSynMss } from '../traffic/syn-mss-count.js';
import type { ScenarioObservations } from './report.js';
import type { Scenario, Want } from './scenario.js';
import { DOWNLOAD_BYTES, observe, STALL_TIMEOUT_S, UPLOAD_BYTES } from './support.js';

const CLAMP = 1344;

export const mssClamp1344: Scenario = {
  name: 'mss-clamp-1344',
  title: 'an ISP router clamping the TCP MSS to 1344',
  explanation:
    'Some ISPs rewrite the MSS option of every TCP SYN passing their routers to a fixed value (one in the ' +
    'fragmentation article clamps to 1344), so that no TCP segment is ever too large for the tunnels and PPPoE links ' +
    'in their network. Here router isp does that (iptables TCPMSS) and, to show that the clamp alone carries the ' +
    'connection, also drops ICMP "fragmentation needed"/Packet Too Big, and its link to the server is only 1400 bytes. ' +
    'The server\'s capture shows MSS 1344 in every SYN, DF pings of 1500 bytes go unanswered without any ICMP, and ' +
    'still 100 KB uploads and 1 MB downloads complete in both families. Clamping hides PMTU problems for TCP (but not ' +
    'for UDP, nor for paths behind the clamping router that are smaller still), which is also why a checker must not ' +
    'mistake a clamped connection for a working PMTU discovery.',
  expected: 'the server sees MSS 1344 in every SYN; all transfers complete; DF pings of 1500 bytes draw no ICMP',
  spec: {
    name: 'mss-clamp-1344',
    nodes: [
      { name: 'c', kind: 'host' },
      { name: 'isp', kind: 'router', clampMss: CLAMP, dropPacketTooBig: true },
      { name: 's', kind: 'host' },
    ],
    links: [
      { endpoints: [{ node: 'c', ifname: 'eth1' }, { node: 'isp', ifname: 'eth1' }] },
      { endpoints: [{ node: 'isp', ifname: 'eth2' }, { node: 's', ifname: 'eth1' }], mtu: 1400 },
    ],
  },
  run,
  check,
};

async function run(lab: RunningLab): Promise<ScenarioObservations> {
  return observe([startHttpServer(lab, 's')], async (log) => {
    const syns = await countSynMss(lab, 's', DEFAULT_HTTP_PORT, CLAMP);
    for (const family of IP_FAMILIES) {
      const p = await ping(lab, { node: 'c', address: lab.address('s', family), packetBytes: 1500, df: true, count: 2 });
      log.pings.push(p);
      log.facts[`icmpMtu${family}`] = p.icmpMtu ?? 0;
    }
    const requests: TransferRequest[] = IP_FAMILIES.flatMap((family) => {
      const base = { node: 'c', address: lab.address('s', family), port: DEFAULT_HTTP_PORT, maxTimeS: STALL_TIMEOUT_S };
      return [
        { ...base, label: 'upload 100 KB', uploadBytes: UPLOAD_BYTES },
        { ...base, label: 'download 1 MB', downloadBytes: DOWNLOAD_BYTES },
      ];
    });
    log.transfers.push(...(await Promise.all(requests.map((r) => curlTransfer(lab, r)))));
    for (const family of IP_FAMILIES) log.routeCache.push(await routeGet(lab, 'c', lab.address('s', family)));
    // Every transfer has ended (curl returned), so no SYN of this run can still be on its way.
    const count = await syns.read();
    log.facts['synsSeen'] = count.syns;
    log.facts['synsClamped'] = count.withMss;
    log.facts['transfersCompleted'] = log.transfers.filter((t) => t.outcome === 'completed').length;
    log.findings.push(
      `${count.withMss} of the ${count.syns} SYNs reaching the server carried MSS ${CLAMP} (its iptables counters); c, on a 1500-byte link, sent 1460 (IPv4) and 1440 (IPv6): isp rewrote them`,
      `DF pings of 1500 bytes drew no ICMP (isp drops it) and c caches no path MTU, yet every transfer completed: segments of at most ${CLAMP} bytes ` +
        `plus headers fit the ${1400}-byte link, so path MTU discovery is never needed`,
    );
  });
}

function check(o: ScenarioObservations, want: Want): void {
  want(Number(o.facts['synsSeen']) >= 4, 'the server saw the SYNs of all four connections');
  want(o.facts['synsClamped'] === o.facts['synsSeen'], `every SYN reaching the server carried MSS ${CLAMP}`);
  want(o.facts['transfersCompleted'] === 4, 'all uploads and downloads completed (both families)');
  for (const family of IP_FAMILIES) want(o.facts[`icmpMtu${family}`] === 0, `IPv${family}: no ICMP error reached c (isp drops it)`);
}
