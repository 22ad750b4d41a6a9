import { familyLabel, familyName, type IpFamily } from '../packet/ip-family.js';
import { mtuWithLikelyCause } from './encapsulation-names.js';
import type { BlackHole, HopReport, HopTraceResult } from './hop-trace.js';
import type { ProbeFinding } from './probe-finding.js';
import { maximumProbeSize } from './probe-packets.js';

/**
 * The hop trace's conclusions as ProbeFindings, pure: each sentence is built from measured values, and where the
 * evidence allows more than one cause, the finding names them all with a lower confidence.
 *
 * Codes: `path-clear` (full size reaches the destination), `path-mtu-reported` (a hop's Packet Too Big arrived: path MTU
 * discovery works there), `ptb-missing` (IPv4: the router before the loss fragments a copy without DF, so it knows the
 * smaller MTU; its Packet Too Big is not sent or is dropped on the way back), `silent-mtu-mismatch` (IPv4: the copy
 * without DF vanishes too: the router believes the packet fits), `black-hole` (IPv6: one of the three, cannot tell),
 * `ptb-invalid`, `destination-silent`, `timed-out`, and `loss-not-reproduced` (the search lost a size once, its control
 * answered, and that size got through when sent again: a random loss, which the search went on past).
 */

export interface TraceFacts {
  readonly family: IpFamily;
  readonly destination: string;
  readonly deviceMtu: number;
  readonly cachedPathMtu?: number;
}

function hopName(hops: readonly HopReport[], hop: number | undefined): string {
  if (hop === undefined) return 'an unknown hop';
  if (hop === 0) return 'this host';
  const address = hops.find((h) => h.hop === hop)?.address;
  return address === undefined ? `hop ${hop}` : `hop ${hop} (${address})`;
}

function blackHoleFinding(trace: HopTraceResult, facts: TraceFacts, hole: BlackHole): ProbeFinding {
  const fam = familyLabel(facts.family);
  const after = hopName(trace.hops, hole.afterHop);
  const before = hole.beforeHop === undefined ? 'the destination' : hopName(trace.hops, hole.beforeHop);
  const family = familyName(facts.family);
  const where = {
    afterHop: hole.afterHop,
    ...(hole.beforeHop === undefined ? {} : { beforeHop: hole.beforeHop }),
    ...(trace.hops.find((h) => h.hop === hole.afterHop)?.address === undefined ? {} : { address: trace.hops.find((h) => h.hop === hole.afterHop)!.address! }),
  };
  const fit = trace.pathMtu === undefined ? '' : ` ${trace.pathMtu}-byte packets still reach the destination (path MTU ${mtuWithLikelyCause(trace.pathMtu)}, found without ICMP).`;
  const lost = `${fam}: ${hole.size}-byte packets with DF vanish between ${after} and ${before} without any Packet Too Big, while small packets get through.`;
  if (hole.fragmentedCopyPassed === true) {
    return {
      code: 'ptb-missing',
      family,
      problem: true,
      confidence: 'medium',
      where,
      direction: 'to-target',
      sentence:
        `${lost}${fit} The same size without DF got through in fragments, so the router at ${after} knows its next link is smaller: ` +
        `either it does not send Packet Too Big, or a router between here and it drops the message on its way back (from here the two look the same).`,
    };
  }
  if (hole.fragmentedCopyPassed === false) {
    return {
      code: 'silent-mtu-mismatch',
      family,
      problem: true,
      confidence: 'medium',
      where,
      direction: 'to-target',
      sentence:
        `${lost}${fit} The same size without DF vanished too, so the router at ${after} believes it fits: most likely the two ends of the ` +
        `link to ${before} disagree on the MTU and the far end drops the packets without a word (or fragments are dropped there as well).`,
    };
  }
  return {
    code: 'black-hole',
    family,
    problem: true,
    confidence: 'low',
    where,
    direction: 'to-target',
    sentence:
      `${lost}${fit} Cannot tell from here whether the router at ${after} sends no Packet Too Big, the message is dropped on its way back, ` +
      `or the link's two ends disagree on the MTU${facts.family === 6 ? ' (IPv6 routers never fragment, so the test without DF is not possible)' : ''}.`,
  };
}

export function traceFindings(trace: HopTraceResult, facts: TraceFacts): ProbeFinding[] {
  const fam = familyLabel(facts.family);
  const findings: ProbeFinding[] = [];
  for (const hole of trace.blackHoles) findings.push(blackHoleFinding(trace, facts, hole));
  for (const p of trace.packetTooBig) {
    const at = hopName(trace.hops, p.hop);
    if (p.invalid) {
      findings.push({
        code: 'ptb-invalid',
        problem: true,
        confidence: 'high',
        where: { ...(p.hop === undefined ? {} : { afterHop: p.hop }), address: p.router },
        direction: 'to-target',
        sentence: `${fam}: ${at} sent a Packet Too Big reporting MTU ${p.mtu} for a ${p.probeSize}-byte packet, which cannot be right; hosts discard such messages (RFC 8899 section 4.6.2).`,
      });
      continue;
    }
    findings.push({
      code: 'path-mtu-reported',
      problem: false,
      confidence: p.estimated ? 'medium' : 'high',
      where: { ...(p.hop === undefined ? {} : { afterHop: p.hop }), address: p.router },
      direction: 'to-target',
      sentence: p.estimated
        ? `${fam}: ${at} sent an old-style "fragmentation needed" without an MTU for a ${p.probeSize}-byte packet; the RFC 1191 estimate is ${p.mtu}.`
        : `${fam}: ${at} reports an MTU of ${mtuWithLikelyCause(p.mtu)} for the link after it, and its Packet Too Big arrives: path MTU discovery works there.`,
    });
  }
  const notReproduced = trace.search?.notReproduced ?? [];
  if (notReproduced.length > 0) {
    const sizes = notReproduced.join(', ');
    const one = notReproduced.length === 1;
    const search = trace.search;
    const standing =
      search?.pathMtu === undefined
        ? ' The search could not finish, so the path MTU is not known.'
        : search.smallestFailing === undefined
          ? ` ${search.pathMtu}-byte packets reach the destination.`
          : ` The path MTU ${search.pathMtu} stands: ${search.smallestFailing}-byte probes were lost twice, each time while the small probe behind them was answered.`;
    findings.push({
      code: 'loss-not-reproduced',
      family: familyName(facts.family),
      problem: false,
      confidence: 'high',
      direction: 'to-target',
      sentence:
        `${fam}: ${one ? `a ${sizes}-byte probe` : `probes of ${sizes} bytes`} to ${facts.destination} ${one ? 'was' : 'were'} lost once while the small probe ` +
        `sent right behind ${one ? 'it' : 'each'} was answered, but got through when sent again: a random loss (congestion, a queue drop), not the ` +
        `path MTU, and the search did not count ${one ? 'it' : 'them'}.${standing}`,
    });
  }
  if (trace.destinationHop === undefined) {
    findings.push({
      code: 'destination-silent',
      problem: false,
      confidence: 'low',
      sentence:
        `${fam}: ${facts.destination} never answered within ${trace.hops.length} hops, so the path MTU to it cannot be told` +
        ` (a firewall may drop the probes; try another --protocol or --port).`,
    });
  } else if (trace.blackHoles.length === 0 && trace.pathMtu !== undefined) {
    const cached =
      facts.cachedPathMtu !== undefined && facts.cachedPathMtu !== trace.pathMtu
        ? ` (this host's kernel has ${facts.cachedPathMtu} cached for it, which the probes ignored)`
        : '';
    findings.push({
      code: 'path-clear',
      problem: false,
      confidence: 'high',
      sentence:
        trace.pathMtu >= Math.min(facts.deviceMtu, maximumProbeSize(facts.family))
          ? `${fam}: ${trace.pathMtu}-byte packets, ${trace.pathMtu >= facts.deviceMtu ? "the full size of this host's link" : `the largest an ${fam} packet can be (the link's MTU is ${facts.deviceMtu})`}, reach ${facts.destination} at hop ${trace.destinationHop}${cached}.`
          : `${fam}: the path MTU to ${facts.destination} is ${mtuWithLikelyCause(trace.pathMtu)}, and every smaller link says so with Packet Too Big${cached}.`,
    });
  }
  if (trace.timedOut) {
    findings.push({
      code: 'timed-out',
      problem: false,
      confidence: 'high',
      sentence: `${fam}: the run reached its time limit (--timeout) before the trace was complete; what is missing is not known.`,
    });
  }
  return findings;
}
