/**
 * The classic PMTU black hole: a router on the path has a smaller MTU, and the ICMP that would tell the sender is
 * dropped (here by that router's own firewall), so full-size segments with DF vanish without a trace.
 */
import { IP_FAMILIES, type FamilyMap, type IpFamily } from '../../packet/ip-family.js';
import { PACKET_TOO_BIG_MATCH } from '../../host/iptables-matches.js';
import type { RunningLab } from '../running-lab.js';
import { curlTransfer, type TransferRequest } from '../traffic/curl.js';
import { startHttpServer, DEFAULT_HTTP_PORT } from '../traffic/http-server.js';
import { ping } from '../traffic/ping.js';
import { learnedMtu, routeGet } from '../traffic/route-cache.js';
import type { Measurements } from './report.js';
import type { CapturePoint, Scenario, TrafficGate, Want } from './scenario.js';
import {
  count, DOWNLOAD_BYTES, mtuWords, observe, outcomeOf, outcomeWords, positive, recordSwallowedPing, SMALL_BYTES, STALL_TIMEOUT_S,
  swallowedPingWords, UPLOAD_BYTES, wantSwallowedPing,
} from './support.js';

const SMALL_MTU = 1400;
const PING_BYTES = 1500;
/** A second server address, so the control measurement's learned path MTU cannot help the later transfers. */
const CONTROL: FamilyMap<string> = { 4: '10.99.0.1', 6: 'fd00:99::1' };

/** Lets r1's ICMP errors out for a moment (the control): inserted before the lab's DROP rules, removed after. */
async function allowPacketTooBig(lab: RunningLab, allow: boolean): Promise<void> {
  const op = allow ? '-I' : '-D';
  await lab.mustExec('r1', ['iptables', op, 'OUTPUT', ...PACKET_TOO_BIG_MATCH[4], '-j', 'ACCEPT']);
  await lab.mustExec('r1', ['ip6tables', op, 'OUTPUT', ...PACKET_TOO_BIG_MATCH[6], '-j', 'ACCEPT']);
}

export const icmpBlackhole: Scenario = {
  name: 'icmp-blackhole',
  title: 'client→server with DF through a router that drops ICMP "fragmentation needed" / Packet Too Big',
  explanation:
    'The client c reaches the server s over two routers joined by a 1400-byte link; everything else is 1500. Router r1, ' +
    'which has to tell c that its full-size packets do not fit, runs a firewall that drops ICMP "fragmentation needed" ' +
    '(IPv4) and Packet Too Big (IPv6) - what many NATs, firewalls and ISP middle boxes do. TCP sets DF on every segment ' +
    'and relies on exactly that ICMP (path MTU discovery), so c keeps retransmitting 1500-byte segments into a black ' +
    'hole: the connection opens, small requests work, and a large upload stalls forever. A control measurement with ' +
    'the ICMP let through shows the mechanism working (DF ping answered with mtu 1400, c caches 1400). Downloads are ' +
    'unaffected because the other router, r2, reports the bottleneck to the server. The uploads run before the ' +
    'downloads: once s has learned the path MTU, the MSS it announces to new connections from c follows it, which ' +
    'would let a later upload through. This is the first of the four failure cases of the fragmentation article, and ' +
    'the most common PMTU failure on the Internet.',
  expected:
    'both families: with ICMP allowed a 1500-byte DF ping gets "fragmentation needed"/Packet Too Big with mtu 1400 and c caches 1400; ' +
    'with it dropped the same ping gets neither a reply nor an ICMP error and c learns no mtu, ' +
    'the 100-byte request and the 1 MB download complete, the 100 KB upload stalls',
  spec: {
    name: 'icmp-blackhole',
    nodes: [
      { name: 'c', kind: 'host' },
      { name: 'r1', kind: 'router', dropPacketTooBig: true },
      { name: 'r2', kind: 'router' },
      { name: 's', kind: 'host', loopbackAddresses: [`${CONTROL[4]}/32`, `${CONTROL[6]}/128`] },
    ],
    links: [
      { endpoints: [{ node: 'c', ifname: 'eth1' }, { node: 'r1', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r1', ifname: 'eth2' }, { node: 'r2', ifname: 'eth1' }], mtu: SMALL_MTU },
      { endpoints: [{ node: 'r2', ifname: 'eth2' }, { node: 's', ifname: 'eth1' }] },
    ],
  },
  run,
  findings,
  check,
  capturePoints: capturePoints(),
};

function capturePoints(): CapturePoint[] {
  const http = { between: [{ node: 'c' }, { node: 's' }], protocol: 'tcp', port: DEFAULT_HTTP_PORT } as const;
  const controlPings = { kinds: ['ptb-honoured', 'ptb-ignored'], place: { between: [{ node: 'c' }, { address: CONTROL }], protocol: 'icmp' }, need: 'tolerated', what: "the control's DF pings: r1 let its ICMP error through" } as const;
  return [
    {
      node: 'c',
      sees: "the client's side: the 100 KB uploads' full-size DF segments leave and are retransmitted with backed-off timeouts, never acknowledged, and no Packet Too Big comes back (r1 drops it); the downloads arrive in segments that fit 1400",
      expect: [
        { kinds: ['pmtu-blackhole'], place: http, what: 'the 100 KB upload: full-size segments retransmitted, never acknowledged, no Packet Too Big' },
        controlPings,
      ],
    },
    {
      node: 'r1',
      sees: "the router with the 1400-byte link that drops its own ICMP errors: the uploads' full-size segments arrive on eth1 and never leave by eth2; its ICMP errors never reach the wire",
      expect: [
        { kinds: ['pmtu-blackhole'], place: { ...http, interfaces: ['eth1'] }, what: 'the uploads retransmitted into r1 without an acknowledgement or a Packet Too Big' },
        controlPings,
      ],
    },
    {
      node: 'r2',
      sees: "the router that does report the bottleneck: the downloads' full-size segments arrive from s on eth2, r2 sends s a Packet Too Big (mtu 1400) and s re-sends smaller",
      expect: [{ kinds: ['ptb-honoured'], place: { ...http, interfaces: ['eth2'] }, what: "the downloads: r2's Packet Too Big honoured by s" }],
    },
    {
      node: 's',
      sees: "the server's side: the downloads draw r2's Packet Too Big and s re-sends in 1400-byte packets; the uploads' full-size segments never arrive",
      expect: [{ kinds: ['ptb-honoured'], place: http, what: "the downloads: r2's Packet Too Big honoured" }],
    },
  ];
}

async function run(lab: RunningLab, gate?: TrafficGate): Promise<Measurements> {
  return observe([startHttpServer(lab, 's')], async (log) => {
    // Control: the same path with the ICMP let through.
    await allowPacketTooBig(lab, true);
    for (const family of IP_FAMILIES) {
      const p = await ping(lab, { node: 'c', address: CONTROL[family], packetBytes: PING_BYTES, df: true, count: 2 });
      log.pings.push(p);
      const entry = await routeGet(lab, 'c', CONTROL[family]);
      log.routeCache.push(entry);
      log.facts[`controlPingsSent${family}`] = p.sent;
      log.fact(`controlIcmpMtu${family}`, p.sent > 0 ? (p.icmpMtu ?? 0) : undefined);
      log.fact(`controlCachedMtu${family}`, learnedMtu(entry));
    }
    await allowPacketTooBig(lab, false);

    const uploads: TransferRequest[] = [];
    const downloads: TransferRequest[] = [];
    for (const family of IP_FAMILIES) {
      const p = await ping(lab, { node: 'c', address: lab.address('s', family), packetBytes: PING_BYTES, df: true, count: 2 });
      log.pings.push(p);
      recordSwallowedPing(log, p);
      const base = { node: 'c', address: lab.address('s', family), port: DEFAULT_HTTP_PORT, maxTimeS: STALL_TIMEOUT_S };
      uploads.push({ ...base, label: 'small request', uploadBytes: SMALL_BYTES }, { ...base, label: 'upload 100 KB', uploadBytes: UPLOAD_BYTES });
      downloads.push({ ...base, label: 'download 1 MB', downloadBytes: DOWNLOAD_BYTES });
    }
    // Uploads strictly before downloads: a download makes s learn the 1400-byte path MTU, and s then announces a
    // correspondingly smaller MSS to every new connection from c, which would let a later upload through.
    log.transfers.push(...(await Promise.all(uploads.map((r) => curlTransfer(lab, r)))));
    log.transfers.push(...(await Promise.all(downloads.map((r) => curlTransfer(lab, r)))));
    for (const family of IP_FAMILIES) {
      const atClient = await routeGet(lab, 'c', lab.address('s', family));
      const atServer = await routeGet(lab, 's', lab.address('c', family));
      log.routeCache.push(atClient, atServer);
      log.fact(`cachedMtu${family}`, learnedMtu(atClient));
      log.fact(`serverCachedMtu${family}`, learnedMtu(atServer));
    }
  }, gate);
}

function controlWords(m: Measurements, family: IpFamily): string {
  const [sent, mtu] = [count(m, `controlPingsSent${family}`), count(m, `controlIcmpMtu${family}`)];
  const icmp = family === 4 ? '"fragmentation needed"' : 'Packet Too Big';
  const ping = !positive(sent)
    ? `the ${PING_BYTES}-byte DF ping sent nothing (cannot tell whether r1's ICMP gets out)`
    : positive(mtu)
      ? `the ${PING_BYTES}-byte DF ping drew ${icmp} with mtu ${mtu}`
      : `the ${PING_BYTES}-byte DF ping drew no ICMP error`;
  return `control (ICMP allowed on r1), IPv${family}: ${ping}; c's route to ${CONTROL[family]} then: ${mtuWords(count(m, `controlCachedMtu${family}`))}`;
}

function findings(m: Measurements): string[] {
  return IP_FAMILIES.flatMap((family) => {
    const cached = count(m, `cachedMtu${family}`);
    const serverCached = count(m, `serverCachedMtu${family}`);
    const silent = positive(count(m, `pingsSent${family}`)) && count(m, `icmpMtu${family}`) === 0 && cached === 0;
    return [
      controlWords(m, family),
      `ICMP dropped on r1, ${swallowedPingWords(m, family, PING_BYTES)}; ` +
        `the 100 KB upload ${outcomeWords(m.transfers, 'upload 100 KB', family)}, the small request ${outcomeWords(m.transfers, 'small request', family)}; ` +
        `c's route to s afterwards: ${mtuWords(cached)}${silent ? ' (c never learned that its full-size packets do not fit)' : ''}`,
      `IPv${family}: the 1 MB download ${outcomeWords(m.transfers, 'download 1 MB', family)}; s's route to c afterwards: ${mtuWords(serverCached)}` +
        (serverCached === SMALL_MTU ? " (s learned the path MTU: the ICMP on the download's way, from r2, is not filtered)" : ''),
    ];
  });
}

function check(o: Measurements, want: Want): void {
  for (const family of IP_FAMILIES) {
    want(count(o, `controlIcmpMtu${family}`) === SMALL_MTU, `IPv${family} control: DF ping drew an ICMP error with mtu ${SMALL_MTU}`);
    want(count(o, `controlCachedMtu${family}`) === SMALL_MTU, `IPv${family} control: c's route cache shows mtu ${SMALL_MTU}`);
    wantSwallowedPing(o, want, family, PING_BYTES);
    want(count(o, `cachedMtu${family}`) === 0, `IPv${family}: c's route cache has no learned mtu for s`);
    want(outcomeOf(o.transfers, 'small request', family) === 'completed', `IPv${family}: the small request completed`);
    want(outcomeOf(o.transfers, 'upload 100 KB', family) === 'stalled', `IPv${family}: the 100 KB upload stalled`);
    want(outcomeOf(o.transfers, 'download 1 MB', family) === 'completed', `IPv${family}: the 1 MB download completed`);
  }
}
