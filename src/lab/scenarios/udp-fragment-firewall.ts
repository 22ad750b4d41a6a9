/**
 * Large UDP answers through a firewall that drops IP fragments: the answer leaves the server as fragments and none of
 * them gets through, while answers that fit one packet do.
 */
import { IP_FAMILIES } from '../../packet/ip-family.js';
import type { RunningLab } from '../running-lab.js';
import { routeGet } from '../traffic/route-cache.js';
import { startUdpResponder, udpQueries } from '../traffic/udp.js';
import type { ScenarioObservations } from './report.js';
import type { Scenario, Want } from './scenario.js';
import { observe } from './support.js';

/** Answer sizes: a classic DNS answer, one just fitting a 1500-byte packet, and DNSSEC-sized ones that need fragments. */
const FITS = [200, 1400];
const FRAGMENTED = [3000, 8000];

export const udpFragmentFirewall: Scenario = {
  name: 'udp-fragment-firewall',
  title: 'server→client UDP with large datagrams through a firewall that drops fragments',
  explanation:
    'The client asks the server for UDP answers of 200, 1400, 3000 and 8000 bytes, the way a resolver asks for DNS ' +
    'records; a firewall between them drops IP fragments (IPv4 fragments and IPv6 Fragment headers), as firewalls ' +
    'that cannot or will not reassemble do. UDP has no MSS to negotiate, so an answer larger than the path leaves the ' +
    'server as fragments, and here not one of them arrives; answers that fit one packet are fine. This is the fourth ' +
    'case of the fragmentation article (server to client without DF, e.g. large DNSSEC answers) and the reason DNS ' +
    'moved to small EDNS buffer sizes and TCP fallback: the failure is silent, the client only sees a timeout.',
  expected: 'both families: the 200- and 1400-byte answers arrive, the 3000- and 8000-byte (fragmented) answers do not',
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
  check,
};

async function run(lab: RunningLab): Promise<ScenarioObservations> {
  return observe([startUdpResponder(lab, 's')], async (log) => {
    for (const family of IP_FAMILIES) {
      const answers = await udpQueries(lab, { node: 'c', address: lab.address('s', family), sizes: [...FITS, ...FRAGMENTED], timeoutMs: 1000 });
      for (const a of answers) {
        log.datagrams.push({ label: 'answer', family, size: a.size, sent: 1, received: a.received ? 1 : 0 });
        log.facts[`answer${family}_${a.size}`] = a.received;
      }
      log.routeCache.push(await routeGet(lab, 's', lab.address('c', family)));
    }
    log.findings.push(
      'answers up to 1400 bytes travel as one packet and arrive; larger ones leave s as IP fragments (s fragments them itself: UDP has no MSS), ' +
        'fw drops every fragment (NETFILTER_DROP in the kernel drops) and c waits in vain, as a resolver behind such a firewall waits for a large DNSSEC answer',
    );
  });
}

function check(o: ScenarioObservations, want: Want): void {
  for (const family of IP_FAMILIES) {
    for (const size of FITS) want(o.facts[`answer${family}_${size}`] === true, `IPv${family}: the ${size}-byte answer arrived`);
    for (const size of FRAGMENTED) want(o.facts[`answer${family}_${size}`] === false, `IPv${family}: the ${size}-byte answer (fragmented) never arrived`);
  }
}
