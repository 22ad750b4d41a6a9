/**
 * The fragment findings: datagrams whose fragments did not all arrive (fragments-incomplete), overlapping fragments
 * with the same or different bytes (fragment-overlap, fragment-overlap-conflict), tiny fragments (fragment-tiny),
 * datagrams that would exceed 65535 bytes or whose ends contradict each other (fragment-too-large), IPv4 fragments
 * with DF (fragment-df), and, through FragmentRetries, fragmented UDP answers followed by the same request again
 * (fragments-lost-retried). Docs: docs/analyze.md, "Fragments".
 *
 * Datagrams are keyed by capture interface and direction as well as by the IP key, so that the two copies of each
 * fragment a router capture holds (received on one interface, sent on another) are two observations, not overlaps.
 */
import { BoundedMap } from './bounded-map.js';
import type { CaveatTopic } from './capture-conditions.js';
import { lowered } from './capture-conditions.js';
import type { AnalyzerLimits, Detector, Eviction, ReportContext } from './detector.js';
import { type Confidence, EvidenceList, MAX_EVIDENCE_FRAMES, type FactValue, type Finding, type FindingKind, type Severity } from './finding.js';
import { DATAGRAM_COST, FRAGMENT_COST, FragmentDatagram, type FragmentSeen, MAX_FRAGMENTS_KEPT, rangeText } from './fragment-datagram.js';
import { FragmentRetries } from './fragment-retries.js';
import { FindingQuota } from './finding-quota.js';
import type { FragmentFacts, IpFacts, PacketFacts } from './packet-facts.js';

/** Linux ipfrag_time (net.ipv4.ipfrag_time) and ip6frag_time: a receiver gives a datagram this long from its first fragment. */
export const REASSEMBLY_TIMEOUT_MS = { 4: 30_000, 6: 60_000 } as const;
/**
 * A fragment other than the last carrying fewer data bytes than this is tiny. No real link makes one: the smallest
 * MTU in use (576, the IPv4 minimum reassembly size) leaves 552 bytes, and even IPv4's theoretical minimum MTU of 68
 * leaves 48 with a plain header; fragments this small are crafted (to split headers across fragments, to evade
 * filters and IDSs, or to tie up reassembly buffers).
 */
export const TINY_FRAGMENT_BYTES = 64;
/** A datagram still waiting when the capture ends this soon after its last fragment: cannot tell whether the rest came. */
export const CANNOT_TELL_US = 1_000_000;
/** A fragment that repeats one of a datagram completed this recently is a late duplicate, not a new datagram. */
const LATE_DUPLICATE_US = 2_000_000;
const RECENT_COMPLETIONS = 4096;
/** Frames an issue remembers to avoid listing one twice; beyond, the evidence list only counts them. */
const MAX_FRAMES_REMEMBERED = 256;
const MAX_IPV4_TOTAL = 65535;
const MAX_IPV6_PAYLOAD = 65535;

type IssueKind = 'fragment-overlap' | 'fragment-tiny' | 'fragment-too-large' | 'fragment-df';

/** One problem of one datagram; its kind, sentence and facts are rendered at report time from what it gathered. */
interface Issue {
  readonly kind: IssueKind;
  readonly datagram: FragmentDatagram;
  readonly evidence: EvidenceList;
  readonly frames: Set<number>;
  readonly facts: Record<string, FactValue>;
  /** Why, in words, for the sentence: the first reason seen, and how many fragments had one. */
  reason: string;
  count: number;
}

interface Recent {
  readonly untilUs: number;
  readonly total: number;
  /** Kept fragments' ranges as [start, end, start, end, ...]. */
  readonly bounds: readonly number[];
}

export class FragmentDetector implements Detector {
  /** Pending datagrams, least recently active first (a fragment moves its datagram to the end). */
  private readonly table = new Map<string, FragmentDatagram>();
  private readonly recent = new BoundedMap<string, Recent>(RECENT_COMPLETIONS);
  private readonly issues: Issue[] = [];
  /** The issues of each datagram (at most one per kind). */
  private readonly issuesOf = new WeakMap<FragmentDatagram, Issue[]>();
  private readonly timedOut: { readonly datagram: FragmentDatagram; readonly atUs: number }[] = [];
  private readonly quota: FindingQuota;
  private readonly cap: number;
  private readonly maxDatagrams: number;
  private readonly retries: FragmentRetries;
  private used = 0;
  private evicted = 0;
  private pendingOmitted = 0;
  private peak = 0;
  /** Counts for facts and tests. */
  readonly counts = { fragments: 0, completed: 0, duplicates: 0, lateDuplicates: 0 };

  constructor(limits: AnalyzerLimits) {
    this.quota = new FindingQuota(limits.maxFindingsPerKind);
    this.cap = limits.fragmentMemory;
    this.maxDatagrams = Math.max(1, Math.floor(limits.fragmentMemory / DATAGRAM_COST));
    this.retries = new FragmentRetries(limits, this.quota);
  }

  /** Bytes held for pending datagrams (records and data copies), never above limits.fragmentMemory once a packet is done. */
  get memoryUsed(): number {
    return this.used;
  }

  get peakMemory(): number {
    return this.peak;
  }

  get pendingDatagrams(): number {
    return this.table.size;
  }

  observe(p: PacketFacts): void {
    const ip = p.outer;
    if (ip === undefined) return;
    const fr = ip.fragment;
    if (fr === undefined || (fr.offset === 0 && !fr.more)) {
      if (p.udp !== undefined || p.tcp !== undefined) this.retries.packet(p, undefined);
      return;
    }
    const d = this.fragment(p, ip, fr);
    if (d !== undefined && fr.offset === 0 && p.udp !== undefined && ip === p.inner) this.retries.packet(p, d);
  }

  private fragment(p: PacketFacts, ip: IpFacts, fr: FragmentFacts): FragmentDatagram | undefined {
    this.counts.fragments++;
    const start = fr.offset;
    const length = Math.max(0, fr.dataLength);
    const end = start + length;
    const key = `${p.interface ?? ''} ${p.direction ?? ''} ${ip.src} ${ip.dst} ${ip.family === 4 ? ip.protocol : ''} ${fr.ident}`;
    let d = this.table.get(key);
    if (d !== undefined && p.timeUs - d.firstUs > REASSEMBLY_TIMEOUT_MS[d.family] * 1000) {
      this.timeOut(d);
      d = undefined;
    }
    if (d === undefined) {
      if (this.lateDuplicate(key, start, end, p.timeUs)) return undefined;
      const headerLength = ip.family === 4 ? ip.headerLength : fr.dataStart - 8;
      d = new FragmentDatagram(key, ip.family, ip.src, ip.dst, fr.ident, ip.protocol, p.interface, p.timeUs, headerLength);
      this.table.set(key, d);
      this.used += DATAGRAM_COST;
    } else {
      this.table.delete(key);
      this.table.set(key, d);
    }
    const present = ip.bytes.subarray(fr.dataStart, Math.min(ip.bytes.length, fr.dataStart + length));
    this.check(p, ip, fr, d, start, end);
    if (d.intersects(start, end)) {
      const r = d.compare(start, end, present);
      if (r.duplicate) {
        this.counts.duplicates++;
        d.lastUs = p.timeUs;
        return d;
      }
      this.overlap(p, d, start, end, r.overlapBytes, r.differing, r.uncompared, r.with);
    }
    if (d.fragments.length < MAX_FRAGMENTS_KEPT) {
      const data = present.slice();
      d.fragments.push({ frame: p.frame, timeUs: p.timeUs, start, end, more: fr.more, data });
      d.charged += FRAGMENT_COST + data.length;
      this.used += FRAGMENT_COST + data.length;
    } else {
      d.fragmentsOmitted++;
    }
    if (present.length < length) d.snapped = true;
    if (start === 0) {
      d.headerLength = ip.family === 4 ? ip.headerLength : fr.dataStart - 8;
      const ports = p.udp ?? p.tcp;
      if (ports !== undefined && ip === p.inner) {
        d.srcPort = ports.srcPort;
        d.dstPort = ports.dstPort;
        // The UDP length covers the whole fragmentable part when nothing sits between the Fragment header and UDP.
        if (p.udp !== undefined && (ip.family === 4 || ip.headerLength === fr.dataStart)) d.claimedTotal = p.udp.payloadLength + 8;
      }
    }
    d.cover(start, end);
    if (!fr.more && d.total < 0) d.total = end;
    d.lastUs = p.timeUs;
    if (d.complete) this.complete(d);
    if (this.used > this.peak) this.peak = this.used;
    this.makeRoom(p.timeUs, d);
    return d;
  }

  /** Checks of the fragment on its own and against the datagram's ends: DF, tiny, too large. */
  private check(p: PacketFacts, ip: IpFacts, fr: FragmentFacts, d: FragmentDatagram, start: number, end: number): void {
    if (ip.family === 4 && ip.dontFragment) {
      this.issue('fragment-df', d, p, fr, start, end, ', DF set', 'an IPv4 fragment with DF (Don\'t Fragment) set');
    }
    const tiny = tinyReason(ip, fr, start, end);
    if (tiny !== undefined) {
      const issue = this.issue('fragment-tiny', d, p, fr, start, end, `, ${end - start} bytes`, tiny);
      if (issue !== undefined) issue.facts.smallestDataBytes = Math.min(Number(issue.facts.smallestDataBytes ?? Infinity), end - start);
    }
    const unfragmentable = ip.family === 4 ? ip.headerLength : fr.dataStart - 8;
    const size = ip.family === 4 ? unfragmentable + end : unfragmentable - 40 + end;
    const max = ip.family === 4 ? MAX_IPV4_TOTAL : MAX_IPV6_PAYLOAD;
    let tooLarge: string | undefined;
    if (size > max) {
      tooLarge = `the fragment ending at byte ${end} makes the datagram's ${ip.family === 4 ? 'total length' : 'payload length'} ${size}, over the 65535 the field can hold (ping of death)`;
    } else if (!fr.more && d.total >= 0 && end !== d.total) {
      tooLarge = `two last fragments disagree on the end: byte ${d.total} and byte ${end}`;
    } else if (!fr.more && d.total < 0 && end < d.maxEnd) {
      tooLarge = `the last fragment ends at byte ${end} but data up to byte ${d.maxEnd} had already arrived`;
    } else if (fr.more && d.total >= 0 && end > d.total) {
      tooLarge = `a fragment ends at byte ${end}, past the datagram's end at byte ${d.total} set by its last fragment`;
    }
    if (tooLarge !== undefined) {
      const issue = this.issue('fragment-too-large', d, p, fr, start, end, '', tooLarge);
      if (issue !== undefined) issue.facts.largestSize = Math.max(Number(issue.facts.largestSize ?? 0), size);
    }
  }

  private overlap(p: PacketFacts, d: FragmentDatagram, start: number, end: number, bytes: number, differing: number, uncompared: number, earlier: readonly FragmentSeen[]): void {
    const issue = this.issue('fragment-overlap', d, p, undefined, start, end, ` overlapping ${bytes} bytes`, () =>
      `the fragment with ${rangeText(start, end)} overlaps ${bytes} bytes that frame${earlier.length === 1 ? '' : 's'} ${earlier.map((f) => f.frame).join(', ')} already carried`,
    );
    if (issue === undefined) return;
    for (const f of earlier) {
      if (issue.frames.size < MAX_FRAMES_REMEMBERED && !issue.frames.has(f.frame)) {
        issue.frames.add(f.frame);
        issue.evidence.add(f.frame, f.timeUs, `fragment ${rangeText(f.start, f.end)} (overlapped)`);
      }
    }
    issue.facts.overlapBytes = Number(issue.facts.overlapBytes ?? 0) + bytes;
    issue.facts.differingBytes = Number(issue.facts.differingBytes ?? 0) + differing;
    issue.facts.uncomparedBytes = Number(issue.facts.uncomparedBytes ?? 0) + uncompared;
  }

  /** The datagram's issue of `kind`, made on first use (within the quota), with this packet added to its evidence. */
  private issue(
    kind: IssueKind,
    d: FragmentDatagram,
    p: PacketFacts,
    fr: FragmentFacts | undefined,
    start: number,
    end: number,
    roleTail: string,
    reason: string | (() => string),
  ): Issue | undefined {
    let mine = this.issuesOf.get(d);
    let issue = mine?.find((i) => i.kind === kind);
    if (issue === undefined) {
      if (!this.quota.admit(kind)) return undefined;
      issue = { kind, datagram: d, evidence: new EvidenceList(), frames: new Set(), facts: {}, reason: typeof reason === 'string' ? reason : reason(), count: 0 };
      this.issues.push(issue);
      if (mine === undefined) this.issuesOf.set(d, (mine = []));
      mine.push(issue);
    }
    issue.count++;
    const known = issue.frames.size < MAX_FRAMES_REMEMBERED && issue.frames.has(p.frame);
    if (!known) {
      if (issue.frames.size < MAX_FRAMES_REMEMBERED) issue.frames.add(p.frame);
      // Roles are words built only for the frames an evidence list keeps (the first ones and the newest).
      issue.evidence.add(p.frame, p.timeUs, issue.evidence.size < MAX_EVIDENCE_FRAMES ? `${fr === undefined ? `fragment ${rangeText(start, end)}` : roleOf(fr, start, end)}${roleTail}` : 'fragment');
    }
    return issue;
  }

  private lateDuplicate(key: string, start: number, end: number, timeUs: number): boolean {
    const r = this.recent.get(key, false);
    if (r === undefined) return false;
    if (timeUs > r.untilUs || end > r.total) return false;
    for (let i = 0; i < r.bounds.length; i += 2) {
      if (r.bounds[i] === start && r.bounds[i + 1] === end) {
        this.counts.lateDuplicates++;
        return true;
      }
    }
    return false;
  }

  private complete(d: FragmentDatagram): void {
    this.counts.completed++;
    d.completed = true;
    const bounds: number[] = [];
    for (const f of d.fragments) bounds.push(f.start, f.end);
    this.recent.set(d.key, { untilUs: d.lastUs + LATE_DUPLICATE_US, total: d.total, bounds });
    this.forget(d);
  }

  private forget(d: FragmentDatagram): void {
    this.table.delete(d.key);
    d.release();
    this.used -= d.charged;
    d.charged = 0;
  }

  private timeOut(d: FragmentDatagram): void {
    this.forget(d);
    if (this.quota.admit('fragments-incomplete')) this.timedOut.push({ datagram: d, atUs: d.firstUs + REASSEMBLY_TIMEOUT_MS[d.family] * 1000 });
  }

  /** Evicts the least recently active datagrams until the table is within its memory cap; the one just added goes last. */
  private makeRoom(nowUs: number, keep: FragmentDatagram): void {
    while (this.used > this.cap || this.table.size > this.maxDatagrams) {
      const oldest = this.table.values().next();
      if (oldest.done === true) return;
      const d = oldest.value;
      if (d === keep && this.table.size === 1) {
        // One datagram alone over the cap: stop keeping its data, keep its ranges.
        this.used -= d.release();
        d.finished = false;
        return;
      }
      if (nowUs - d.firstUs > REASSEMBLY_TIMEOUT_MS[d.family] * 1000) this.timeOut(d);
      else {
        this.evicted++;
        this.forget(d);
      }
    }
  }

  report(context: ReportContext): Finding[] {
    const out: Finding[] = [];
    for (const issue of this.issues) out.push(this.renderIssue(issue, context));
    for (const t of this.timedOut) out.push(this.renderIncomplete(t.datagram, context, t.atUs));
    let room = Math.max(0, this.quota.limit - this.timedOut.length);
    this.pendingOmitted = 0;
    for (const d of this.table.values()) {
      const timeoutUs = REASSEMBLY_TIMEOUT_MS[d.family] * 1000;
      const timedOut = context.nowUs - d.firstUs > timeoutUs;
      if (!context.final && !timedOut) continue;
      if (room === 0) {
        this.pendingOmitted++;
        continue;
      }
      room--;
      out.push(this.renderIncomplete(d, context, timedOut ? d.firstUs + timeoutUs : undefined));
    }
    out.push(...this.retries.report(context));
    return out;
  }

  evictions(): Eviction[] {
    const out: Eviction[] = [];
    if (this.evicted > 0) out.push({ table: 'pending fragment datagrams (capacity in bytes of fragment memory)', evicted: this.evicted, capacity: this.cap });
    if (this.pendingOmitted > 0) out.push({ table: 'fragments-incomplete findings beyond the limit', evicted: this.pendingOmitted, capacity: this.quota.limit });
    return [...out, ...this.quota.evictions(), ...this.retries.evictions()];
  }

  private renderIncomplete(d: FragmentDatagram, context: ReportContext, timedOutAtUs: number | undefined): Finding {
    const evidence = new EvidenceList();
    for (const f of d.fragments) evidence.add(f.frame, f.timeUs, roleOfSeen(f));
    const { evidence: frames, evidenceOmitted } = evidence.take();
    const missing = d.missing();
    const endKnown = d.knownEnd >= 0;
    const size = endKnown ? String(d.knownEnd) : `at least ${d.maxEnd}`;
    const parts = missing.map(([s, e]) => rangeText(s, e));
    let missingText = parts.length === 0 ? '' : `${joinWords(parts)} of ${size}`;
    if (!endKnown) missingText = missingText === '' ? `the last fragment (everything after byte ${d.maxEnd - 1})` : `${missingText} and the last fragment (everything after byte ${d.maxEnd - 1})`;
    const missingBytes = missing.reduce((n, [s, e]) => n + e - s, 0);
    const seen = `${d.fragmentCount} fragment${d.fragmentCount === 1 ? '' : 's'} arrived (${framesText(d.fragments)})`;
    const sinceLastUs = context.nowUs - d.lastUs;
    const cannotTell = timedOutAtUs === undefined && sinceLastUs < CANNOT_TELL_US;
    const caveats = [...context.conditions.caveats(d.interfaceName, 'loss'), ...context.conditions.caveats(d.interfaceName, 'contents')];
    let severity: Severity = 'error';
    let confidence: Confidence = lowered('high', caveats);
    let sentence: string;
    const who = `${d.family === 4 ? 'IPv4' : 'IPv6'} datagram ${d.label()}${portsText(d)}`;
    if (timedOutAtUs !== undefined) {
      sentence =
        `${who} was never completed: ${missingText} never arrived within the reassembly timeout (${REASSEMBLY_TIMEOUT_MS[d.family] / 1000} s after its first fragment); ` +
        `${seen}. A receiver discards what it holds of it.`;
    } else if (cannotTell) {
      severity = 'info';
      confidence = 'low';
      sentence =
        `${who} was still incomplete when the capture ended, only ${msText(sinceLastUs)} after its last fragment: ${missingText} had not arrived yet; ${seen}. ` +
        'Cannot tell whether the rest arrived after the capture stopped.';
    } else {
      sentence =
        `${who} was never completed: ${missingText} never arrived; ${seen}; the capture ended ${secondsText(context.nowUs - d.firstUs)} after its first fragment ` +
        `(${secondsText(sinceLastUs)} after its last).`;
    }
    const facts: Record<string, FactValue> = {
      family: d.family,
      identification: d.ident,
      protocol: d.protocol,
      datagramBytes: d.knownEnd,
      receivedBytes: d.covered,
      missingBytes,
      missingRanges: d.missingFact(),
      lastFragmentSeen: d.total >= 0,
      fragmentsSeen: d.fragmentCount,
      ageMs: Math.round(((timedOutAtUs ?? context.nowUs) - d.firstUs) / 1000),
      sinceLastFragmentMs: Math.round(sinceLastUs / 1000),
      timedOut: timedOutAtUs !== undefined,
      timeoutMs: REASSEMBLY_TIMEOUT_MS[d.family],
    };
    if (d.snapped) caveats.push('some fragments were cut by the snaplen');
    return {
      kind: 'fragments-incomplete',
      severity,
      confidence,
      flow: d.flow(),
      interface: d.interfaceName,
      evidence: frames,
      evidenceOmitted,
      sentence,
      displayFilter: d.filter(),
      facts,
      caveats,
    };
  }

  private renderIssue(issue: Issue, context: ReportContext): Finding {
    const d = issue.datagram;
    const { evidence, evidenceOmitted } = issue.evidence.take();
    evidence.sort((a, b) => a.frame - b.frame);
    const who = `${d.family === 4 ? 'IPv4' : 'IPv6'} datagram ${d.label()}${portsText(d)}`;
    const topic: CaveatTopic = 'contents';
    const caveats = context.conditions.caveats(d.interfaceName, topic);
    const facts: Record<string, FactValue> = { family: d.family, identification: d.ident, protocol: d.protocol, fragments: issue.count, ...issue.facts };
    let kind: FindingKind = issue.kind;
    let severity: Severity;
    let sentence: string;
    const more = issue.count > 1 ? ` (${issue.count} fragments in all)` : '';
    switch (issue.kind) {
      case 'fragment-overlap': {
        const differing = Number(issue.facts.differingBytes ?? 0);
        const uncompared = Number(issue.facts.uncomparedBytes ?? 0);
        facts.conflict = differing > 0;
        if (differing > 0) {
          kind = 'fragment-overlap-conflict';
          severity = 'error';
          sentence = `${who}: fragments overlap and ${differing} of the overlapping bytes differ: ${issue.reason}${more}. Receivers keep different bytes (the first or the last copy), so what one reassembles differs from what another, a firewall or an IDS sees: an evasion attempt or a broken sender.`;
        } else {
          severity = 'warning';
          const told = uncompared > 0 ? ` (${uncompared} of the overlapping bytes could not be compared${d.snapped ? ': cut by the snaplen' : ''})` : '';
          sentence = `${who}: fragments overlap with the same bytes${told}: ${issue.reason}${more}. No sender fragments like this; IPv6 receivers discard the whole datagram (RFC 5722), as Linux does for IPv4.`;
          if (uncompared > 0) caveats.push('some overlapping bytes could not be compared');
        }
        break;
      }
      case 'fragment-tiny':
        severity = 'warning';
        facts.thresholdBytes = TINY_FRAGMENT_BYTES;
        sentence = `${who}: ${issue.reason}${more}. Tiny fragments split headers across fragments to slip past filters (RFC 1858) or tie up reassembly buffers.`;
        break;
      case 'fragment-too-large':
        severity = 'error';
        sentence = `${who}: ${issue.reason}${more}. Receivers must discard such a datagram; stacks that did not overflowed (ping of death, teardrop).`;
        break;
      case 'fragment-df':
        severity = 'warning';
        sentence = `${who}: ${issue.count} fragment${issue.count === 1 ? '' : 's'} carr${issue.count === 1 ? 'ies' : 'y'} DF (Don't Fragment), which a fragment cannot honour: a broken or crafted sender, or a middlebox that set DF after fragmenting.`;
        break;
    }
    return {
      kind,
      severity,
      confidence: lowered('high', caveats),
      flow: d.flow(),
      interface: d.interfaceName,
      evidence,
      evidenceOmitted,
      sentence,
      displayFilter: d.filter(),
      facts,
      caveats,
    };
  }
}

/** Why a fragment is tiny, or undefined: RFC 1858's TCP cases, a first fragment short of its transport header, a small non-last one. */
function tinyReason(ip: IpFacts, fr: FragmentFacts, start: number, end: number): string | undefined {
  const length = end - start;
  if (ip.family === 4 && ip.protocol === 6 && start === 8) {
    return 'a TCP fragment at offset 8 rewrites the TCP flags of the first fragment (RFC 1858 overlapping-fragment attack)';
  }
  if (start === 0 && fr.more) {
    const need = ip.protocol === 6 ? 20 : ip.protocol === 17 || ip.protocol === 1 || ip.protocol === 58 ? 8 : 0;
    const upper = ip.family === 4 ? length : fr.dataStart + length - ip.headerLength;
    if (upper < need) {
      const name = ip.protocol === 6 ? 'TCP' : ip.protocol === 17 ? 'UDP' : 'ICMP';
      return `the first fragment carries ${Math.max(0, upper)} bytes of the ${need}-byte ${name} header, the rest follows in another fragment (RFC 1858 tiny fragment${ip.family === 6 ? ', RFC 7112' : ''})`;
    }
  }
  if (fr.more && length < TINY_FRAGMENT_BYTES) return `a fragment other than the last carries only ${length} bytes of data (fewer than ${TINY_FRAGMENT_BYTES})`;
  return undefined;
}

function roleOf(fr: FragmentFacts, start: number, end: number): string {
  return `fragment ${rangeText(start, end)}${fr.more ? ', MF' : ', last'}`;
}

function roleOfSeen(f: FragmentSeen): string {
  return `fragment ${rangeText(f.start, f.end)}${f.more ? ', MF' : ', last'}`;
}

function portsText(d: FragmentDatagram): string {
  return d.srcPort === undefined ? '' : ` ports ${d.srcPort} → ${d.dstPort ?? ''}`;
}

function framesText(fragments: readonly FragmentSeen[]): string {
  const frames = fragments.map((f) => f.frame);
  if (frames.length === 0) return 'frames not kept';
  const shown = frames.slice(0, 8).join(', ');
  return `frame${frames.length === 1 ? '' : 's'} ${shown}${frames.length > 8 ? ', …' : ''}`;
}

function joinWords(parts: readonly string[]): string {
  if (parts.length <= 1) return parts.join('');
  const shown = parts.length > 6 ? [...parts.slice(0, 5), `${parts.length - 5} more ranges`] : parts;
  return `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]!}`;
}

function msText(us: number): string {
  return `${Math.round(us / 1000)} ms`;
}

function secondsText(us: number): string {
  return us < 1_000_000 ? msText(us) : `${(us / 1_000_000).toFixed(1)} s`;
}
