/**
 * An ISP router clamping the TCP MSS to 1344: TCP segments stay small enough for any path behind it, so connections
 * work even where path MTU discovery cannot (its ICMP is dropped too).
 */
import { IP_FAMILIES, type FamilyMap, type IpFamily } from '../../packet/ip-family.js';
import type { RunningLab } from '../running-lab.js';
import { curlTransfer, type TransferRequest } from '../traffic/curl.js';
import { startHttpServer, DEFAULT_HTTP_PORT } from '../traffic/http-server.js';
import { ping } from '../traffic/ping.js';
import { learnedMtu, routeGet } from '../traffic/route-cache.js';
import { countSynMss } from '../traffic/syn-mss-count.js';
import type { Measurements } from './report.js';
import type { CapturePoint, Scenario, TrafficGate, Want } from './scenario.js';
import {
  count, DOWNLOAD_BYTES, mtuWords, observe, outcomeOf, outcomeWords, positive, recordSwallowedPing, STALL_TIMEOUT_S, swallowedPingWords,
  UPLOAD_BYTES, wantSwallowedPing,
} from './support.js';

const CLAMP = 1344;
const LINK_MTU = 1400;
const PING_BYTES = 1500;
/** The MSS c announces on its 1500-byte link: 1500 minus the IP and TCP headers. */
const CLIENT_MSS: FamilyMap<number> = { 4: 1460, 6: 1440 };
const TRANSFERS = ['upload 100 KB', 'download 1 MB'] as const;

export const mssClamp1344: Scenario = {
  name: 'mss-clamp-1344',
  title: 'an ISP router clamping the TCP MSS to 1344',
  explanation:
    'Some ISPs rewrite the MSS option of every TCP SYN passing their routers to a fixed value (one in the ' +
    'fragmentation article clamps to 1344), so that no TCP segment is ever too large for the tunnels and PPPoE links ' +
    'in their network. Here router isp does that (iptables TCPMSS) and, to show that the clamp alone carries the ' +
    'connection, also drops ICMP "fragmentation needed"/Packet Too Big, and its link to the server is only 1400 bytes. ' +
    'Counters on c and s show the SYNs leaving c with MSS 1460 (IPv6: 1440) and reaching s with 1344, DF pings of ' +
    '1500 bytes go unanswered without any ICMP, and ' +
    'still 100 KB uploads and 1 MB downloads complete in both families. Clamping hides PMTU problems for TCP (but not ' +
    'for UDP, nor for paths behind the clamping router that are smaller still), which is also why a checker must not ' +
    'mistake a clamped connection for a working PMTU discovery.',
  expected:
    'both families: every SYN leaves c with its own MSS (1460, IPv6 1440) and reaches the server with MSS 1344; ' +
    'the 100 KB upload and the 1 MB download complete; a 1500-byte DF ping gets neither a reply nor an ICMP error, and c learns no mtu',
  spec: {
    name: 'mss-clamp-1344',
    nodes: [
      { name: 'c', kind: 'host' },
      { name: 'isp', kind: 'router', clampMss: CLAMP, dropPacketTooBig: true },
      { name: 's', kind: 'host' },
    ],
    links: [
      { endpoints: [{ node: 'c', ifname: 'eth1' }, { node: 'isp', ifname: 'eth1' }] },
      { endpoints: [{ node: 'isp', ifname: 'eth2' }, { node: 's', ifname: 'eth1' }], mtu: LINK_MTU },
    ],
  },
  run,
  findings,
  check,
  capturePoints: capturePoints(),
};

function capturePoints(): CapturePoint[] {
  const http = { between: [{ node: 'c' }, { node: 's' }], protocol: 'tcp', port: DEFAULT_HTTP_PORT } as const;
  const singlePoint = { kinds: ['mss-clamped', 'mss-tunnel'], place: http, need: 'tolerated', what: 'a one-point sign of the clamp: SYN and SYN-ACK announce different MSS' } as const;
  return [
    {
      node: 'isp',
      sees: `the clamping router: each SYN arrives on eth1 with c's MSS (${CLIENT_MSS[4]}, IPv6 ${CLIENT_MSS[6]}) and leaves by eth2 with ${CLAMP}`,
      expect: [{ kinds: ['mss-clamped'], place: http, what: `the same SYN with MSS ${CLIENT_MSS[4]}/${CLIENT_MSS[6]} on eth1 and ${CLAMP} on eth2` }],
    },
    { node: 'c', sees: `the client: its SYNs carry MSS ${CLIENT_MSS[4]} (IPv6 ${CLIENT_MSS[6]}), the SYN-ACKs come back clamped`, expect: [singlePoint] },
    { node: 's', sees: `the server: the SYNs arrive with MSS ${CLAMP}`, expect: [singlePoint] },
  ];
}

async function run(lab: RunningLab, gate?: TrafficGate): Promise<Measurements> {
  return observe([startHttpServer(lab, 's')], async (log) => {
    const leaving = await countSynMss(lab, 'c', 'OUTPUT', DEFAULT_HTTP_PORT, CLIENT_MSS);
    const arriving = await countSynMss(lab, 's', 'INPUT', DEFAULT_HTTP_PORT, { 4: CLAMP, 6: CLAMP });
    for (const family of IP_FAMILIES) {
      const p = await ping(lab, { node: 'c', address: lab.address('s', family), packetBytes: PING_BYTES, df: true, count: 2 });
      log.pings.push(p);
      recordSwallowedPing(log, p);
    }
    const requests: TransferRequest[] = IP_FAMILIES.flatMap((family) => {
      const base = { node: 'c', address: lab.address('s', family), port: DEFAULT_HTTP_PORT, maxTimeS: STALL_TIMEOUT_S };
      return [
        { ...base, label: 'upload 100 KB', uploadBytes: UPLOAD_BYTES },
        { ...base, label: 'download 1 MB', downloadBytes: DOWNLOAD_BYTES },
      ];
    });
    log.transfers.push(...(await Promise.all(requests.map((r) => curlTransfer(lab, r)))));
    for (const family of IP_FAMILIES) {
      const entry = await routeGet(lab, 'c', lab.address('s', family));
      log.routeCache.push(entry);
      log.fact(`cachedMtu${family}`, learnedMtu(entry));
    }
    // Every transfer has ended (curl returned), so no SYN of this run can still be on its way.
    const [sent, seen] = [await leaving.read(), await arriving.read()];
    for (const family of IP_FAMILIES) {
      log.facts[`clientSyns${family}`] = sent[family].syns;
      log.facts[`clientSynsOwnMss${family}`] = sent[family].withMss;
      log.facts[`serverSyns${family}`] = seen[family].syns;
      log.facts[`serverSynsClamped${family}`] = seen[family].withMss;
    }
  }, gate);
}

function synWords(m: Measurements, family: IpFamily): string {
  const [sent, own, seen, clamped] = ['clientSyns', 'clientSynsOwnMss', 'serverSyns', 'serverSynsClamped'].map((k) => count(m, `${k}${family}`));
  if (sent === undefined || own === undefined || seen === undefined || clamped === undefined) {
    return `IPv${family}: cannot tell what isp did to the SYNs (the SYN counters were not read)`;
  }
  const rewritten = positive(seen) && clamped === seen && own === sent && positive(sent) ? ': isp rewrote their MSS' : '';
  return (
    `IPv${family}: ${own} of the ${sent} SYNs leaving c carried MSS ${CLIENT_MSS[family]}, ` +
    `${clamped} of the ${seen} reaching s carried MSS ${CLAMP} (iptables counters on c and s)${rewritten}`
  );
}

function findings(m: Measurements): string[] {
  return IP_FAMILIES.flatMap((family) => {
    const completed = TRANSFERS.every((label) => outcomeOf(m.transfers, label, family) === 'completed');
    const pmtuUnneeded =
      completed && count(m, `cachedMtu${family}`) === 0 && count(m, `icmpMtu${family}`) === 0 && positive(count(m, `pingsSent${family}`))
        ? `: no ICMP and no learned path MTU, yet the transfers completed over the ${LINK_MTU}-byte link, so the clamp alone carried them`
        : '';
    return [
      synWords(m, family),
      `${swallowedPingWords(m, family, PING_BYTES)}; c's route to s: ${mtuWords(count(m, `cachedMtu${family}`))}; ` +
        `the 100 KB upload ${outcomeWords(m.transfers, TRANSFERS[0], family)}, the 1 MB download ${outcomeWords(m.transfers, TRANSFERS[1], family)}${pmtuUnneeded}`,
    ];
  });
}

function check(o: Measurements, want: Want): void {
  for (const family of IP_FAMILIES) {
    const sent = count(o, `clientSyns${family}`);
    const seen = count(o, `serverSyns${family}`);
    want(sent !== undefined && sent >= TRANSFERS.length && count(o, `clientSynsOwnMss${family}`) === sent, `IPv${family}: every SYN of c's ${TRANSFERS.length} connections left c with MSS ${CLIENT_MSS[family]}`);
    want(seen !== undefined && seen >= TRANSFERS.length && count(o, `serverSynsClamped${family}`) === seen, `IPv${family}: every SYN of c's ${TRANSFERS.length} connections reached the server with MSS ${CLAMP}`);
    want(outcomeOf(o.transfers, 'upload 100 KB', family) === 'completed', `IPv${family}: the 100 KB upload completed`);
    want(outcomeOf(o.transfers, 'download 1 MB', family) === 'completed', `IPv${family}: the 1 MB download completed`);
    wantSwallowedPing(o, want, family, PING_BYTES);
    want(count(o, `cachedMtu${family}`) === 0, `IPv${family}: c's route cache has no learned mtu for s`);
  }
}
