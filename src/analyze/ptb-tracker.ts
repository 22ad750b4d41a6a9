/**
 * ICMP Packet Too Big ("fragmentation needed", ICMPv4 type 3 code 4; ICMPv6 type 2): matched to the flow and segment
 * it quotes, then judged by what the sender did next.
 *
 * - honoured: afterwards the sender's segments fit the reported MTU and the quoted data is re-sent smaller;
 * - ignored: the sender kept sending packets larger than the MTU after it;
 * - unresolved: nothing of that flow followed, so the capture cannot tell (info, low confidence);
 * - suspicious: the MTU is below the minimum (68 / 1280), not smaller than the quoted packet, or the quoted sequence
 *   number is outside the data sent but not yet acknowledged (RFC 5927 section 4.1);
 * - orphan: it quotes a flow this capture point never carried in either direction: ECMP or anycast delivered it to
 *   the wrong host.
 *
 * Packet Too Big messages for the same flow and MTU within EPISODE_US form one episode (a router answers each packet
 * of a window), judged by its first message.
 */
import type { CaptureConditions } from './capture-conditions.js';
import { lowered } from './capture-conditions.js';
import { EvidenceList, framesFilter, type Confidence, type EvidenceFrame, type FactValue, type Finding, type FlowRef, flowLabel } from './finding.js';
import type { QuotedFacts } from './packet-facts.js';
import type { TcpDirection } from './tcp-sender-table.js';
import { seqAdd, seqLe, seqLt } from './tcp-sender-table.js';

export const EPISODE_US = 60_000_000;
export const MIN_MTU = { 4: 68, 6: 1280 } as const;
/** Oversized segments after a Packet Too Big that make "ignored" certain, even when captured away from the sender. */
const IGNORED_CERTAIN = 3;

interface Moment {
  readonly frame: number;
  readonly timeUs: number;
}

interface Sized extends Moment {
  readonly ipLength: number;
  /** Larger than the MTU but without DF (IPv4): routers fragment it. */
  readonly dfCleared?: boolean;
}

export type SuspicionReason = 'below-minimum' | 'not-smaller' | 'seq-not-in-flight';

/** judged: honoured / ignored / unresolved are reported; quiet: only what is suspicious about it; orphan. */
export type PtbRole = 'judged' | 'quiet' | 'orphan';

export class PtbEpisode {
  readonly ptbs = new EvidenceList();
  count = 0;
  fitting: Sized | undefined;
  resend: Sized | undefined;
  oversized = 0;
  oversizedResend = 0;
  /** TSO/GSO/GRO super-packets after the message: their size on the wire is not in the capture, so they show nothing. */
  superAfter = 0;
  superResend = 0;
  firstOversized: Sized | undefined;
  lastOversized: Sized | undefined;
  /** Oversized segments before the re-send that fits (in flight when the message was sent). */
  oversizedBeforeReaction = 0;
  /**
   * How long after the message larger packets may still come from the sender before it could have acted: 1.5 round
   * trips between the capture point and the sender (from the handshake) plus a margin. Undefined: handshake not seen.
   */
  graceUs: number | undefined;
  /** Larger packets within graceUs of the message (in flight, no evidence either way). */
  inFlight = 0;
  readonly oversizedFrames = new EvidenceList(8);
  /** Where the data packets that followed were captured relative to the capturing host. */
  senderDirection: 'in' | 'out' | undefined;
  /** For UDP: a later datagram of the flow was fragmented into pieces that fit. */
  fragmented: Sized | undefined;
  /**
   * Orphans: when the quoted flow's first packet passed, if it appears in the capture after the message. Before the
   * message's own time, the flow was carried here all along: a capture of several interfaces writes each interface's
   * packets in batches (dumpcap: up to hundreds of milliseconds apart), so file order is not time order across them.
   */
  flowFirstUs: number | undefined;
  /** Flows the table had forgotten when the message came (orphans: the quoted one may be among them). */
  forgotten = 0;

  constructor(
    readonly role: PtbRole,
    readonly flow: FlowRef,
    readonly quoted: QuotedFacts,
    readonly mtu: number,
    readonly from: string,
    readonly interfaceName: string | undefined,
    readonly first: Moment,
    readonly reasons: readonly string[],
    readonly reasonCodes: readonly SuspicionReason[],
    readonly dir: TcpDirection | undefined,
    /** Other packets of the protocol were captured (a capture filter did not simply exclude it). */
    readonly protocolCaptured: boolean,
  ) {}

  /** The capture point it was seen at (PointKeys). */
  point = '';

  added(frame: number, timeUs: number): void {
    this.count++;
    this.ptbs.add(frame, timeUs, `Packet Too Big mtu ${this.mtu}`);
  }

  /**
   * A data packet of the quoted flow's sender after the message. Returns true when the episode is settled. An IPv4
   * packet without DF fits whatever its size (routers fragment it): Linux clears DF when the reported MTU is below its
   * floor (net.ipv4.route.min_pmtu, 552) and sends 552-byte packets.
   */
  watch(seq: number | undefined, dataLength: number, ipLength: number, dontFragment: boolean, frame: number, timeUs: number, superPacket: boolean, direction: 'in' | 'out' | undefined): boolean {
    this.senderDirection ??= direction;
    const q = this.quoted.seq;
    const covers = q !== undefined && seq !== undefined && seqLe(seq, q) && seqLt(q, seqAdd(seq, Math.max(1, dataLength)));
    if (superPacket) {
      this.superAfter++;
      if (covers) this.superResend++;
      return false;
    }
    if (ipLength <= this.mtu || !dontFragment) {
      const s = { frame, timeUs, ipLength, dfCleared: ipLength > this.mtu };
      this.fitting ??= s;
      if (covers || q === undefined || seq === undefined) {
        this.resend = s;
        return true;
      }
      return false;
    }
    this.tooLarge(ipLength, frame, timeUs, covers);
    return false;
  }

  /**
   * A later UDP datagram (or its first fragment) of the quoted flow: fragmented into packets that fit shows the
   * message honoured; whole and larger than the MTU with DF (IPv6 always) shows it ignored; anything else shows nothing.
   */
  watchDatagram(fragment: boolean, dontFragment: boolean, ipLength: number, frame: number, timeUs: number, superPacket: boolean, direction: 'in' | 'out' | undefined): boolean {
    this.senderDirection ??= direction;
    if (superPacket) {
      this.superAfter++;
      return false;
    }
    if (fragment && ipLength <= this.mtu) {
      this.fragmented = { frame, timeUs, ipLength };
      return true;
    }
    if (ipLength > this.mtu && (fragment || dontFragment)) this.tooLarge(ipLength, frame, timeUs, false);
    return false;
  }

  private tooLarge(ipLength: number, frame: number, timeUs: number, covers: boolean): void {
    this.oversizedBeforeReaction++;
    if (this.graceUs !== undefined && timeUs - this.first.timeUs < this.graceUs) {
      this.inFlight++;
      return;
    }
    this.oversized++;
    if (covers) this.oversizedResend++;
    const s = { frame, timeUs, ipLength };
    this.firstOversized ??= s;
    this.lastOversized = s;
    this.oversizedFrames.add(frame, timeUs, `${ipLength} bytes, larger than mtu ${this.mtu}${covers ? ' (the quoted data again)' : ''}`);
  }
}

/** The reasons a Packet Too Big cannot be taken at its word; `inFlight` from the sender's state (undefined: unknown). */
export function suspicions(family: 4 | 6, mtu: number, quotedLength: number, inFlight: boolean | undefined, acked: boolean): { codes: SuspicionReason[]; words: string[] } {
  const codes: SuspicionReason[] = [];
  const words: string[] = [];
  if (mtu < MIN_MTU[family]) {
    codes.push('below-minimum');
    words.push(mtu === 0 && family === 4 ? 'it reports mtu 0 (a router older than RFC 1191 names no MTU)' : `mtu ${mtu} is below the IPv${family} minimum of ${MIN_MTU[family]}`);
  }
  // A quoted length shorter than an IP header is the sender's TSO leaving it 0, not a size to compare.
  if (mtu >= quotedLength && quotedLength >= (family === 4 ? 20 : 40)) {
    codes.push('not-smaller');
    words.push(`mtu ${mtu} is not smaller than the quoted packet (${quotedLength} bytes), so that packet fitted`);
  }
  if (inFlight === false) {
    codes.push('seq-not-in-flight');
    words.push(acked ? 'the quoted sequence number was already acknowledged' : 'the quoted sequence number was never sent on this connection');
  }
  return { codes, words };
}

const ms = (us: number): number => Math.round(us / 100) / 10;
const seconds = (us: number): string => (us >= 1_000_000 ? `${(us / 1_000_000).toFixed(2)} s` : `${ms(us)} ms`);

/** `(icmp.type==3 && icmp.code==4)` / `icmpv6.type==2` for the quoted flow's addresses and ports. */
export function ptbFilter(flow: FlowRef): string {
  const kind = flow.family === 4 ? 'icmp.type==3 && icmp.code==4' : 'icmpv6.type==2';
  const ip = flow.family === 4 ? 'ip' : 'ipv6';
  let f = `${kind} && ${ip}.addr==${flow.src} && ${ip}.addr==${flow.dst}`;
  if ((flow.protocol === 'tcp' || flow.protocol === 'udp') && flow.srcPort !== undefined && flow.dstPort !== undefined) {
    f += ` && ${flow.protocol}.srcport==${flow.srcPort} && ${flow.protocol}.dstport==${flow.dstPort}`;
  }
  return f;
}

function placeOf(d: 'in' | 'out' | undefined): string {
  if (d === 'out') return ' (the capturing host is the sender)';
  if (d === 'in') return ' (the sender is beyond the capturing interface)';
  return '';
}

/** The findings of one episode. */
export function episodeFindings(e: PtbEpisode, conditions: CaptureConditions, nowUs: number): Finding[] {
  const out: Finding[] = [];
  const label = `Packet Too Big from ${e.from} (mtu ${e.mtu}${e.count > 1 ? `, ${e.count} messages` : ''}) for ${flowLabel(e.flow)}`;
  const ptbs = e.ptbs.take();
  const base = {
    flow: e.flow,
    interface: e.interfaceName,
  };
  const commonFacts: Record<string, FactValue> = { mtu: e.mtu, messages: e.count, ptbFrame: e.first.frame, from: e.from, quotedLength: e.quoted.length };
  if (e.quoted.seq !== undefined) commonFacts['quotedSeq'] = e.quoted.seq;

  if (e.role === 'orphan' && !(e.flowFirstUs !== undefined && e.flowFirstUs <= e.first.timeUs)) {
    const caveats: string[] = [];
    let confidence: Confidence = 'high';
    if (!e.protocolCaptured) {
      caveats.push(`the capture holds no ${e.flow.protocol.toUpperCase()} packets at all (a capture filter may have excluded them)`);
      confidence = 'medium';
    }
    if (e.flowFirstUs !== undefined) {
      caveats.push('packets of that flow appear only after the message (the capture may have started mid-conversation)');
      confidence = 'low';
    }
    if (e.forgotten > 0) caveats.push(`the flow table had forgotten ${e.forgotten} flows by then (its limit): the quoted one may be among them`);
    out.push({
      ...base,
      kind: 'ptb-orphan',
      severity: 'warning',
      confidence: lowered(confidence, e.forgotten > 0 ? ['forgotten'] : []),
      evidence: ptbs.evidence,
      evidenceOmitted: ptbs.evidenceOmitted,
      sentence:
        `${label} quotes a flow this capture point never carried in either direction before it: the sender of that flow is elsewhere, ` +
        'the sign of ECMP or anycast delivering the ICMP to the wrong host, where it is useless (the real sender never learns the smaller MTU).',
      displayFilter: ptbFilter(e.flow),
      facts: commonFacts,
      caveats,
    });
  }
  if (e.reasonCodes.length > 0) {
    out.push({
      ...base,
      kind: 'ptb-suspicious',
      severity: 'warning',
      confidence: 'high',
      evidence: ptbs.evidence,
      evidenceOmitted: ptbs.evidenceOmitted,
      sentence: `${label} cannot be taken at its word: ${e.reasons.join('; ')}; a host should ignore it (RFC 1191, RFC 8201, RFC 5927).`,
      displayFilter: ptbFilter(e.flow),
      facts: { ...commonFacts, reasons: e.reasonCodes.join(',') },
      caveats: e.reasonCodes.includes('seq-not-in-flight') ? conditions.caveats(e.interfaceName, 'loss') : [],
    });
  }
  if (e.role !== 'judged') return out;
  const j = judged(e, label, commonFacts, conditions, nowUs);
  if (j !== undefined) out.push(j);
  return out;
}

/** Honoured, ignored or unresolved; for UDP only what later datagrams show (nothing else can be told). */
function judged(e: PtbEpisode, label: string, commonFacts: Record<string, FactValue>, conditions: CaptureConditions, nowUs: number): Finding | undefined {
  const ev = new EvidenceList();
  for (const p of e.ptbs.take().evidence) ev.add(p.frame, p.timeUs, p.role);
  const place = placeOf(e.senderDirection);
  const unit = e.flow.protocol === 'tcp' ? 'segment' : 'datagram';
  const facts: Record<string, FactValue> = { ...commonFacts };
  if (e.senderDirection !== undefined) facts['senderDirection'] = e.senderDirection;
  const honoured = e.resend ?? e.fragmented;
  if (honoured !== undefined) {
    const fit = e.fitting ?? honoured;
    if (fit.frame !== honoured.frame) ev.add(fit.frame, fit.timeUs, `first ${unit} that fits: ${fit.ipLength} bytes`);
    ev.add(
      honoured.frame,
      honoured.timeUs,
      e.fragmented !== undefined ? `fragmented to fit: first fragment ${honoured.ipLength} bytes` : `the quoted data re-sent in ${honoured.ipLength} bytes${honoured.dfCleared === true ? ' without DF' : ''}`,
    );
    const reaction = honoured.timeUs - e.first.timeUs;
    Object.assign(facts, { reactionMs: ms(reaction), firstFittingFrame: fit.frame, resendFrame: honoured.frame, oversizedBeforeReaction: e.oversizedBeforeReaction });
    const { evidence, evidenceOmitted } = sorted(ev);
    const cleared = honoured.dfCleared === true ? ' without DF, so that routers fragment it (Linux does this when the reported MTU is below its floor, net.ipv4.route.min_pmtu, 552)' : '';
    const seqWords =
      e.quoted.seq !== undefined && e.fragmented === undefined
        ? ` the quoted data (seq ${e.quoted.seq}) was re-sent in a ${honoured.ipLength}-byte packet${cleared}`
        : e.fragmented === undefined
          ? ` a ${honoured.ipLength}-byte packet${cleared} followed`
          : ` the next ${unit} of the flow was fragmented into packets of at most ${e.mtu} bytes (first ${honoured.ipLength})`;
    if (honoured.dfCleared === true) facts['dfCleared'] = true;
    return {
      kind: 'ptb-honoured',
      severity: 'info',
      confidence: 'high',
      flow: e.flow,
      interface: e.interfaceName,
      evidence,
      evidenceOmitted,
      sentence:
        `${label} was honoured${place}: ${seconds(reaction)} after it${seqWords} (frame ${honoured.frame})` +
        (e.inFlight > 0 ? `; ${e.inFlight} larger packets still in flight came before that` : '') +
        (e.oversized > 0 ? `; ${e.oversized} larger packets came before that${e.graceUs === undefined ? '' : ' after it could have acted (a slow reaction)'}` : '') +
        '.',
      displayFilter: framesFilter(evidence),
      facts,
      caveats: [],
    };
  }
  // With super-packets after it, packets "larger than the MTU" may be offload artefacts too (a GSO packet of 1500 bytes
  // leaves as two): only a re-send that fits shows anything, and without one the capture cannot tell.
  // Larger packets that all came before the first one that fits are a slow reaction, not a refusal: the message may
  // have been delayed (a relay hands it on) or the sender learned the MTU from another message to the same host first.
  const shrankLater = e.fitting !== undefined && e.lastOversized !== undefined && e.lastOversized.timeUs <= e.fitting.timeUs;
  // One or two larger packets, none of them the quoted data, then nothing more of that sender: too few to tell a
  // refusal from packets still in flight behind a delayed message (a relay, a lossy capture). The sending host's own
  // capture ('out') sees what it sent after the message arrived, so there they count.
  const tooFew = e.oversized < IGNORED_CERTAIN && e.oversizedResend === 0 && e.fitting === undefined && e.senderDirection !== 'out';
  if (e.oversized > 0 && e.superAfter === 0 && !shrankLater && !tooFew) {
    for (const o of e.oversizedFrames.take().evidence) ev.add(o.frame, o.timeUs, o.role);
    const firstO = e.firstOversized!;
    const lastO = e.lastOversized!;
    const certain = e.graceUs !== undefined || e.oversizedResend > 0 || e.oversized >= IGNORED_CERTAIN || e.senderDirection === 'out';
    const caveats = conditions.caveats(e.interfaceName, 'oversized');
    const confidence = lowered(certain ? 'high' : 'medium', caveats);
    Object.assign(facts, {
      oversizedAfter: e.oversized,
      inFlight: e.inFlight,
      oversizedResends: e.oversizedResend,
      firstOversizedFrame: firstO.frame,
      oversizedOverMs: ms(lastO.timeUs - firstO.timeUs),
      largestAfter: Math.max(firstO.ipLength, lastO.ipLength),
    });
    const { evidence, evidenceOmitted } = sorted(ev);
    return {
      kind: 'ptb-ignored',
      severity: 'error',
      confidence,
      flow: e.flow,
      interface: e.interfaceName,
      evidence,
      evidenceOmitted,
      sentence:
        `${label} was ignored${place}: the sender went on with ${e.oversized} ${unit}s larger than ${e.mtu} bytes over ${seconds(lastO.timeUs - e.first.timeUs)} after it` +
        (e.graceUs !== undefined ? ` (after ${seconds(e.graceUs)}, when it could have acted${e.inFlight > 0 ? `; ${e.inFlight} more before that were in flight` : ''})` : '') +
        (e.oversizedResend > 0 ? `, ${e.oversizedResend} of them the quoted data again` : '') +
        (e.fitting === undefined ? ', and none that fits' : `, though frame ${e.fitting.frame} fits`) +
        (certain ? '' : ' (so few that they may have been in flight when the message was sent)') +
        '.',
      displayFilter: framesFilter(evidence),
      facts,
      caveats,
    };
  }
  if (e.flow.protocol !== 'tcp' && e.superAfter === 0) return undefined;
  if (e.fitting !== undefined && e.superAfter === 0) {
    Object.assign(facts, { reactionMs: ms(e.fitting.timeUs - e.first.timeUs), firstFittingFrame: e.fitting.frame });
    if (e.oversized > 0) facts['oversizedAfter'] = e.oversized;
    ev.add(e.fitting.frame, e.fitting.timeUs, `first ${unit} that fits: ${e.fitting.ipLength} bytes`);
    const s = sorted(ev);
    return {
      kind: 'ptb-honoured',
      severity: 'info',
      confidence: 'medium',
      flow: e.flow,
      interface: e.interfaceName,
      evidence: s.evidence,
      evidenceOmitted: s.evidenceOmitted,
      sentence:
        `${label}: every later ${unit} fits (the first, frame ${e.fitting.frame}, ${seconds(e.fitting.timeUs - e.first.timeUs)} after it` +
        (e.oversized > 0 ? `, after ${e.oversized} larger ${unit}${e.oversized === 1 ? '' : 's'} sent when it could have acted: a slow reaction` : '') +
        '), but the quoted data was not seen re-sent, so honoured is likely but not shown.',
      displayFilter: framesFilter(s.evidence),
      facts,
      caveats: [],
    };
  }
  const { evidence, evidenceOmitted } = sorted(ev);
  if (e.superAfter > 0 || e.oversized > 0) Object.assign(facts, { superPacketsAfter: e.superAfter, oversizedAfter: e.oversized });
  if (e.inFlight > 0) facts['inFlight'] = e.inFlight;
  const acked = e.dir !== undefined && e.quoted.seq !== undefined && e.dir.ackSeen && seqLt(e.quoted.seq, e.dir.sndUna);
  Object.assign(facts, { waitedMs: ms(nowUs - e.first.timeUs) });
  return {
    kind: 'ptb-unresolved',
    severity: 'info',
    confidence: 'low',
    flow: e.flow,
    interface: e.interfaceName,
    evidence,
    evidenceOmitted,
    sentence:
      `${label}: cannot tell whether it was honoured: ` +
      (e.superAfter === 0 && e.oversized > 0
        ? `only ${e.oversized} larger ${unit}${e.oversized === 1 ? '' : 's'} followed it after it could have acted${e.inFlight > 0 ? ` (and ${e.inFlight} in flight before)` : ''}, none of them the quoted data, then the capture holds nothing more of that sender: too few to tell a refusal from packets still in flight behind a delayed message`
        : e.superAfter === 0 && e.inFlight > 0
        ? `only ${e.inFlight} larger packets followed it, all within ${seconds(e.graceUs ?? 0)} (1.5 round trips to the sender: in flight before it could act), then the capture holds nothing more of that sender`
        : e.superAfter > 0
        ? `${e.superAfter} offload super-packets (TSO/GSO on the sending host, GRO on a receiving one) of that flow followed it${e.superResend > 0 ? ' (the quoted data among them)' : ''}, and the size of what crossed the wire is not in the capture`
        : `no ${unit} of that flow's sender followed it in the capture (${seconds(nowUs - e.first.timeUs)} until its end)`) +
      (acked && e.superResend === 0 ? ', and the quoted data was acknowledged without being re-sent' : '') +
      '.',
    displayFilter: framesFilter(evidence),
    facts,
    caveats: e.superAfter > 0 ? ['packets of that flow after the message are offload super-packets (TSO/GSO/GRO)'] : [],
  };
}

function sorted(ev: EvidenceList): { evidence: EvidenceFrame[]; evidenceOmitted: number } {
  const t = ev.take();
  t.evidence.sort((a, b) => a.frame - b.frame);
  return t;
}
