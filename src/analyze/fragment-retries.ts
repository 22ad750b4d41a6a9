/**
 * fragments-lost-retried: a UDP answer that crossed the capture point as fragments, followed by the same request again
 * from the client: the client never got the answer, so its fragments were lost beyond the capture point (or, when not
 * all of them passed it, before). For DNS also the classic fallback: a truncated answer (TC) followed by the client
 * opening TCP to the same server's port 53.
 *
 * "The same request": DNS (either port 53) the same question (name, type, class) from the same client address to the
 * same server address and port, with the same message id (high confidence) or a new id or source port (medium: a
 * resolver may ask again for its own reasons); other UDP the same source and destination ports and the same payload
 * bytes (a 32-bit FNV-1a hash and the length), within RETRY_WINDOW_US of the answer.
 */
import { DnsMessage, DNS_PORT } from '../packet/dns.js';
import { BoundedMap } from './bounded-map.js';
import { PointKeys } from './capture-point.js';
import { lowered } from './capture-conditions.js';
import type { AnalyzerLimits, Eviction, ReportContext } from './detector.js';
import { type Confidence, EvidenceList, type FactValue, type Finding, framesFilter, type FlowRef, flowLabel } from './finding.js';
import type { FindingQuota } from './finding-quota.js';
import { type FragmentDatagram, rangeText } from './fragment-datagram.js';
import type { PacketFacts } from './packet-facts.js';

/** A request repeated this long after a fragmented answer counts as a retry (DNS clients retry after 1-5 s). */
export const RETRY_WINDOW_US = 10_000_000;
/** A TCP connection to port 53 this long after a truncated answer is the resolver's fallback. */
export const TCP_FALLBACK_WINDOW_US = 10_000_000;
/** Payload bytes hashed to recognise a repeated request. */
const HASHED_BYTES = 2048;

interface Answer {
  readonly frame: number;
  readonly timeUs: number;
  /** The fragmented datagram (its fragments so far), or undefined for an answer in one packet. */
  readonly datagram: FragmentDatagram | undefined;
  /** UDP length of the answer (header included), as its header claims. */
  readonly udpBytes: number;
  readonly dnsId: number | undefined;
  readonly truncated: boolean;
}

interface Request {
  readonly frame: number;
  readonly timeUs: number;
  readonly flow: FlowRef;
  readonly interfaceName: string | undefined;
  readonly signature: number;
  readonly length: number;
  readonly dns: { readonly id: number; readonly question: string } | undefined;
  answer: Answer | undefined;
  issue: RetryIssue | undefined;
}

interface RetryIssue {
  readonly request: Request;
  /** The fragmented answer the first retry followed. */
  readonly answer: Answer;
  readonly retries: EvidenceList;
  count: number;
  sameId: boolean;
  samePort: boolean;
  firstRetryUs: number;
  tcpFallback: { readonly frame: number; readonly timeUs: number } | undefined;
}

interface Truncated {
  readonly frame: number;
  readonly timeUs: number;
  readonly flow: FlowRef;
  readonly interfaceName: string | undefined;
  readonly dnsId: number;
  readonly question: string;
  /** The retry issue of the query it answered, if that query had lost a fragmented answer before. */
  readonly after: RetryIssue | undefined;
  fallback: { readonly frame: number; readonly timeUs: number } | undefined;
}

// Requests and answers are matched per capture point (PointKeys): in a capture of two interfaces of a router the same
// request is seen twice, once on each side, and its second sighting is not the client asking again.
export class FragmentRetries {
  private readonly points = new PointKeys();
  private readonly requests: BoundedMap<string, Request>;
  private readonly truncated: BoundedMap<string, Truncated>;
  private readonly issues: RetryIssue[] = [];
  private readonly fallbacks: Truncated[] = [];

  constructor(
    limits: AnalyzerLimits,
    private readonly quota: FindingQuota,
  ) {
    this.requests = new BoundedMap(limits.maxFlows);
    this.truncated = new BoundedMap(Math.max(1, Math.floor(limits.maxFlows / 16)));
  }

  /** A UDP or TCP packet; `datagram` when it is the first fragment of a fragmented UDP datagram. */
  packet(p: PacketFacts, datagram: FragmentDatagram | undefined): void {
    const ip = p.inner!;
    if (p.tcp !== undefined) {
      if (p.tcp.syn && !p.tcp.ackFlag && p.tcp.dstPort === DNS_PORT) this.tcpToDns(p);
      return;
    }
    const u = p.udp;
    if (u === undefined) return;
    const isDns = u.srcPort === DNS_PORT || u.dstPort === DNS_PORT;
    let dns: DnsMessage | undefined;
    let question: string | undefined;
    if (isDns) {
      const m = DnsMessage.check(u.payload);
      if (m.ok) {
        dns = m.value;
        const q = dns.question();
        if (q.ok && q.value !== undefined) question = `${q.value.name.toLowerCase()} ${q.value.type} ${q.value.class}`;
      }
      // A DNS packet that is not a readable query or answer cannot be matched.
      if (dns === undefined || question === undefined) return;
    }
    // As an answer to the request of the opposite direction.
    if (dns === undefined || dns.response) {
      const point = this.points.of(p);
      const key = dns === undefined ? `${point}${ip.dst} ${u.dstPort} ${ip.src} ${u.srcPort}` : `${point}${ip.dst} ${ip.src} ${u.srcPort} ${question!}`;
      const request = this.requests.get(key, false);
      if (request !== undefined && request.timeUs <= p.timeUs && (dns === undefined || request.dns !== undefined)) {
        request.answer = { frame: p.frame, timeUs: p.timeUs, datagram, udpBytes: u.payloadLength + 8, dnsId: dns?.id, truncated: dns?.truncated ?? false };
      }
      if (dns !== undefined && dns.truncated) {
        const flow: FlowRef = { family: ip.family, protocol: 'udp', src: ip.dst, srcPort: u.dstPort, dst: ip.src, dstPort: u.srcPort };
        this.truncated.set(`${point}${ip.dst} ${ip.src}`, {
          frame: p.frame,
          timeUs: p.timeUs,
          flow,
          interfaceName: p.interface,
          dnsId: dns.id,
          question: question!,
          after: request?.issue,
          fallback: undefined,
        });
      }
    }
    if (datagram !== undefined || (dns !== undefined && dns.response)) return;
    // As a request.
    const point = this.points.of(p);
    const key = dns === undefined ? `${point}${ip.src} ${u.srcPort} ${ip.dst} ${u.dstPort}` : `${point}${ip.src} ${ip.dst} ${u.dstPort} ${question!}`;
    const signature = dns === undefined ? fnv1a(u.payload) : 0;
    const previous = this.requests.get(key);
    const answer = previous?.answer;
    if (previous !== undefined && answer?.datagram !== undefined && p.timeUs - answer.timeUs <= RETRY_WINDOW_US && (dns !== undefined || (previous.signature === signature && previous.length === u.payloadLength))) {
      this.retry(p, previous, answer, dns);
      return;
    }
    this.requests.set(key, {
      frame: p.frame,
      timeUs: p.timeUs,
      flow: { family: ip.family, protocol: 'udp', src: ip.src, srcPort: u.srcPort, dst: ip.dst, dstPort: u.dstPort },
      interfaceName: p.interface,
      signature,
      length: u.payloadLength,
      dns: dns === undefined ? undefined : { id: dns.id, question: question! },
      answer: undefined,
      issue: undefined,
    });
  }

  private retry(p: PacketFacts, request: Request, answer: Answer, dns: DnsMessage | undefined): void {
    let issue = request.issue;
    if (issue === undefined) {
      if (!this.quota.admit('fragments-lost-retried')) return;
      issue = { request, answer, retries: new EvidenceList(), count: 0, sameId: true, samePort: true, firstRetryUs: p.timeUs, tcpFallback: undefined };
      request.issue = issue;
      this.issues.push(issue);
    }
    issue.count++;
    if (dns !== undefined && request.dns !== undefined && dns.id !== request.dns.id) issue.sameId = false;
    if (p.udp!.srcPort !== request.flow.srcPort) issue.samePort = false;
    issue.retries.add(p.frame, p.timeUs, `the same request again (retry ${issue.count})`);
    // Later answers to the retry are answers to this request too.
    request.answer = answer;
  }

  private tcpToDns(p: PacketFacts): void {
    const ip = p.inner!;
    const t = this.truncated.get(`${this.points.of(p)}${ip.src} ${ip.dst}`, false);
    if (t === undefined || t.fallback !== undefined || p.timeUs - t.timeUs > TCP_FALLBACK_WINDOW_US || p.timeUs < t.timeUs) return;
    t.fallback = { frame: p.frame, timeUs: p.timeUs };
    if (t.after !== undefined) t.after.tcpFallback = t.fallback;
    if (this.quota.admit('fragments-lost-retried')) this.fallbacks.push(t);
  }

  report(context: ReportContext): Finding[] {
    const out: Finding[] = [];
    for (const issue of this.issues) out.push(this.renderRetry(issue, context));
    for (const t of this.fallbacks) out.push(renderFallback(t));
    return out;
  }

  evictions(): Eviction[] {
    const out: Eviction[] = [];
    if (this.requests.evicted > 0) out.push({ table: 'UDP requests awaiting a retry check', evicted: this.requests.evicted, capacity: this.requests.capacity });
    if (this.truncated.evicted > 0) out.push({ table: 'truncated DNS answers awaiting a TCP fallback', evicted: this.truncated.evicted, capacity: this.truncated.capacity });
    return out;
  }

  private renderRetry(issue: RetryIssue, context: ReportContext): Finding {
    const { request, answer } = issue;
    const d = answer.datagram!;
    const evidence = new EvidenceList();
    evidence.add(request.frame, request.timeUs, request.dns === undefined ? 'request' : `DNS query ${request.dns.question.split(' ')[0]!}`);
    for (const f of d.fragments) evidence.add(f.frame, f.timeUs, `answer fragment ${rangeText(f.start, f.end)}${f.more ? ', MF' : ', last'}`);
    const retries = issue.retries.take();
    for (const r of retries.evidence) evidence.add(r.frame, r.timeUs, r.role);
    if (issue.tcpFallback !== undefined) evidence.add(issue.tcpFallback.frame, issue.tcpFallback.timeUs, 'TCP SYN to port 53 (fallback)');
    const taken = evidence.take();
    taken.evidence.sort((a, b) => a.frame - b.frame);
    const complete = d.completed;
    const missing = d.missing();
    const size = d.knownEnd >= 0 ? d.knownEnd : undefined;
    const what = request.dns === undefined ? 'UDP answer' : `DNS answer (id 0x${(answer.dnsId ?? 0).toString(16)}, ${questionText(request.dns.question)})`;
    const answerFlow = `${flowLabel({ ...request.flow, src: request.flow.dst, dst: request.flow.src, srcPort: request.flow.dstPort, dstPort: request.flow.srcPort })}`;
    const seen = `${d.fragmentCount} fragment${d.fragmentCount === 1 ? '' : 's'}`;
    const where = complete
      ? `all ${seen} passed the capture point`
      : `only ${seen} passed the capture point (${missing.map(([s, e]) => rangeText(s, e)).join(', ')}${size === undefined ? ' and the last fragment' : ` of ${size}`} missing)`;
    const retriesText = `${issue.count === 1 ? 'the same request again' : `the same request ${issue.count} more times`} ${secondsText(issue.firstRetryUs - answer.timeUs)} after the answer`;
    const same = request.dns === undefined ? '' : issue.sameId ? ' (same id)' : ' (same question, new id)';
    const conclusion = complete ? 'its fragments were lost beyond the capture point' : 'fragments were lost before the capture point (and perhaps beyond)';
    const fallback = issue.tcpFallback === undefined ? '' : ' It then retried over TCP.';
    const sentence = `The ${what} ${answerFlow} of ${answer.udpBytes} bytes left as fragments; ${where}, yet the client sent ${retriesText}${same}: ${conclusion}.${fallback}`;
    const caveats = context.conditions.caveats(request.interfaceName, 'loss');
    const base: Confidence = request.dns !== undefined && !issue.sameId ? 'medium' : 'high';
    const facts: Record<string, FactValue> = {
      answerBytes: answer.udpBytes,
      fragmentsSeen: d.fragmentCount,
      answerComplete: complete,
      retries: issue.count,
      firstRetryAfterMs: Math.round((issue.firstRetryUs - answer.timeUs) / 1000),
      tcpFallback: issue.tcpFallback !== undefined,
    };
    if (!complete) facts.missingRanges = d.missingFact();
    if (request.dns !== undefined) {
      facts.dnsId = request.dns.id;
      facts.dnsQuestion = request.dns.question;
      facts.sameId = issue.sameId;
    }
    facts.sameSourcePort = issue.samePort;
    return {
      kind: 'fragments-lost-retried',
      severity: 'error',
      confidence: lowered(base, caveats),
      flow: request.flow,
      interface: request.interfaceName,
      evidence: taken.evidence,
      evidenceOmitted: taken.evidenceOmitted + retries.evidenceOmitted,
      sentence,
      displayFilter: framesFilter(taken.evidence),
      facts,
      caveats,
    };
  }
}

function renderFallback(t: Truncated): Finding {
  const fallback = t.fallback!;
  const evidence = [
    { frame: t.frame, timeUs: t.timeUs, role: 'truncated DNS answer (TC)' },
    { frame: fallback.frame, timeUs: fallback.timeUs, role: 'TCP SYN to port 53' },
  ];
  const after = t.after === undefined ? '' : ' This followed a fragmented answer to the same question that never reached the client.';
  return {
    kind: 'fragments-lost-retried',
    severity: t.after === undefined ? 'info' : 'warning',
    confidence: 'high',
    flow: t.flow,
    interface: t.interfaceName,
    evidence,
    evidenceOmitted: 0,
    sentence:
      `The resolver ${t.flow.src} retried over TCP after a truncated answer: the DNS answer (id 0x${t.dnsId.toString(16)}, ${questionText(t.question)}) had TC set and ` +
      `${secondsText(fallback.timeUs - t.timeUs)} later the client opened TCP to ${t.flow.dst} port 53, the fallback that avoids large fragmented UDP answers.${after}`,
    displayFilter: framesFilter(evidence),
    facts: { dnsId: t.dnsId, dnsQuestion: t.question, truncated: true, tcpFallback: true, fallbackAfterMs: Math.round((fallback.timeUs - t.timeUs) / 1000), afterLostFragments: t.after !== undefined },
    caveats: [],
  };
}

/** "example.com type 1" from the question key. */
function questionText(question: string): string {
  const [name, type] = question.split(' ');
  return `${name ?? ''} type ${type ?? ''}`;
}

function fnv1a(b: Uint8Array): number {
  let h = 0x811c9dc5;
  const n = Math.min(b.length, HASHED_BYTES);
  for (let i = 0; i < n; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

function secondsText(us: number): string {
  return us < 1_000_000 ? `${Math.round(us / 1000)} ms` : `${(us / 1_000_000).toFixed(1)} s`;
}
