/**
 * The findings of the cooperating-server tests (the article's four scenarios, docs/probe.md), as short pure functions
 * of what was measured: which probe datagrams the server acknowledged (scenario 2, toward the target), which replies of
 * which sizes arrived (scenario 4 over UDP, from the target), and the verdicts of the checker's HTTP tests (/icmp
 * scenario 1, /download scenario 3, /frag scenario 4 over TCP). Every sentence is built from those values; missing
 * evidence gives a "cannot tell" finding (problem: false, confidence low), never a guess.
 */
import { familyName, type IpFamily } from '../packet/ip-family.js';
import type { ProbeFinding } from './probe-finding.js';

/** One probe datagram of scenario 2 and whether the server acknowledged it. */
export interface ProbeOutcome {
  readonly probeId: number;
  readonly udpPayload: number;
  readonly ipSize: number;
  readonly fragmentCount: number;
  readonly fragmentSize: number;
  readonly acknowledged: boolean;
  /** The UDP payload length the server's socket received, when acknowledged. */
  readonly receivedLength?: number;
}

/** One reply size of scenario 4 and whether the reply arrived. */
export interface ReplyOutcome {
  readonly replySize: number;
  /** The reply as one IP packet: IP and UDP headers included, before fragmentation. */
  readonly ipSize: number;
  readonly arrived: boolean;
  /** The server refused to send it (its limits), so its absence says nothing about the path. */
  readonly refused?: string;
}

function list(values: readonly number[]): string {
  if (values.length <= 1) return values.join('');
  return `${values.slice(0, -1).join(', ')} and ${values[values.length - 1]}`;
}

/** The server did not answer the cookie exchange: scenarios 2 and 4 over UDP were not tested. */
export function noServerFinding(port: number, reason: string): ProbeFinding {
  return {
    code: 'no-cooperating-server',
    problem: false,
    confidence: 'low',
    sentence: `No cooperating mtuscope server answered on UDP port ${port}: scenarios 2 and 4 (UDP) not tested (${reason}).`,
  };
}

/** Scenario 2: fragments toward the target. */
export function fragmentsToTargetFinding(family: IpFamily, probes: readonly ProbeOutcome[]): ProbeFinding {
  const controls = probes.filter((p) => p.fragmentCount === 1);
  const fragmented = probes.filter((p) => p.fragmentCount > 1);
  const control = controls.find((p) => p.acknowledged);
  const base = { direction: 'to-target' as const };
  if (fragmented.length === 0) {
    return { ...base, code: 'udp-fragments-to-target-unknown', problem: false, confidence: 'low', sentence: `Cannot tell whether IPv${family} fragments reach the target: no fragmented datagram was sent.` };
  }
  const largest = Math.max(...fragmented.map((p) => p.fragmentSize));
  if (control === undefined) {
    const sizes = controls.map((p) => p.ipSize);
    return {
      ...base,
      code: 'udp-fragments-to-target-unknown',
      problem: false,
      confidence: 'low',
      sentence:
        `Cannot tell whether IPv${family} fragments reach the target: ` +
        (sizes.length === 0 ? 'no unfragmented control was sent.' : `even the unfragmented control datagram of ${list(sizes)} bytes got no acknowledgement, so the loss is not the fragments' own.`),
    };
  }
  const arrived = fragmented.filter((p) => p.acknowledged);
  const lost = fragmented.filter((p) => !p.acknowledged);
  const counts = (ps: readonly ProbeOutcome[]): string => list(ps.map((p) => p.fragmentCount));
  const controlText = `the unfragmented control of ${control.ipSize} bytes arrived`;
  if (lost.length === 0) {
    return {
      ...base,
      code: 'udp-fragments-to-target-pass',
      problem: false,
      confidence: 'high',
      sentence: `IPv${family} fragments reach the target: UDP datagrams of ${counts(arrived)} fragments (at most ${largest} bytes each, up to ${Math.max(...arrived.map((p) => p.ipSize))} bytes in all) arrived whole, and ${controlText}.`,
    };
  }
  if (arrived.length === 0) {
    return {
      ...base,
      code: 'udp-fragments-to-target-dropped',
      problem: true,
      confidence: 'high',
      sentence:
        `IPv${family} fragments toward the target are dropped: none of the UDP datagrams sent as ${counts(lost)} fragments (at most ${largest} bytes each) arrived, while ${controlText}. ` +
        'Large UDP messages from this host (DNS over UDP with large EDNS answers, VPNs over UDP, fragmented QUIC tunnels) fail toward this target.',
    };
  }
  return {
    ...base,
    code: 'udp-fragments-to-target-partial',
    problem: true,
    confidence: 'medium',
    sentence: `Some IPv${family} fragments toward the target are lost: datagrams of ${counts(arrived)} fragments arrived, those of ${counts(lost)} fragments did not (at most ${largest} bytes each), while ${controlText}.`,
  };
}

/** Scenario 4 over UDP: replies of DNS-like sizes from the target; `cookieArrived` is the small-packet control. */
/**
 * `linkMtu`: the MTU of this host's link toward the target. A reply larger than it cannot have arrived whole, so only
 * such replies prove (or disprove) that fragments get here; on a larger link (loopback, jumbo frames) the same sizes
 * may have come whole.
 */
export function fragmentsFromTargetFinding(family: IpFamily, replies: readonly ReplyOutcome[], cookieArrived: boolean, linkMtu: number): ProbeFinding {
  const base = { direction: 'from-target' as const };
  const tried = replies.filter((r) => r.refused === undefined);
  const unknown = (why: string): ProbeFinding => ({ ...base, code: 'udp-fragments-from-target-unknown', problem: false, confidence: 'low', sentence: `Cannot tell whether IPv${family} fragments from the target reach this host: ${why}.` });
  if (!cookieArrived) return unknown('not even the 40-byte cookie came back');
  if (tried.length === 0) {
    const refused = replies.filter((r) => r.refused !== undefined);
    return unknown(refused.length === 0 ? 'no reply was asked for' : `the server refused every reply size asked for (${refused.map((r) => `${r.replySize}: ${r.refused}`).join('; ')})`);
  }
  const fragmented = tried.filter((r) => r.ipSize > linkMtu);
  const maybeWhole = tried.filter((r) => r.ipSize <= linkMtu);
  const sizes = (rs: readonly ReplyOutcome[]): string => list(rs.map((r) => r.replySize));
  const lostWhole = maybeWhole.filter((r) => !r.arrived);
  const arrivedFragmented = fragmented.filter((r) => r.arrived);
  const lostFragmented = fragmented.filter((r) => !r.arrived);
  const wholeText = maybeWhole.length === 0 ? '' : `, while the ${maybeWhole.length === 1 ? 'reply' : 'replies'} of ${sizes(maybeWhole)} bytes that can travel unfragmented arrived`;
  if (lostWhole.length === 0 && lostFragmented.length === 0) {
    return {
      ...base,
      code: 'udp-fragments-from-target-pass',
      problem: false,
      confidence: fragmented.length === 0 ? 'low' : 'high',
      sentence:
        `UDP replies of ${sizes(tried)} bytes from the target all arrived` +
        (fragmented.length === 0
          ? `, but none was larger than this host's link MTU of ${linkMtu} bytes on the wire, so they need not have been fragmented: cannot tell about fragments.`
          : `; those of ${sizes(fragmented)} bytes (more than this host's link MTU of ${linkMtu} bytes on the wire) can only have come as IP fragments, so IPv${family} fragments from the target reach this host.`),
    };
  }
  if (lostWhole.length > 0) {
    if (arrivedFragmented.length > 0) return unknown(`the replies of ${sizes(lostWhole)} bytes were lost while larger ones of ${sizes(arrivedFragmented)} bytes arrived: losses that do not follow size`);
    return {
      ...base,
      code: 'udp-large-replies-from-target-lost',
      problem: true,
      confidence: 'medium',
      sentence:
        `Large UDP replies from the target do not arrive: none of ${sizes(lostWhole.concat(lostFragmented))} bytes came back while the 40-byte cookie did. ` +
        `Even the ${sizes(lostWhole)}-byte ${lostWhole.length === 1 ? 'reply' : 'replies'}, which can travel unfragmented, were lost, so this may be a smaller path MTU rather than fragments: cannot tell which.`,
    };
  }
  if (arrivedFragmented.length === 0) {
    return {
      ...base,
      code: 'udp-fragments-from-target-dropped',
      problem: true,
      confidence: maybeWhole.length === 0 ? 'medium' : 'high',
      sentence:
        `IPv${family} fragments from the target are dropped before this host: none of the UDP replies of ${sizes(lostFragmented)} bytes (sent as IP fragments) arrived${wholeText}. ` +
        'Large DNS answers over UDP and other fragmented UDP toward this host fail; DNS falls back to TCP only after a timeout.',
    };
  }
  return {
    ...base,
    code: 'udp-fragments-from-target-partial',
    problem: true,
    confidence: 'medium',
    sentence: `Some IPv${family} fragments from the target are lost: replies of ${sizes(arrivedFragmented)} bytes arrived as fragments, those of ${sizes(lostFragmented)} bytes did not${wholeText}.`,
  };
}

export type CheckerHttpTest = 'icmp' | 'download' | 'frag';

/** What one HTTP test of the checker gave. */
export interface HttpTestOutcome {
  readonly test: CheckerHttpTest;
  /** The verdict the server sent (docs/verdicts.md), when it sent one. */
  readonly verdict?: string;
  /** Why there is no verdict: the HTTP error, the connection failure, the time-out. */
  readonly error?: string;
  readonly ms: number;
  /** The server's page of this result, when it stored one. */
  readonly resultUrl?: string;
}

const HTTP_SCENARIO: Readonly<Record<CheckerHttpTest, { scenario: number; what: string; direction: 'to-target' | 'from-target' }>> = {
  icmp: { scenario: 1, what: 'Packet Too Big from the target for this host\'s large packets', direction: 'to-target' },
  download: { scenario: 3, what: 'path MTU discovery for the target\'s full-size packets toward this host', direction: 'from-target' },
  frag: { scenario: 4, what: 'TCP data from the target as IP fragments', direction: 'from-target' },
};

/** A finding from one HTTP test's verdict (the verdicts of docs/verdicts.md). */
export function httpTestFinding(family: IpFamily, o: HttpTestOutcome): ProbeFinding {
  const { scenario, what, direction } = HTTP_SCENARIO[o.test];
  const where = `/${o.test} (scenario ${scenario}, IPv${family})`;
  const code = (suffix: string): string => `http-${o.test}-${suffix}`;
  const link = o.resultUrl === undefined ? '' : ` (${o.resultUrl})`;
  if (o.verdict === undefined) {
    return { code: code('not-run'), problem: false, confidence: 'low', direction, sentence: `Cannot tell about ${what}: ${where} gave no verdict (${o.error ?? 'no answer'}).` };
  }
  const finding = (problem: boolean, confidence: ProbeFinding['confidence'], sentence: string): ProbeFinding => ({ code: code(o.verdict ?? ''), problem, confidence, direction, sentence: `${where}: ${sentence}${link}` });
  switch (`${o.test}:${o.verdict}`) {
    case 'icmp:pass':
      return finding(false, 'high', 'the Packet Too Big of the target reached this host and it re-sent in smaller packets.');
    case 'icmp:pass-probing':
      return finding(false, 'medium', 'the Packet Too Big did not reach this host or was ignored, but its own MTU probing found a size that fits.');
    case 'icmp:blackhole':
      return finding(true, 'high', 'this host kept sending packets too big for the path: ICMP Packet Too Big does not reach it (or it ignores it), a black hole for large uploads.');
    case 'icmp:no-df':
      return finding(false, 'high', 'this host sends large packets without DF: path MTU discovery is off, so routers fragment them instead.');
    case 'download:pass':
      return finding(false, 'high', 'a router toward this host reported its smaller MTU and the target\'s segments shrank.');
    case 'download:clear':
      return finding(false, 'high', 'full-size packets from the target reach this host: nothing smaller on the path toward it.');
    case 'download:blackhole':
      return finding(true, 'high', 'the target\'s full-size packets were lost and no Packet Too Big reached it: a black hole for downloads toward this host.');
    case 'frag:pass':
      return finding(false, 'high', 'TCP data that reached this host only as IP fragments was acknowledged: fragments from the target arrive.');
    case 'frag:blocked':
      return finding(true, 'high', 'IP fragments from the target did not reach this host (the server then sent the data whole).');
    default:
      return { code: code(o.verdict), problem: false, confidence: 'low', direction, sentence: `Cannot tell about ${what}: ${where} says "${o.verdict}".${link}` };
  }
}

/**
 * The Packet Too Big the server sent on request (ptb-request): `arrived`; `lost` (the server said with its ptb-sent
 * control, over UDP, that it sent one, and that control arrived while the Packet Too Big never did); `not-tested`
 * (no control either, an error from the server, or no cooperating server), with the reason.
 */
export type PtbFromTarget = 'arrived' | 'lost' | 'not-tested';

export interface PtbFromTargetOutcome {
  readonly result: PtbFromTarget;
  /** Why not tested, or what was lost. */
  readonly reason?: string;
  /** The ptb-request's UDP payload size. */
  readonly requestSize: number;
  readonly requestsSent: number;
  /** ptb-sent controls that arrived. */
  readonly controlsArrived: number;
  /** What the server said it sent (from its ptb-sent): the MTU reported, the bytes quoted, the packet's size. */
  readonly reportedMtu?: number;
  readonly quotedLength?: number;
  readonly packetSize?: number;
  /** From the first ptb-request to the Packet Too Big's arrival. */
  readonly ms?: number;
}

/**
 * Whether a Packet Too Big from the target crosses the path back to this host: `ptb-from-target-arrives` (ok),
 * `ptb-from-target-dropped` (a problem: whatever filters it on the way back also eats every router's Packet Too Big
 * about a smaller link toward the target), `ptb-from-target-unknown` (cannot tell). The diagnosis pairs the first two
 * with a black hole of the trace (ptb-return-diagnosis.ts).
 */
export function ptbFromTargetFinding(family: IpFamily, server: string, outcome: PtbFromTargetOutcome): ProbeFinding {
  const fam = `IPv${family}`;
  const message = family === 4 ? 'an ICMP "fragmentation needed"' : 'an ICMPv6 Packet Too Big';
  const base = { direction: 'from-target' as const, family: familyName(family) };
  switch (outcome.result) {
    case 'arrived':
      return {
        ...base,
        code: 'ptb-from-target-arrives',
        problem: false,
        confidence: 'high',
        sentence: `${fam}: ${message} that the server at ${server} sent toward this host arrived${outcome.ms === undefined ? '' : ` (${Math.round(outcome.ms)} ms after the request)`}: the path back lets forwarded Packet Too Big through.`,
      };
    case 'lost':
      return {
        ...base,
        code: 'ptb-from-target-dropped',
        problem: true,
        confidence: 'high',
        sentence:
          `${fam}: ${message} the server at ${server} sent toward this host did not arrive (${outcome.requestsSent} sent, none arrived) while its UDP answers did ` +
          `(${outcome.controlsArrived} of its ptb-sent controls): something on the path back drops ICMP Packet Too Big / fragmentation needed, so every router's ` +
          `message about a smaller link on the way to the target is lost too.`,
      };
    case 'not-tested':
      return {
        ...base,
        code: 'ptb-from-target-unknown',
        problem: false,
        confidence: 'low',
        sentence: `${fam}: cannot tell whether a Packet Too Big from the target reaches this host: ${outcome.reason ?? 'not tested'}.`,
      };
  }
}
