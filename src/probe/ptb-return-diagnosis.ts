import type { ProbeFinding } from './probe-finding.js';

/**
 * Tells apart the two causes a trace alone cannot, pure: large packets vanish after hop k and no Packet Too Big comes
 * back (`ptb-missing`, IPv4, the router knows its next link is smaller; `black-hole`, IPv6, a silent link-MTU mismatch
 * also possible). Either the router at hop k sends none (or its own firewall drops it: an OUTPUT rule), or something
 * on the way back drops it (a FORWARD rule on a router between hop k and this host). The cooperating server's test
 * (`ptb-from-target-*` of the same family, cooperating-server-verdict.ts) sends a Packet Too Big from the target back
 * along the path, across the same routers as hop k's message and more:
 *
 * - `ptb-from-target-arrives`: the way back lets forwarded Packet Too Big through, so hop k's message was never sent
 *   (or its own firewall dropped it) → `ptb-not-sent`, confidence raised (IPv4 medium → high; IPv6 low → medium, the
 *   mismatch still possible since IPv6 routers never fragment and so cannot show that they know).
 * - `ptb-from-target-dropped`: the way back drops forwarded Packet Too Big, so hop k most likely sends one and it is
 *   lost the same way → `ptb-dropped-on-return`, confidence medium (the filter may sit beyond hop k, where hop k's
 *   message never passes, and the return path may differ from the forward one).
 * - neither (no server, or its test could not be done): the finding stays as it is ("cannot tell which").
 *
 * The refined finding keeps the trace finding's sentence (what was measured) and adds what the server's test shows.
 */

const BLACK_HOLE_CODES: ReadonlySet<string> = new Set(['ptb-missing', 'black-hole']);

function hopText(f: ProbeFinding): string {
  const hop = f.where?.afterHop;
  if (hop === undefined) return 'the router before the loss';
  if (hop === 0) return 'this host';
  return `the router at hop ${hop}${f.where?.address === undefined ? '' : ` (${f.where.address})`}`;
}

export function refineWithReturnPath(hole: ProbeFinding, test: ProbeFinding): ProbeFinding {
  const router = hopText(hole);
  const ipv6 = hole.code === 'black-hole';
  const lead = `${hole.sentence} The target's mtuscope server ${ipv6 ? 'narrows it down' : 'tells the two apart'}:`;
  if (test.code === 'ptb-from-target-arrives') {
    return {
      ...hole,
      code: 'ptb-not-sent',
      confidence: ipv6 ? 'medium' : 'high',
      sentence:
        `${lead} a Packet Too Big it sent toward this host crossed the same path back, ` +
        `so ${router} does not send Packet Too Big (or its own firewall drops it)` +
        (ipv6 ? ', unless the two ends of its next link disagree on the MTU (over IPv6 the prober cannot tell that from a router that sends nothing).' : '.'),
    };
  }
  return {
    ...hole,
    code: 'ptb-dropped-on-return',
    confidence: 'medium',
    sentence:
      `${lead} a Packet Too Big it sent toward this host did not arrive while its UDP answers did, ` +
      `so ${router} most likely sends one, but a router on the way back drops forwarded Packet Too Big (the target's own message was lost the same way).`,
  };
}

/**
 * Every `ptb-missing` / `black-hole` finding refined by the `ptb-from-target-arrives` / `-dropped` finding of its family;
 * the other findings as they are. Findings without a family are never paired.
 */
export function refineBlackHoles(findings: readonly ProbeFinding[]): ProbeFinding[] {
  return findings.map((f) => {
    if (!BLACK_HOLE_CODES.has(f.code) || f.family === undefined) return f;
    const test = findings.find((t) => t.family === f.family && (t.code === 'ptb-from-target-arrives' || t.code === 'ptb-from-target-dropped'));
    return test === undefined ? f : refineWithReturnPath(f, test);
  });
}
