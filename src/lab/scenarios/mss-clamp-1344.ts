/**
 * An ISP router clamping the TCP MSS to 1344: TCP segments stay small enough for any path behind it, so connections
 * work even where path MTU discovery cannot (its ICMP is dropped too).
 */
import type { RunningLab } from '../running-lab.js';
import { curlTransfer, type TransferRequest } from '../traffic/curl.js';
import { startHttpServer, DEFAULT_HTTP_PORT } from '../traffic/http-server.js';
import type { Family } from '../traffic/lab-nodes.js';
import { ping } from '../traffic/ping.js';
import { routeGet } from '../traffic/route-cache.js';
import { countSynMss } from '../traffic/syn-mss-count.js';
import { ObservationLog, type ScenarioObservations } from './report.js';
import type { Scenario } from './scenario.js';
import { DOWNLOAD_BYTES, Expectations, STALL_TIMEOUT_S, UPLOAD_BYTES } from './support.js';

const CLAMP = 1344;
const FAMILIES: readonly Family[] = [4, 6];

async function run(lab: RunningLab): Promise<ScenarioObservations> {
  const log = new ObservationLog();
  const server = await startHttpServer(lab, 's');
  const syns = await countSynMss(lab, 's', DEFAULT_HTTP_PORT, CLAMP);
  try {
    for (const family of FAMILIES) {
      const p = await ping(lab, { node: 'c', address: lab.address('s', family), packetBytes: 1500, df: true, count: 2 });
      log.pings.push(p);
      log.facts[`icmpMtu${family}`] = p.icmpMtu ?? 0;
    }
    const requests: TransferRequest[] = FAMILIES.flatMap((family) => {
      const base = { node: 'c', address: lab.address('s', family), port: DEFAULT_HTTP_PORT, maxTimeS: STALL_TIMEOUT_S };
      return [
        { ...base, label: 'upload 100 KB', uploadBytes: UPLOAD_BYTES },
        { ...base, label: 'download 1 MB', downloadBytes: DOWNLOAD_BYTES },
      ];
    });
    log.transfers.push(...(await Promise.all(requests.map((r) => curlTransfer(lab, r)))));
    for (const family of FAMILIES) log.routeCache.push(await routeGet(lab, 'c', lab.address('s', family)));
  } finally {
    await server.stop();
  }
  const count = await syns.read();
  log.facts['synsSeen'] = count.syns;
  log.facts['synsClamped'] = count.withMss;
  log.facts['transfersCompleted'] = log.transfers.filter((t) => t.outcome === 'completed').length;
  log.findings.push(
    `${count.withMss} of the ${count.syns} SYNs reaching the server carried MSS ${CLAMP} (its iptables counters); c, on a 1500-byte link, sent 1460 (IPv4) and 1440 (IPv6): isp rewrote them`,
    `DF pings of 1500 bytes drew no ICMP (isp drops it) and c caches no path MTU, yet every transfer completed: segments of at most ${CLAMP} bytes ` +
      `plus headers fit the ${1400}-byte link, so path MTU discovery is never needed`,
  );
  return log.done();
}

function check(o: ScenarioObservations): string[] {
  const e = new Expectations();
  e.want(Number(o.facts['synsSeen']) >= 4, 'the server saw the SYNs of all four connections');
  e.want(o.facts['synsClamped'] === o.facts['synsSeen'], `every SYN reaching the server carried MSS ${CLAMP}`);
  e.want(o.facts['transfersCompleted'] === 4, 'all uploads and downloads completed (both families)');
  for (const family of FAMILIES) e.want(o.facts[`icmpMtu${family}`] === 0, `IPv${family}: no ICMP error reached c (isp drops it)`);
  return e.unmet;
}

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
