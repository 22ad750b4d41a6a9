import { familyFromName, familyLabel } from '../packet/ip-family.js';
import type { CheckerTest, TestEvidence, TestResult } from './test-result.js';
import { timelineTextLines } from './timeline-text.js';

/** The first words of each test's report: the first line of the report, whatever came before it in the answer. */
export const REPORT_TITLES: Readonly<Record<CheckerTest, string>> = {
  icmp: 'mtuscope ICMP Packet Too Big test',
  frag: 'mtuscope IP fragmentation test',
  download: 'mtuscope download path MTU test',
};

/** What the test did to the client's packets, in a sentence or two. */
export function describeTest(r: TestResult): string {
  const e = r.evidence;
  if (r.test === 'download') {
    return `The server sent you a response of at least 64 KB in full-size segments (${e.testMtu}-byte packets, DF set) and watched what came back: your acknowledgements, or an ICMP ${e.family === 'ipv4' ? '"fragmentation needed"' : 'Packet Too Big'} from a router on the way to you.`;
  }
  if (r.test === 'icmp') {
    return e.family === 'ipv4'
      ? `The server dropped every packet you sent with DF set that was larger than ${e.testMtu} bytes and answered it with ICMP "fragmentation needed" (type 3 code 4, next-hop MTU ${e.testMtu}), as a router before a smaller link would.`
      : `The server dropped every packet you sent that was larger than ${e.testMtu} bytes and answered it with ICMPv6 "Packet Too Big" (type 2, MTU ${e.testMtu}), as a router before a smaller link would.`;
  }
  return e.family === 'ipv4'
    ? `The server sent this response as IPv4 fragments of at most ${e.testMtu} bytes (DF cleared) and watched whether you acknowledged the data.`
    : `The server sent this response as IPv6 fragments (Fragment extension header) of at most ${e.testMtu} bytes and watched whether you acknowledged the data.`;
}

function bytesOrDash(v: number | null | undefined): string {
  return v === null || v === undefined ? '-' : `${v} bytes`;
}

function downloadRows(e: TestEvidence): [string, string][] {
  const d = e.download;
  if (d === undefined) return [];
  return [
    ['full-size packet', bytesOrDash(d.fullSize)],
    ['data segments sent', String(d.dataSegments)],
    ['full-size segments sent', String(d.fullSizeSegments)],
    ['full-size segments acknowledged', String(d.fullSizeAcknowledged)],
    ['full-size retransmissions', String(d.fullSizeRetransmissions)],
    ['largest packet before a Packet Too Big', bytesOrDash(d.largestBeforeSignal)],
    ['Packet Too Big messages received', String(d.packetTooBigReceived)],
    ['from router', d.router ?? '-'],
    ['MTU reported', bytesOrDash(d.reportedMtu)],
    ['largest packet after a Packet Too Big', bytesOrDash(d.largestAfterSignal)],
    ['path MTU the server assumed to finish', bytesOrDash(d.rescueMtu)],
    ['earlier path MTU flushed before the test', d.flushedBeforeStart ? 'yes' : 'no'],
    ['retransmissions by the server', String(e.retransmissions)],
  ];
}

/** The evidence as (what, value) rows, in the order the reports show them. */
export function evidenceRows(r: TestResult): [string, string][] {
  const e: TestEvidence = r.evidence;
  if (r.test === 'download') {
    return [
      ['address family', familyLabel(familyFromName(e.family))],
      ['client', `${e.clientAddress} port ${e.clientPort}`],
      ['server', `${e.serverAddress} port ${e.serverPort}`],
      ['MSS announced by the client', e.clientMss === null ? 'none' : String(e.clientMss)],
      ...downloadRows(e),
      ['time from Packet Too Big to smaller segments', e.reactionMs === null ? 'no reaction' : `${e.reactionMs} ms`],
      ['test duration', `${e.durationMs} ms`],
    ];
  }
  const common: [string, string][] = [
    ['address family', familyLabel(familyFromName(e.family))],
    ['client', `${e.clientAddress} port ${e.clientPort}`],
    ['server', `${e.serverAddress} port ${e.serverPort}`],
    ['MSS announced by the client', e.clientMss === null ? 'none' : String(e.clientMss)],
    ['largest packet from the client', `${e.largestClientPacket} bytes`],
    [r.test === 'icmp' ? 'test MTU' : 'largest fragment', `${e.testMtu} bytes`],
  ];
  const specific: [string, string][] =
    r.test === 'icmp'
      ? [
          ['oversized packets with DF (dropped)', String(e.oversizedPackets)],
          ['oversized packets without DF', String(e.oversizedWithoutDf)],
          ['Packet Too Big messages sent', String(e.packetTooBigSent)],
          ['Packet Too Big not sent (rate limit)', String(e.packetTooBigSuppressed)],
          ['largest packet after the reaction', e.largestPacketAfterReaction === null ? '-' : `${e.largestPacketAfterReaction} bytes`],
          ['retransmissions by the client', String(e.retransmissions)],
        ]
      : [
          ['segments sent as fragments', String(e.segmentsFragmented)],
          ['fragments sent', String(e.fragmentsSent)],
          ['fragments not sent (rate limit)', String(e.fragmentsSuppressed)],
          ['retransmissions by the server', String(e.retransmissions)],
        ];
  const stall = e.requestStall;
  const stalled: [string, string][] =
    stall === undefined
      ? []
      : [
          ['request line seen', stall.requestLineSeen ? 'yes' : 'no'],
          ['request bytes received in order', String(stall.bytesReceived)],
          ['highest request byte that arrived', String(stall.bytesSeen)],
        ];
  return [
    ...common,
    ...specific,
    ...stalled,
    ['time from first intervention to reaction', e.reactionMs === null ? 'no reaction' : `${e.reactionMs} ms`],
    ['test duration', `${e.durationMs} ms`],
  ];
}

/**
 * The curl-friendly report: what was tested, what was seen (`verbose`: packet by packet too), the verdict in a
 * sentence, what to do, the address of the result's own page when it was stored (`pageUrl`), RESULT line.
 */
export function renderTextReport(r: TestResult, pageUrl?: string, verbose = false): string {
  const table = evidenceRows(r);
  const width = Math.max(...table.map(([k]) => k.length));
  return [
    `${REPORT_TITLES[r.test]} (${familyLabel(familyFromName(r.evidence.family))}), started ${r.startedAt}`,
    '',
    `What was tested: ${describeTest(r)}`,
    '',
    'What was seen:',
    ...table.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    '',
    ...(verbose ? [...timelineTextLines(r.timeline), ''] : []),
    `Verdict: ${r.verdict}. ${r.explanation}`,
    '',
    'What to do:',
    ...r.advice.map((a) => `  - ${a}`),
    '',
    ...(pageUrl === undefined ? [] : [`This result's page, to send to your ISP or support team: ${pageUrl}`, '']),
    `RESULT: ${r.verdict}`,
    '',
  ].join('\n');
}
