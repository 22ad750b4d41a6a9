/**
 * The server test's conclusions as ProbeFindings, one per tested family (and one per family that could not be
 * tested), each sentence built from the tally of the connections' verdicts:
 *
 * - `server-honours-ptb` (healthy): every connection with a verdict honoured Packet Too Big;
 * - `server-ptb-partly-ignored` (problem): some honoured it, some ignored it: what ECMP or anycast without a relay does,
 *   delivering the message to a server other than the one carrying the connection;
 * - `server-ignores-ptb` (problem): every connection with a verdict ignored it: a black hole toward every client
 *   behind a link smaller than the server's packets;
 * - `server-test-cannot-tell` (no problem, low confidence): no connection gave a verdict; the reasons are counted.
 */
import { familyLabel, type IpFamily } from '../packet/ip-family.js';
import type { ProbeFinding } from './probe-finding.js';
import type { ServerTestFamilyResult } from './server-test-report.js';
import type { CannotTellReason } from './server-test-verdict.js';

const REASON_WORDS: Readonly<Record<CannotTellReason, string>> = {
  'no-full-size': 'no packet bigger than the test MTU',
  'no-df': "big packets without Don't Fragment",
  'no-resend': 'nothing re-sent after our Packet Too Big',
  'connection-failed': 'with a failed download',
};

/** A duration for people: one decimal below 10 ms. */
export function ms(n: number): string {
  return n < 10 ? `${n.toFixed(1)} ms` : `${Math.round(n)} ms`;
}

function reasons(f: ServerTestFamilyResult): string {
  const tally = new Map<CannotTellReason, number>();
  for (const c of f.connections) if (c.verdict.verdict === 'cannot-tell') tally.set(c.verdict.reason, (tally.get(c.verdict.reason) ?? 0) + 1);
  return [...tally].map(([r, n]) => `${n} ${REASON_WORDS[r]}`).join(', ');
}

function largestIgnored(f: ServerTestFamilyResult): number {
  return Math.max(0, ...f.connections.filter((c) => c.verdict.verdict === 'ignored').map((c) => c.evidence.largestPacket));
}

export function familyFinding(f: ServerTestFamilyResult, port: number): ProbeFinding {
  const who = `${familyLabel(f.family)}: the server at ${f.address} port ${port}`;
  const n = f.connections.length;
  const unsure = f.cannotTell === 0 ? '' : ` (${f.cannotTell} cannot tell: ${reasons(f)})`;
  const reaction = f.reactionMs === undefined ? '' : `, ${ms(f.reactionMs.median)} after our message (median; slowest ${ms(f.reactionMs.max)})`;
  const where = { address: f.address };
  switch (f.summary) {
    case 'honours':
      return {
        code: 'server-honours-ptb',
        problem: false,
        confidence: 'high',
        where,
        direction: 'from-target',
        sentence: `${who} honoured Packet Too Big on ${f.honoured} of ${n} connections: it re-sent in smaller packets${reaction}${unsure}.`,
      };
    case 'partly':
      return {
        code: 'server-ptb-partly-ignored',
        problem: true,
        confidence: 'high',
        where,
        direction: 'from-target',
        sentence:
          `${who} honoured Packet Too Big on ${f.honoured} of ${n} connections and ignored it on ${f.ignored}, re-sending ${largestIgnored(f)}-byte packets${unsure}. ` +
          'Connections that differ only in their port get different answers, as behind ECMP or anycast when the message reaches another server than the one carrying the connection (mtuscope relay on the router or the servers delivers it to the right one); clients behind a smaller link see those connections stall.',
      };
    case 'ignores':
      return {
        code: 'server-ignores-ptb',
        problem: true,
        confidence: 'high',
        where,
        direction: 'from-target',
        sentence:
          `${who} ignored Packet Too Big on all ${f.ignored} connections that gave a verdict, re-sending ${largestIgnored(f)}-byte packets${unsure}: ` +
          'a black hole toward every client behind a link smaller than that (the message is dropped on the way to the server, by the server\'s firewall, or sent to another server).',
      };
    case 'cannot-tell':
      return {
        code: 'server-test-cannot-tell',
        problem: false,
        confidence: 'low',
        where,
        direction: 'from-target',
        sentence: `${who}: cannot tell whether it honours Packet Too Big: none of ${n} connections gave a verdict (${reasons(f)}).`,
      };
  }
}

export function serverTestFindings(
  families: readonly ServerTestFamilyResult[],
  port: number,
  untested: readonly { readonly family: IpFamily; readonly reason: string }[],
): ProbeFinding[] {
  return [
    ...families.map((f) => familyFinding(f, port)),
    ...untested.map(
      (u): ProbeFinding => ({
        code: 'server-test-cannot-tell',
        problem: false,
        confidence: 'low',
        direction: 'from-target',
        sentence: `${familyLabel(u.family)}: cannot tell whether the server honours Packet Too Big: ${u.reason}.`,
      }),
    ),
  ];
}
