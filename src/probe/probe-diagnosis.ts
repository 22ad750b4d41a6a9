import type { FindingConfidence, ProbeFinding } from './probe-finding.js';
import { refineBlackHoles } from './ptb-return-diagnosis.js';

/**
 * The run's diagnosis, pure: every part's findings ordered (problems first, surest first, then by place on the path),
 * duplicates merged, and one paragraph in plain words: what is broken and where, which direction, what it means for
 * TCP, UDP/QUIC and DNS, and what to do; or that nothing is wrong, or that the evidence cannot tell. A black hole of
 * the trace is first refined by the cooperating server's Packet Too Big test of its family (ptb-return-diagnosis.ts).
 */

export interface Diagnosis {
  /** Exit status 1 when true: some finding is a problem. */
  readonly problem: boolean;
  /** Of the finding the paragraph leads with; `low` when nothing could be concluded. */
  readonly confidence: FindingConfidence;
  readonly paragraph: string;
  /** Every finding, ordered, duplicates (same code, place and sentence) merged. */
  readonly findings: readonly ProbeFinding[];
}

const RANK: Readonly<Record<FindingConfidence, number>> = { high: 0, medium: 1, low: 2 };

function key(f: ProbeFinding): string {
  return `${f.code}|${f.where?.afterHop ?? ''}|${f.where?.beforeHop ?? ''}|${f.where?.address ?? ''}|${f.sentence}`;
}

export function orderFindings(findings: readonly ProbeFinding[]): ProbeFinding[] {
  const seen = new Set<string>();
  const unique = findings.filter((f) => {
    const k = key(f);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return unique
    .map((f, i) => ({ f, i }))
    .sort(
      (a, b) =>
        Number(b.f.problem) - Number(a.f.problem) ||
        RANK[a.f.confidence] - RANK[b.f.confidence] ||
        (a.f.where?.afterHop ?? Infinity) - (b.f.where?.afterHop ?? Infinity) ||
        a.i - b.i,
    )
    .map(({ f }) => f);
}

/** What a problem toward the target means for the traffic that crosses it, and what to do, by finding code. */
function consequences(f: ProbeFinding): string {
  const hop = f.where?.afterHop;
  const place = hop === undefined ? 'on the path' : hop === 0 ? 'on this host\'s own link' : `at or just after hop ${hop}${f.where?.address === undefined ? '' : ` (${f.where.address})`}`;
  switch (f.code) {
    case 'ptb-missing':
    case 'black-hole':
    case 'ptb-not-sent':
    case 'ptb-dropped-on-return':
    case 'silent-mtu-mismatch': {
      const fix =
        f.code === 'silent-mtu-mismatch'
          ? `make both ends of the link ${place} use the same MTU`
          : f.code === 'ptb-not-sent'
            ? `have the operator of the router ${place} make it send ICMP "fragmentation needed" / Packet Too Big (its own firewall's OUTPUT rules and ICMP settings)`
            : f.code === 'ptb-dropped-on-return'
              ? `find the router on the way back that drops forwarded ICMP "fragmentation needed" / Packet Too Big (most likely one between hop ${hop ?? '?'} and this host, or this host's own INPUT rules) and let it through (RFC 4890)`
              : `have the operator ${place} send and let through ICMP "fragmentation needed" / Packet Too Big (and not filter it on the way back)`;
      return (
        `For TCP this is a path MTU black hole: connections that send full-size segments in this direction stall after the handshake unless ` +
        `the MSS is clamped on the way or the sender probes (Linux net.ipv4.tcp_mtu_probing). UDP and QUIC datagrams above the path MTU are ` +
        `lost without a trace (QUIC copes only if it searches the size itself), and so are large DNS messages over UDP sent this way, ` +
        `which then fall back to TCP after a timeout. To fix it, ${fix}; until then, lower the MTU of this host's route or clamp the TCP MSS ` +
        `to what the search found.`
      );
    }
    case 'ptb-from-target-dropped':
      return (
        `Any link on the way to the target that is smaller than what this host sends becomes a path MTU black hole: TCP stalls unless ` +
        `the MSS is clamped, large UDP/QUIC datagrams and DNS answers sent from here are lost. To fix it, find the router or firewall on the ` +
        `way back (or this host's own INPUT rules) that drops ICMP "fragmentation needed" / Packet Too Big and let it through (RFC 4890).`
      );
    default:
      return '';
  }
}

export function diagnose(findings: readonly ProbeFinding[]): Diagnosis {
  const ordered = orderFindings(refineBlackHoles(findings));
  const problems = ordered.filter((f) => f.problem);
  const first = problems[0];
  if (first !== undefined) {
    const others = problems.length > 1 ? ` ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''} below.` : '';
    const means = consequences(first);
    return {
      problem: true,
      confidence: first.confidence,
      paragraph: `Problem (confidence ${first.confidence}): ${first.sentence}${means === '' ? '' : ` ${means}`}${others}`,
      findings: ordered,
    };
  }
  const clear = ordered.filter((f) => f.code === 'path-clear');
  const cannotTell = ordered.find((f) => f.code === 'destination-silent' || f.code === 'timed-out');
  if (clear.length > 0 && cannotTell === undefined) {
    return {
      problem: false,
      confidence: clear.every((f) => f.confidence === 'high') ? 'high' : 'medium',
      paragraph:
        `Healthy: ${clear.map((f) => f.sentence).join(' ')} Large TCP segments, UDP and QUIC datagrams and DNS answers up to that size ` +
        `cross the path toward the target. Nothing to do.`,
      findings: ordered,
    };
  }
  return {
    problem: false,
    confidence: 'low',
    paragraph: `Cannot tell: ${(cannotTell ?? ordered[0])?.sentence ?? 'no part of the run produced evidence.'} No problem was found, but the run could not show that there is none.`,
    findings: ordered,
  };
}
