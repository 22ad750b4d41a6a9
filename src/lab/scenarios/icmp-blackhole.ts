/**
 * The classic PMTU black hole: a router on the path has a smaller MTU, and the ICMP that would tell the sender is
 * dropped (here by that router's own firewall), so full-size segments with DF vanish without a trace.
 */
import { IP_FAMILIES, type FamilyMap } from '../../packet/ip-family.js';
import type { RunningLab } from '../running-lab.js';
import { curlTransfer, type TransferRequest } from '../traffic/curl.js';
import { startHttpServer, DEFAULT_HTTP_PORT } from '../traffic/http-server.js';
import { ping } from '../traffic/ping.js';
import { routeGet } from '../traffic/route-cache.js';
import type { ScenarioObservations } from './report.js';
import type { Scenario, Want } from './scenario.js';
import { DOWNLOAD_BYTES, observe, outcomeOf, SMALL_BYTES, STALL_TIMEOUT_S, UPLOAD_BYTES } from './support.js';

const SMALL_MTU = 1400;
/** A second server address, so the control measurement's learned path MTU cannot help the later transfers. */
const CONTROL: FamilyMap<string> = { 4: '10.99.0.1', 6: 'fd00:99::1' };

/** Lets r1's ICMP errors out for a moment (the control): inserted before the lab's DROP rules, removed after. */
async function allowPacketTooBig(lab: RunningLab, allow: boolean): Promise<void> {
  const op = allow ? '-I' : '-D';
  await lab.mustExec('r1', ['iptables', op, 'OUTPUT', '-p', 'icmp', '--icmp-type', 'fragmentation-needed', '-j', 'ACCEPT']);
  await lab.mustExec('r1', ['ip6tables', op, 'OUTPUT', '-p', 'ipv6-icmp', '--icmpv6-type', 'packet-too-big', '-j', 'ACCEPT']);
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
    'unaffected because the other router, r2, reports the bottleneck to the server. This is the first of the four ' +
    'failure cases of the fragmentation article, and the most common PMTU failure on the Internet.',
  expected:
    'both families: with ICMP allowed a 1500-byte DF ping gets "fragmentation needed"/Packet Too Big with mtu 1400 and c caches 1400; ' +
    'with it dropped no ICMP arrives, the 100-byte request and the 1 MB download complete, the 100 KB upload stalls',
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
  check,
};

async function run(lab: RunningLab): Promise<ScenarioObservations> {
  return observe([startHttpServer(lab, 's')], async (log) => {
    // Control: the same path with the ICMP let through.
    await allowPacketTooBig(lab, true);
    for (const family of IP_FAMILIES) {
      const p = await ping(lab, { node: 'c', address: CONTROL[family], packetBytes: 1500, df: true, count: 2 });
      log.pings.push(p);
      log.routeCache.push(await routeGet(lab, 'c', CONTROL[family]));
      log.facts[`controlIcmpMtu${family}`] = p.icmpMtu ?? 0;
      log.facts[`controlCachedMtu${family}`] = log.routeCache.at(-1)?.mtu ?? 0;
    }
    await allowPacketTooBig(lab, false);
    log.findings.push(`control (ICMP allowed on r1): DF pings of 1500 bytes drew "fragmentation needed"/Packet Too Big, and c cached the ${SMALL_MTU}-byte path MTU`);

    const uploads: TransferRequest[] = [];
    const downloads: TransferRequest[] = [];
    for (const family of IP_FAMILIES) {
      const p = await ping(lab, { node: 'c', address: lab.address('s', family), packetBytes: 1500, df: true, count: 2 });
      log.pings.push(p);
      log.facts[`icmpMtu${family}`] = p.icmpMtu ?? 0;
      const base = { node: 'c', address: lab.address('s', family), port: DEFAULT_HTTP_PORT, maxTimeS: STALL_TIMEOUT_S };
      uploads.push({ ...base, label: 'small request', uploadBytes: SMALL_BYTES }, { ...base, label: 'upload 100 KB', uploadBytes: UPLOAD_BYTES });
      downloads.push({ ...base, label: 'download 1 MB', downloadBytes: DOWNLOAD_BYTES });
    }
    // Uploads strictly before downloads: a download makes s learn the 1400-byte path MTU, and s then announces a
    // correspondingly smaller MSS to every new connection from c, which would let a later upload through.
    log.transfers.push(...(await Promise.all(uploads.map((r) => curlTransfer(lab, r)))));
    log.transfers.push(...(await Promise.all(downloads.map((r) => curlTransfer(lab, r)))));
    for (const family of IP_FAMILIES) {
      const entry = await routeGet(lab, 'c', lab.address('s', family));
      log.routeCache.push(entry);
      log.facts[`cachedMtu${family}`] = entry.mtu ?? 0;
      const s = await routeGet(lab, 's', lab.address('c', family));
      log.routeCache.push(s);
    }
    log.findings.push(
      'uploads: c sends full-size segments with DF; r1 cannot forward them onto its 1400-byte link and its "fragmentation needed"/Packet Too Big is dropped, so c never learns and retransmits the same segment until curl gives up',
      'downloads go the other way: r2 has the small link towards c, its ICMP is not filtered, so s learns the path MTU (see its route cache) and the download completes',
      "the uploads run before the downloads: once s has learned the path MTU, the MSS it announces to new connections from c follows it (seen in earlier runs: an upload racing a download completed), so the black hole also depends on who learned what first",
    );
  });
}

function check(o: ScenarioObservations, want: Want): void {
  for (const family of IP_FAMILIES) {
    want(o.facts[`controlIcmpMtu${family}`] === SMALL_MTU, `IPv${family} control: DF ping drew an ICMP error with mtu ${SMALL_MTU}`);
    want(o.facts[`controlCachedMtu${family}`] === SMALL_MTU, `IPv${family} control: c's route cache shows mtu ${SMALL_MTU}`);
    want(o.facts[`icmpMtu${family}`] === 0, `IPv${family}: with ICMP dropped, no ICMP error reached c`);
    want(o.facts[`cachedMtu${family}`] === 0, `IPv${family}: c's route cache has no learned mtu for s`);
    want(outcomeOf(o.transfers, 'small request', family) === 'completed', `IPv${family}: the small request completed`);
    want(outcomeOf(o.transfers, 'upload 100 KB', family) === 'stalled', `IPv${family}: the 100 KB upload stalled`);
    want(outcomeOf(o.transfers, 'download 1 MB', family) === 'completed', `IPv${family}: the 1 MB download completed`);
  }
}
