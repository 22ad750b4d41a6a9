/**
 * Large UDP answers through a firewall that drops IP fragments: the answer leaves the server as fragments and none of
 * them gets through, while answers that fit one packet do.
 */
import { IP_FAMILIES, type IpFamily } from '../../packet/ip-family.js';
import { FRAGMENT_MATCH } from '../iptables-matches.js';
import type { RunningLab } from '../running-lab.js';
import { routeGet } from '../traffic/route-cache.js';
import { packetsTo } from '../traffic/rule-counters.js';
import { DEFAULT_UDP_PORT, startUdpResponder, udpQueries } from '../traffic/udp.js';
import type { Measurements, ObservationLog } from './report.js';
import type { CapturePoint, Scenario, TrafficGate, Want } from './scenario.js';
import { count, flag, observe, positive } from './support.js';

/** Answer sizes: a classic DNS answer, one just fitting a 1500-byte packet, and DNSSEC-sized ones that need fragments. */
const FITS = [200, 1400];
const FRAGMENTED = [3000, 8000];
const TIMEOUT_MS = 1000;

/** Lets fragments through fw for a moment (the control): ACCEPT rules inserted before the lab's DROP rules, removed after. */
async function allowFragments(lab: RunningLab, allow: boolean): Promise<void> {
  for (const family of IP_FAMILIES) {
    await lab.mustExec('fw', [family === 4 ? 'iptables' : 'ip6tables', allow ? '-I' : '-D', 'FORWARD', ...FRAGMENT_MATCH[family], '-j', 'ACCEPT']);
  }
}

/** One query for an answer of `size` bytes, and what fw's DROP rules (fragments only) dropped meanwhile. */
async function query(lab: RunningLab, log: ObservationLog, family: IpFamily, size: number): Promise<void> {
  const dropped = (): Promise<number> => packetsTo(lab, 'fw', family, 'FORWARD', 'DROP');
  const before = await dropped();
  // Asked again once when unanswered, as a resolver would: the server then sends the same fragmented answer twice.
  const answers = await udpQueries(lab, { node: 'c', address: lab.address('s', family), sizes: [size], timeoutMs: TIMEOUT_MS, retries: 1 });
  const after = await dropped();
  for (const a of answers) {
    log.datagrams.push({ label: 'answer', family, size: a.size, sent: 1, received: a.received ? 1 : 0 });
    log.facts[`answer${family}_${a.size}`] = a.received;
  }
  log.facts[`fragmentsDropped${family}_${size}`] = after - before;
}

export const udpFragmentFirewall: Scenario = {
  name: 'udp-fragment-firewall',
  title: 'server→client UDP with large datagrams through a firewall that drops fragments',
  explanation:
    'The client asks the server for UDP answers of 200, 1400, 3000 and 8000 bytes, the way a resolver asks for DNS ' +
    'records; a firewall between them drops IP fragments (IPv4 fragments and IPv6 Fragment headers), as firewalls ' +
    'that cannot or will not reassemble do. UDP has no MSS to negotiate, so an answer larger than the path leaves the ' +
    'server as fragments, and here not one of them arrives; answers that fit one packet are fine. A control run with ' +
    'the fragments let through shows that the large answers do arrive without the firewall, and the counters of the ' +
    "firewall's DROP rules show that their fragments reached it and were dropped there. This is the fourth " +
    'case of the fragmentation article (server to client without DF, e.g. large DNSSEC answers) and the reason DNS ' +
    'moved to small EDNS buffer sizes and TCP fallback: the failure is silent, the client only sees a timeout (and, as a ' +
    'resolver does, asks once more: the server sends the same fragments again, and they vanish again).',
  expected:
    'both families: with fragments let through (control) the 3000- and 8000-byte answers arrive; with the firewall dropping them ' +
    "the 200- and 1400-byte answers arrive, the 3000- and 8000-byte (fragmented) answers do not, and fw's DROP rules count their fragments",
  spec: {
    name: 'udp-fragment-firewall',
    nodes: [
      { name: 'c', kind: 'host' },
      { name: 'fw', kind: 'router', dropFragments: true },
      { name: 's', kind: 'host' },
    ],
    links: [
      { endpoints: [{ node: 'c', ifname: 'eth1' }, { node: 'fw', ifname: 'eth1' }] },
      { endpoints: [{ node: 'fw', ifname: 'eth2' }, { node: 's', ifname: 'eth1' }] },
    ],
  },
  run,
  findings,
  check,
  capturePoints: capturePoints(),
};

function capturePoints(): CapturePoint[] {
  const answers = { between: [{ node: 'c' }, { node: 's' }], protocol: 'udp', port: DEFAULT_UDP_PORT } as const;
  const retried = (interfaces?: readonly string[]) =>
    ({
      kinds: ['fragments-lost-retried'],
      place: interfaces === undefined ? answers : { ...answers, interfaces },
      what: 'the 3000- and 8000-byte answers leave as fragments, and the same query comes again (the client never got them)',
    }) as const;
  return [
    { node: 's', sees: 'the server: each large answer leaves as fragments, and the client asks again', expect: [retried()] },
    {
      node: 'fw',
      sees: "the firewall: the answers' fragments arrive on eth2 and never leave by eth1; the client's repeated query arrives on eth1",
      expect: [retried(['eth1', 'eth2'])],
    },
    {
      node: 'c',
      sees: 'the client: its queries for large answers go unanswered and are repeated; not one fragment arrives (cannot tell why from here)',
      expect: [],
    },
  ];
}

async function run(lab: RunningLab, gate?: TrafficGate): Promise<Measurements> {
  return observe([startUdpResponder(lab, 's')], async (log) => {
    await allowFragments(lab, true);
    for (const family of IP_FAMILIES) {
      const answers = await udpQueries(lab, { node: 'c', address: lab.address('s', family), sizes: FRAGMENTED, timeoutMs: TIMEOUT_MS });
      for (const a of answers) {
        log.datagrams.push({ label: 'answer, control (fragments let through)', family, size: a.size, sent: 1, received: a.received ? 1 : 0 });
        log.facts[`controlAnswer${family}_${a.size}`] = a.received;
      }
    }
    await allowFragments(lab, false);
    for (const family of IP_FAMILIES) {
      for (const size of [...FITS, ...FRAGMENTED]) await query(lab, log, family, size);
      log.routeCache.push(await routeGet(lab, 's', lab.address('c', family)));
    }
  }, gate);
}

function arrivedWords(arrived: boolean | undefined): string {
  return arrived === undefined ? 'was not asked for (cannot tell)' : arrived ? 'arrived' : 'did not arrive';
}

function findings(m: Measurements): string[] {
  return IP_FAMILIES.flatMap((family) => [
    `control (fragments let through fw), IPv${family}: ` +
      FRAGMENTED.map((size) => `the ${size}-byte answer ${arrivedWords(flag(m, `controlAnswer${family}_${size}`))}`).join(', '),
    `IPv${family} with fw dropping fragments (in brackets: fragments its DROP rule dropped during each query): ` +
      [...FITS, ...FRAGMENTED]
        .map((size) => `the ${size}-byte answer ${arrivedWords(flag(m, `answer${family}_${size}`))} (${count(m, `fragmentsDropped${family}_${size}`) ?? 'not counted'})`)
        .join(', '),
  ]);
}

function check(o: Measurements, want: Want): void {
  for (const family of IP_FAMILIES) {
    for (const size of FITS) want(flag(o, `answer${family}_${size}`) === true, `IPv${family}: the ${size}-byte answer arrived`);
    for (const size of FRAGMENTED) {
      want(flag(o, `controlAnswer${family}_${size}`) === true, `IPv${family} control: with fragments let through, the ${size}-byte answer arrived`);
      want(flag(o, `answer${family}_${size}`) === false, `IPv${family}: the ${size}-byte answer (fragmented) never arrived`);
      want(positive(count(o, `fragmentsDropped${family}_${size}`)), `IPv${family}: fw's fragment DROP rule dropped fragments while the ${size}-byte answer was due`);
    }
  }
}
