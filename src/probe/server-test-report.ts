/**
 * The server test's report: per address family, each connection with its verdict and evidence, the tally over the
 * connections, and its findings; rendered as text (one line per connection with fixed columns, a summary per family)
 * and as JSON (the schema is in docs/probe.md, section "--server-test"). Pure: built from measured values only.
 */
import { familyLabel, familyName, type IpFamily, type IpFamilyName } from '../packet/ip-family.js';
import { percentile } from '../util/percentile.js';
import type { ProbeFinding } from './probe-finding.js';
import type { ServerTestEvidence } from './server-test-connection.js';
import { ms, serverTestFindings } from './server-test-findings.js';
import type { CannotTellReason, ServerTestVerdict, ServerTestVerdictName } from './server-test-verdict.js';

/** How the download of one connection went, as the HTTP client saw it. */
export interface HttpOutcome {
  /** The response's status code, when its head arrived. */
  readonly status: number | undefined;
  /** Body bytes received before the connection ended or was cut short. */
  readonly bytes: number;
  /** Why the download failed (connect, TLS, reset, timeout); absent when it ended well or we cut it short. */
  readonly error: string | undefined;
  /** True when we ended it ourselves once the verdict was settled. */
  readonly cutShort: boolean;
  /** https: whether the TLS handshake had completed when the download ended; undefined for http. */
  readonly tlsCompleted: boolean | undefined;
}

export interface ServerTestConnectionResult {
  /** 1-based, in the order the connections ran. */
  readonly index: number;
  /** The client's port; undefined when the connection never came up. */
  readonly localPort: number | undefined;
  readonly ptbMtu: number;
  readonly verdict: ServerTestVerdict;
  readonly evidence: ServerTestEvidence;
  readonly http: HttpOutcome;
  readonly durationMs: number;
}

/** honours: every conclusive connection honoured; ignores: none did; partly: some did, some did not. */
export type FamilySummary = 'honours' | 'ignores' | 'partly' | 'cannot-tell';

export interface ServerTestFamilyResult {
  readonly family: IpFamily;
  readonly address: string;
  readonly connections: readonly ServerTestConnectionResult[];
  readonly honoured: number;
  readonly ignored: number;
  readonly cannotTell: number;
  /** Reaction times of the honoured connections: median and largest, ms; undefined when none honoured. */
  readonly reactionMs: { readonly median: number; readonly max: number } | undefined;
  readonly summary: FamilySummary;
}

export interface ServerTestReport {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The smallest test MTU (that of the last connection); earlier connections' are above it. */
  readonly ptbMtu: number;
  readonly windowMs: number;
  readonly families: readonly ServerTestFamilyResult[];
  /** Families asked for that the host has no address of (or that could not be tested), with the reason. */
  readonly untested: readonly { readonly family: IpFamily; readonly reason: string }[];
  readonly findings: readonly ProbeFinding[];
}

export function familyResult(family: IpFamily, address: string, connections: readonly ServerTestConnectionResult[]): ServerTestFamilyResult {
  const count = (v: ServerTestVerdictName): number => connections.filter((c) => c.verdict.verdict === v).length;
  const honoured = count('honoured');
  const ignored = count('ignored');
  const reactions = connections.flatMap((c) => (c.verdict.verdict === 'honoured' ? [c.verdict.reactionMs] : []));
  const summary: FamilySummary = honoured > 0 && ignored > 0 ? 'partly' : honoured > 0 ? 'honours' : ignored > 0 ? 'ignores' : 'cannot-tell';
  return {
    family,
    address,
    connections,
    honoured,
    ignored,
    cannotTell: count('cannot-tell'),
    reactionMs: reactions.length === 0 ? undefined : { median: percentile(reactions, 50)!, max: Math.max(...reactions) },
    summary,
  };
}

export function serverTestReport(p: Omit<ServerTestReport, 'findings'>): ServerTestReport {
  return { ...p, findings: serverTestFindings(p.families, p.port, p.untested) };
}

/** Whether the report found a problem (exit status 1). */
export function serverTestFoundProblem(r: ServerTestReport): boolean {
  return r.findings.some((f) => f.problem);
}

// --- text ---

const PLURAL = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** What a connection's verdict rests on, in words built from its evidence. */
export function connectionWords(c: ServerTestConnectionResult): string {
  const e = c.evidence;
  const v = c.verdict;
  switch (v.verdict) {
    case 'honoured': {
      const slow = e.fullSizeRetransmissions > 0 ? `, after re-sending ${PLURAL(e.fullSizeRetransmissions, 'time')} at full size` : '';
      return `re-sent in packets of at most ${e.largestSmallerResend ?? '?'} bytes ${ms(v.reactionMs)} after the first of ${PLURAL(e.packetTooBigSent, 'Packet Too Big', 'Packet Too Big')}${slow}`;
    }
    case 'ignored':
      return `re-sent dropped data at full size ${PLURAL(e.fullSizeRetransmissions, 'time')} (largest ${e.largestPacket} bytes) after ${PLURAL(e.packetTooBigSent, 'Packet Too Big', 'Packet Too Big')}, never smaller`;
    case 'cannot-tell':
      return `cannot tell: ${reasonWords(v.reason, c)}`;
  }
}

function reasonWords(reason: CannotTellReason, c: ServerTestConnectionResult): string {
  const e = c.evidence;
  const mss = e.serverMss === undefined ? 'its MSS not seen' : `MSS ${e.serverMss}`;
  const http = c.http.status === undefined ? `${c.http.bytes} bytes` : `HTTP ${c.http.status}, ${c.http.bytes} bytes`;
  switch (reason) {
    case 'no-full-size':
      return (
        `the server sent no packet bigger than ${c.ptbMtu} bytes (largest ${e.largestPacket}, ${mss}, ${PLURAL(e.segments, 'data packet')}, ${http}): ` +
        'a small object, a small MSS, or a path MTU it remembers from an earlier test'
      );
    case 'no-df':
      return `the server's ${PLURAL(e.noDf, 'packet')} bigger than ${c.ptbMtu} bytes came without Don't Fragment: routers fragment them rather than answer`;
    case 'no-resend':
      return `after ${PLURAL(e.packetTooBigSent, 'Packet Too Big', 'Packet Too Big')} the server re-sent nothing it had sent before (${http}${c.http.error === undefined ? '' : `, ${c.http.error}`})`;
    case 'connection-failed':
      if (e.segments === 0) return `no data came from the server (${c.http.error ?? http})`;
      return (
        `the download failed before any packet bigger than ${c.ptbMtu} bytes came (${PLURAL(e.segments, 'data packet')}, largest ${e.largestPacket} bytes, ${http})` +
        `${c.http.error === undefined ? '' : `: ${c.http.error}`}`
      );
  }
}

function pad(s: string, n: number): string {
  return s.padEnd(n);
}

export function serverTestText(r: ServerTestReport): string {
  const lines: string[] = [`server test ${r.url}: Packet Too Big reporting ${r.ptbMtu} bytes and up, reaction window ${r.windowMs / 1000} s`];
  for (const f of r.families) {
    lines.push('', `${familyLabel(f.family)} ${f.address} port ${r.port}, ${PLURAL(f.connections.length, 'connection')}`);
    lines.push(` ${pad('#', 3)} ${pad('port', 6)} ${pad('mtu', 5)} ${pad('largest', 8)} ${pad('ptb', 4)} ${pad('verdict', 12)} detail`);
    for (const c of f.connections) {
      lines.push(
        ` ${pad(String(c.index), 3)} ${pad(c.localPort === undefined ? '-' : String(c.localPort), 6)} ${pad(String(c.ptbMtu), 5)} ` +
          `${pad(String(c.evidence.largestPacket), 8)} ${pad(String(c.evidence.packetTooBigSent), 4)} ${pad(c.verdict.verdict, 12)} ${connectionWords(c)}`,
      );
    }
    lines.push(`${familyLabel(f.family)}: ${familySummaryWords(f)}`);
  }
  for (const u of r.untested) lines.push('', `${familyLabel(u.family)}: not tested: ${u.reason}`);
  lines.push('');
  for (const finding of r.findings) lines.push(`${finding.problem ? 'PROBLEM' : 'ok'}: ${finding.sentence}`);
  return `${lines.join('\n')}\n`;
}

export function familySummaryWords(f: ServerTestFamilyResult): string {
  const reaction = f.reactionMs === undefined ? '' : ` (reaction median ${ms(f.reactionMs.median)}, slowest ${ms(f.reactionMs.max)})`;
  return `${f.honoured} of ${f.connections.length} connections honoured Packet Too Big${reaction}, ${f.ignored} ignored it, ${f.cannotTell} cannot tell`;
}

// --- JSON ---

export interface ServerTestJson {
  readonly test: 'server-test';
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly ptbMtu: number;
  readonly windowMs: number;
  readonly families: readonly {
    readonly family: IpFamilyName;
    readonly address: string;
    readonly summary: FamilySummary;
    readonly honoured: number;
    readonly ignored: number;
    readonly cannotTell: number;
    readonly reactionMs: { readonly median: number; readonly max: number } | null;
    readonly connections: readonly object[];
  }[];
  readonly untested: readonly { readonly family: IpFamilyName; readonly reason: string }[];
  readonly findings: readonly ProbeFinding[];
}

export function serverTestJson(r: ServerTestReport): ServerTestJson {
  return {
    test: 'server-test',
    url: r.url,
    host: r.host,
    port: r.port,
    ptbMtu: r.ptbMtu,
    windowMs: r.windowMs,
    families: r.families.map((f) => ({
      family: familyName(f.family),
      address: f.address,
      summary: f.summary,
      honoured: f.honoured,
      ignored: f.ignored,
      cannotTell: f.cannotTell,
      reactionMs: f.reactionMs ?? null,
      connections: f.connections.map((c) => ({
        index: c.index,
        localPort: c.localPort ?? null,
        ptbMtu: c.ptbMtu,
        verdict: c.verdict.verdict,
        reason: c.verdict.verdict === 'cannot-tell' ? c.verdict.reason : null,
        reactionMs: c.verdict.verdict === 'honoured' ? c.verdict.reactionMs : null,
        detail: connectionWords(c),
        evidence: {
          serverMss: c.evidence.serverMss ?? null,
          dataPackets: c.evidence.segments,
          largestPacket: c.evidence.largestPacket,
          fullSize: c.evidence.fullSize,
          dropped: c.evidence.dropped,
          noDf: c.evidence.noDf,
          packetTooBigSent: c.evidence.packetTooBigSent,
          packetTooBigLimited: c.evidence.packetTooBigLimited,
          firstPacketTooBigMs: c.evidence.firstPacketTooBigMs ?? null,
          fullSizeRetransmissions: c.evidence.fullSizeRetransmissions,
          firstSmallerResendMs: c.evidence.firstSmallerResend?.atMs ?? null,
          largestSmallerResend: c.evidence.largestSmallerResend ?? null,
        },
        http: { status: c.http.status ?? null, bytes: c.http.bytes, error: c.http.error ?? null, cutShort: c.http.cutShort, tlsCompleted: c.http.tlsCompleted ?? null },
        durationMs: c.durationMs,
      })),
    })),
    untested: r.untested.map((u) => ({ family: familyName(u.family), reason: u.reason })),
    findings: r.findings,
  };
}
