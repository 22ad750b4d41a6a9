/**
 * Encapsulation overhead (finding kinds 'encap-overhead' and 'ptb-to-tunnel-endpoint'): tunnel packets (VXLAN, GUE,
 * FOU, GRE, IP-in-IP) are the inner packet plus the tunnel's headers, and when that sum exceeds what the path carries
 * the outer packet is fragmented, refused with a Packet Too Big, or silently lost. Three kinds of evidence say so:
 *
 * - a Packet Too Big quoting a tunnel packet, with an MTU below the quoted outer length (the path MTU is the one it
 *   reports);
 * - outer IPv4 fragments whose first fragment carries a tunnel packet (the path MTU is at most the largest fragment);
 * - an inner TCP segment whose outer packet is larger than the largest outer packet of the same tunnel that was ever
 *   acknowledged, sent three times or more and never acknowledged (the largest answered outer packet is what the path
 *   is known to carry).
 *
 * A Packet Too Big about a tunnel packet goes to the tunnel endpoint (the outer source), not to the inner packet's
 * sender; unless the endpoint relays it, the sender never learns. 'ptb-to-tunnel-endpoint' follows the inner flow
 * after it: packets still too big for the tunnel, with none fitting after the last of them, mean it was not relayed
 * (error); packets that shrank to fit, or a Packet Too Big seen going to the inner sender, mean it was (info).
 */
import { BoundedMap } from './bounded-map.js';
import { DirectionTable } from './direction-table.js';
import { lowered } from './capture-conditions.js';
import type { AnalyzerLimits, Detector, Eviction, ReportContext } from './detector.js';
import { type Confidence, EvidenceList, type Finding, type FindingKind, type FlowRef, flowLabel, framesFilter, type Severity } from './finding.js';
import { directionKey, flowOf } from './flow-key.js';
import { type PacketFacts, protocolName, type QuotedFacts, type TunnelKind } from './packet-facts.js';

/** How findings name each tunnel. */
export const TUNNEL_NAMES: Readonly<Record<TunnelKind, string>> = { vxlan: 'VXLAN', gue: 'GUE', fou: 'FOU', gre: 'GRE', 'ip-in-ip': 'IP-in-IP' };

/** Sends of one segment (the first and two retransmissions) before its silence counts as evidence. */
export const MIN_UNANSWERED_SENDS = 3;

interface Sized {
  /** The whole outer packet: inner length plus overhead. */
  outerLength: number;
  innerLength: number;
}

/** One direction of one tunnel: outer source → outer destination, one encapsulation. */
interface Tunnel {
  readonly kind: TunnelKind;
  readonly family: 4 | 6;
  readonly src: string;
  readonly dst: string;
  overhead: number;
  interface: string | undefined;
  /** The largest outer packet whose inner TCP data the other end acknowledged (0: none). */
  largestAnswered: number;
  answeredFrame: number;
  // Packet Too Big quoting this tunnel's packets with an MTU below their length.
  ptb: { count: number; evidence: EvidenceList; mtu: number; from: string; local: boolean; sized: Sized; flow: FlowRef | undefined } | undefined;
  // Outer datagrams that left as IPv4 fragments.
  fragments: { datagrams: number; evidence: EvidenceList; largestFragment: number; sized: Sized; flow: FlowRef | undefined } | undefined;
}

/** The oldest unacknowledged data segment of an inner TCP flow carried in a tunnel. */
interface InnerFlow {
  readonly tunnel: Tunnel;
  readonly flow: FlowRef;
  seq: number;
  end: number;
  sized: Sized;
  sends: number;
  evidence: EvidenceList;
  acked: boolean;
}

/** A Packet Too Big that went to a tunnel endpoint, and what the inner flow's sender did afterwards. */
interface EndpointPtb {
  readonly flow: FlowRef;
  readonly kind: TunnelKind;
  readonly endpoint: string;
  readonly from: string;
  readonly interface: string | undefined;
  readonly mtu: number;
  readonly overhead: number;
  readonly quotedOuter: number;
  readonly quotedInner: number;
  readonly firstUs: number;
  readonly evidence: EvidenceList;
  count: number;
  /** Inner data packets after the Packet Too Big still larger than MTU minus overhead. */
  tooBig: number;
  smallestTooBig: number;
  largestTooBig: number;
  /** Inner data packets that fit, sent after the last one still too big. */
  fitAfter: number;
  largestFit: number;
  /** A Packet Too Big seen going to the inner sender about this flow (the endpoint, or someone, relayed it). */
  relayedFrame: number;
}

/** Serial number comparison (RFC 1982) of 32-bit TCP sequence numbers: a ≥ b. */
function seqAtLeast(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

function ptbWords(family: 4 | 6): string {
  return family === 4 ? '"fragmentation needed"' : 'Packet Too Big';
}

export class EncapsulationDetector implements Detector {
  private readonly tunnels: BoundedMap<string, Tunnel>;
  private readonly innerFlows: DirectionTable<InnerFlow>;
  /** Inner destinations of tunnelled TCP flows: only their packets can acknowledge a tunnelled segment. */
  private readonly innerPeers: BoundedMap<string, true>;
  private readonly fragmentOwners: BoundedMap<string, Tunnel>;
  private readonly endpointPtbs: BoundedMap<string, EndpointPtb>;
  /** Inner sources with a Packet Too Big to their tunnel endpoint: only their packets are followed. */
  private readonly watchedSenders: BoundedMap<string, true>;
  private readonly capped = new Map<FindingKind, number>();

  constructor(private readonly limits: AnalyzerLimits) {
    this.tunnels = new BoundedMap(limits.maxFlows);
    this.innerFlows = new DirectionTable(limits.maxFlows);
    this.innerPeers = new BoundedMap(limits.maxFlows);
    this.fragmentOwners = new BoundedMap(limits.maxFlows);
    this.endpointPtbs = new BoundedMap(limits.maxFlows);
    this.watchedSenders = new BoundedMap(limits.maxFlows);
  }

  observe(p: PacketFacts): void {
    const outer = p.outer;
    if (outer === undefined) return;
    const icmp = p.icmp;
    if (icmp !== undefined) {
      if (icmp.packetTooBig && icmp.quoted !== undefined) this.packetTooBig(p, icmp.quoted, icmp.mtu ?? 0);
      return;
    }
    if (p.tunnel !== undefined) this.tunnelled(p);
    else if (outer.fragment !== undefined && outer.fragment.offset > 0 && this.fragmentOwners.size > 0) this.laterFragment(p);
    const inner = p.inner!;
    const tcp = p.tcp;
    if (tcp !== undefined && tcp.ackFlag && this.innerPeers.size > 0 && this.innerPeers.has(inner.src)) this.acknowledgement(p);
    if (this.watchedSenders.size > 0 && this.watchedSenders.has(inner.src)) this.afterEndpointPtb(p);
  }

  private tunnelOf(kind: TunnelKind, family: 4 | 6, src: string, dst: string, overhead: number, iface: string | undefined): Tunnel {
    const key = `${kind} ${src} ${dst}`;
    let t = this.tunnels.get(key);
    if (t === undefined) {
      t = { kind, family, src, dst, overhead, interface: iface, largestAnswered: 0, answeredFrame: 0, ptb: undefined, fragments: undefined };
      this.tunnels.set(key, t);
    } else {
      t.overhead = overhead;
    }
    return t;
  }

  private tunnelled(p: PacketFacts): void {
    const outer = p.outer!;
    const inner = p.inner!;
    const tunnel = this.tunnelOf(p.tunnel!.kind, outer.family, outer.src, outer.dst, p.tunnel!.overhead, p.interface);
    const sized = { outerLength: inner.length + tunnel.overhead, innerLength: inner.length };
    const fragment = outer.fragment;
    if (fragment !== undefined) {
      // Only a first fragment holds the tunnel headers; the later ones are found by identification.
      const f = (tunnel.fragments ??= { datagrams: 0, evidence: new EvidenceList(), largestFragment: 0, sized, flow: flowOf(p) });
      f.datagrams++;
      if (outer.length > f.largestFragment) f.largestFragment = outer.length;
      if (sized.outerLength > f.sized.outerLength) f.sized = sized;
      f.evidence.add(p.frame, p.timeUs, `first fragment ${outer.length} bytes of a ${sized.outerLength}-byte ${TUNNEL_NAMES[tunnel.kind]} packet (ident ${fragment.ident})`);
      this.fragmentOwners.set(`${outer.src} ${outer.dst} ${fragment.ident}`, tunnel);
      return;
    }
    const tcp = p.tcp;
    if (tcp === undefined) return;
    if (tcp.payloadLength <= 0) return;
    this.innerPeers.set(inner.dst, true);
    const end = (tcp.seq + tcp.payloadLength) >>> 0;
    const f = this.innerFlows.get('', inner.src, tcp.srcPort, inner.dst, tcp.dstPort);
    if (f === undefined || f.acked || !seqAtLeast(tcp.seq, f.seq)) {
      const evidence = new EvidenceList();
      evidence.add(p.frame, p.timeUs, `${TUNNEL_NAMES[tunnel.kind]} packet ${sized.outerLength} bytes: inner seq ${tcp.seq} len ${tcp.payloadLength}`);
      this.innerFlows.set('', inner.src, tcp.srcPort, inner.dst, tcp.dstPort, { tunnel, flow: flowOf(p)!, seq: tcp.seq, end, sized, sends: 1, evidence, acked: false });
      return;
    }
    if (f.seq === tcp.seq && f.end === end) {
      f.sends++;
      f.evidence.add(p.frame, p.timeUs, `retransmission ${f.sends - 1}, ${sized.outerLength} bytes`);
    }
  }

  private laterFragment(p: PacketFacts): void {
    const outer = p.outer!;
    const tunnel = this.fragmentOwners.get(`${outer.src} ${outer.dst} ${outer.fragment!.ident}`, false);
    const f = tunnel?.fragments;
    if (f === undefined) return;
    if (outer.length > f.largestFragment) f.largestFragment = outer.length;
    f.evidence.add(p.frame, p.timeUs, `later fragment ${outer.length} bytes (offset ${outer.fragment!.offset})`);
  }

  private acknowledgement(p: PacketFacts): void {
    const ip = p.inner!;
    const tcp = p.tcp!;
    // The direction the acknowledgement answers: the tunnelled data's.
    const f = this.innerFlows.get('', ip.dst, tcp.dstPort, ip.src, tcp.srcPort, false);
    if (f === undefined || f.acked || !seqAtLeast(tcp.ack, f.end)) return;
    f.acked = true;
    if (f.sized.outerLength > f.tunnel.largestAnswered) {
      f.tunnel.largestAnswered = f.sized.outerLength;
      f.tunnel.answeredFrame = p.frame;
    }
  }

  private packetTooBig(p: PacketFacts, quoted: QuotedFacts, mtu: number): void {
    if (quoted.tunnel !== undefined && quoted.inner !== undefined && quoted.tunnelOverhead !== undefined) {
      const q = quoted.inner;
      const tunnel = this.tunnelOf(quoted.tunnel, quoted.family, quoted.src, quoted.dst, quoted.tunnelOverhead, p.interface);
      const sized = { outerLength: quoted.length, innerLength: q.length };
      const innerFlow: FlowRef = { family: q.src.includes(':') ? 6 : 4, protocol: protocolName(q.protocol), src: q.src, dst: q.dst, ...(q.srcPort === undefined ? {} : { srcPort: q.srcPort }), ...(q.dstPort === undefined ? {} : { dstPort: q.dstPort }) };
      const from = p.outer!.src;
      if (mtu > 0 && mtu < quoted.length) {
        const t = (tunnel.ptb ??= { count: 0, evidence: new EvidenceList(), mtu, from, local: from === quoted.src, sized, flow: innerFlow });
        t.count++;
        t.mtu = Math.min(t.mtu, mtu);
        t.evidence.add(p.frame, p.timeUs, `${ptbWords(quoted.family)} from ${from}, MTU ${mtu}, quoting a ${quoted.length}-byte ${TUNNEL_NAMES[quoted.tunnel]} packet`);
      }
      // Addressed to the tunnel endpoint (the quoted outer source), about the inner flow's packet.
      const key = directionKey(innerFlow);
      let e = this.endpointPtbs.get(key);
      if (e === undefined) {
        e = {
          flow: innerFlow, kind: quoted.tunnel, endpoint: quoted.src, from, interface: p.interface, mtu, overhead: quoted.tunnelOverhead,
          quotedOuter: quoted.length, quotedInner: q.length, firstUs: p.timeUs, evidence: new EvidenceList(), count: 0,
          tooBig: 0, smallestTooBig: 0, largestTooBig: 0, fitAfter: 0, largestFit: 0, relayedFrame: 0,
        };
        this.endpointPtbs.set(key, e);
        this.watchedSenders.set(q.src, true);
      }
      e.count++;
      e.evidence.add(p.frame, p.timeUs, `${ptbWords(quoted.family)} to tunnel endpoint ${p.outer!.dst}, MTU ${mtu}, about inner ${q.src} → ${q.dst}`);
      return;
    }
    // A Packet Too Big to an inner sender about its own packet: the relay of one sent to the endpoint.
    if (this.endpointPtbs.size === 0 || quoted.tunnel !== undefined) return;
    const flow: FlowRef = { family: quoted.family, protocol: protocolName(quoted.protocol), src: quoted.src, dst: quoted.dst, ...(quoted.srcPort === undefined ? {} : { srcPort: quoted.srcPort }), ...(quoted.dstPort === undefined ? {} : { dstPort: quoted.dstPort }) };
    const e = this.endpointPtbs.get(directionKey(flow), false);
    if (e === undefined || p.outer!.dst !== quoted.src || e.relayedFrame !== 0) return;
    e.relayedFrame = p.frame;
    e.evidence.add(p.frame, p.timeUs, `${ptbWords(quoted.family)} to the inner sender ${quoted.src}, MTU ${mtu}`);
  }

  private afterEndpointPtb(p: PacketFacts): void {
    const flow = flowOf(p);
    if (flow === undefined) return;
    const e = this.endpointPtbs.get(directionKey(flow), false);
    // A GSO/GRO super-packet's length is not what crossed the wire.
    if (e === undefined || p.timeUs < e.firstUs || p.superPacket) return;
    const data = p.tcp?.payloadLength ?? p.udp?.payloadLength ?? 0;
    if (data <= 0) return;
    const length = p.inner!.length;
    if (length > e.mtu - e.overhead) {
      e.tooBig++;
      e.fitAfter = 0;
      if (length > e.largestTooBig) e.largestTooBig = length;
      if (e.smallestTooBig === 0 || length < e.smallestTooBig) e.smallestTooBig = length;
      e.evidence.add(p.frame, p.timeUs, `inner sender's packet ${length} bytes, still too big for the tunnel`);
    } else {
      if (e.fitAfter === 0) e.evidence.add(p.frame, p.timeUs, `inner sender's packet ${length} bytes, fits the tunnel`);
      e.fitAfter++;
      if (length > e.largestFit) e.largestFit = length;
    }
  }

  report(context: ReportContext): Finding[] {
    const overhead: Finding[] = [];
    for (const t of this.tunnels.values()) {
      if (t.ptb !== undefined) overhead.push(this.ptbOverhead(t, context));
      if (t.fragments !== undefined) overhead.push(this.fragmentOverhead(t, context));
    }
    for (const f of this.innerFlows.values()) {
      const t = f.tunnel;
      if (f.acked || f.sends < MIN_UNANSWERED_SENDS || t.largestAnswered === 0 || f.sized.outerLength <= t.largestAnswered) continue;
      overhead.push(this.unansweredOverhead(f, context));
    }
    const endpoint: Finding[] = [];
    for (const e of this.endpointPtbs.values()) endpoint.push(this.endpointFinding(e, context));
    return [...this.capTo('encap-overhead', overhead), ...this.capTo('ptb-to-tunnel-endpoint', endpoint)];
  }

  private capTo(kind: FindingKind, findings: Finding[]): Finding[] {
    const max = this.limits.maxFindingsPerKind;
    this.capped.set(kind, Math.max(0, findings.length - max));
    return findings.length > max ? findings.slice(0, max) : findings;
  }

  evictions(): Eviction[] {
    const out: Eviction[] = [
      { table: 'tunnels', evicted: this.tunnels.evicted, capacity: this.tunnels.capacity },
      { table: 'tunnelled TCP flows', evicted: this.innerFlows.evicted, capacity: this.innerFlows.capacity },
      { table: 'Packet Too Big to tunnel endpoints', evicted: this.endpointPtbs.evicted, capacity: this.endpointPtbs.capacity },
    ];
    for (const [kind, n] of this.capped) if (n > 0) out.push({ table: `${kind} findings`, evicted: n, capacity: this.limits.maxFindingsPerKind });
    return out.filter((e) => e.evicted > 0);
  }

  private finding(
    kind: FindingKind, severity: Severity, confidence: Confidence, t: { interface: string | undefined }, flow: FlowRef | undefined,
    evidence: EvidenceList, sentence: string, facts: Finding['facts'], caveats: string[],
  ): Finding {
    const { evidence: frames, evidenceOmitted } = evidence.take();
    return {
      kind, severity, confidence: lowered(confidence, caveats), ...(flow === undefined ? {} : { flow }), ...(t.interface === undefined ? {} : { interface: t.interface }),
      evidence: frames, evidenceOmitted, sentence, displayFilter: framesFilter(frames), facts, caveats,
    };
  }

  private sum(t: Tunnel, s: Sized): string {
    return `inner ${s.innerLength} + ${TUNNEL_NAMES[t.kind]} overhead ${s.outerLength - s.innerLength} = ${s.outerLength} bytes`;
  }

  private baseFacts(t: Tunnel, s: Sized): Record<string, string | number> {
    return { tunnel: t.kind, outerSrc: t.src, outerDst: t.dst, overhead: s.outerLength - s.innerLength, innerLength: s.innerLength, outerLength: s.outerLength };
  }

  private ptbOverhead(t: Tunnel, context: ReportContext): Finding {
    const b = t.ptb!;
    const caveats = context.conditions.caveats(t.interface, 'contents');
    const who = b.local ? `the tunnel endpoint ${t.src} itself (its own kernel refused the packet: it never left that host)` : b.from;
    const sentence =
      `${b.count} ${ptbWords(t.family)} message${b.count === 1 ? '' : 's'} from ${who} quote ${TUNNEL_NAMES[t.kind]} packets ${t.src} → ${t.dst}: ` +
      `${this.sum(t, b.sized)}, larger than the path's ${b.mtu} (the MTU the ${ptbWords(t.family)} reports). ` +
      `The tunnel's inner MTU must be at most ${b.mtu - (b.sized.outerLength - b.sized.innerLength)} for its packets to fit.`;
    return this.finding('encap-overhead', 'error', 'high', t, b.flow, b.evidence, sentence,
      { ...this.baseFacts(t, b.sized), pathMtu: b.mtu, pathMtuSource: 'packet-too-big', packetTooBig: b.count, ptbFrom: b.from }, caveats);
  }

  private fragmentOverhead(t: Tunnel, context: ReportContext): Finding {
    const f = t.fragments!;
    const caveats = context.conditions.caveats(t.interface, 'contents');
    const sentence =
      `${f.datagrams} ${TUNNEL_NAMES[t.kind]} packet${f.datagrams === 1 ? '' : 's'} ${t.src} → ${t.dst} crossed as IPv4 fragments: ` +
      `${this.sum(t, f.sized)}, larger than the path's ${f.largestFragment} (the largest outer fragment seen). ` +
      `Fragmented tunnel packets cost reassembly at the far endpoint and die where fragments are dropped; an inner MTU of ` +
      `${f.largestFragment - (f.sized.outerLength - f.sized.innerLength)} would avoid it.`;
    return this.finding('encap-overhead', 'warning', 'high', t, f.flow, f.evidence, sentence,
      { ...this.baseFacts(t, f.sized), pathMtu: f.largestFragment, pathMtuSource: 'largest-fragment', fragmentedPackets: f.datagrams }, caveats);
  }

  private unansweredOverhead(f: InnerFlow, context: ReportContext): Finding {
    const t = f.tunnel;
    const caveats = [...context.conditions.caveats(t.interface, 'loss'), ...context.conditions.caveats(t.interface, 'oversized')];
    const sentence =
      `${flowLabel(f.flow)} through ${TUNNEL_NAMES[t.kind]} ${t.src} → ${t.dst}: the segment at seq ${f.seq} was sent ${f.sends} times and never ` +
      `acknowledged: ${this.sum(t, f.sized)}, larger than the path's ${t.largestAnswered} (the largest outer packet of this tunnel ` +
      `that was acknowledged, frame ${t.answeredFrame}). No Packet Too Big about it was seen here.`;
    return this.finding('encap-overhead', 'error', 'medium', t, f.flow, f.evidence, sentence,
      { ...this.baseFacts(t, f.sized), pathMtu: t.largestAnswered, pathMtuSource: 'largest-answered', sends: f.sends }, caveats);
  }

  private endpointFinding(e: EndpointPtb, context: ReportContext): Finding {
    const name = TUNNEL_NAMES[e.kind];
    const fits = e.mtu - e.overhead;
    const head =
      `${e.count} ${ptbWords(e.flow.family)} message${e.count === 1 ? '' : 's'} from ${e.from} (MTU ${e.mtu}) went to the ${name} tunnel endpoint ` +
      `${e.endpoint}, not to ${e.flow.src}, the sender of the ${e.quotedInner}-byte inner packet it quotes (${flowLabel(e.flow)}); ` +
      `inner packets fit only up to ${fits} bytes. `;
    const facts = {
      tunnel: e.kind, endpoint: e.endpoint, ptbFrom: e.from, mtu: e.mtu, overhead: e.overhead, quotedOuterLength: e.quotedOuter,
      quotedInnerLength: e.quotedInner, packetTooBig: e.count, tooBigAfter: e.tooBig, smallestTooBigAfter: e.smallestTooBig, fittingAfter: e.fitAfter, relayedFrame: e.relayedFrame,
    };
    let severity: Severity;
    let confidence: Confidence = 'high';
    let verdict: string;
    let caveats: string[] = [];
    if (e.relayedFrame !== 0) {
      severity = 'info';
      verdict = `relayed: a ${ptbWords(e.flow.family)} to ${e.flow.src} about the flow followed (frame ${e.relayedFrame}).`;
    } else if (e.tooBig > 0 && e.fitAfter === 0) {
      severity = 'error';
      caveats = context.conditions.caveats(e.interface, 'oversized');
      verdict =
        `Not relayed: the inner sender kept sending packets too big for the tunnel afterwards (${e.tooBig}, ${e.smallestTooBig === e.largestTooBig ? `of ${e.largestTooBig}` : `of ${e.smallestTooBig} to ${e.largestTooBig}`} bytes, ` +
        `none fitting after the last of them), so it never learned the smaller MTU.`;
    } else if (e.fitAfter > 0) {
      severity = 'info';
      verdict = `Relayed or translated: the inner sender's packets shrank to fit (${e.fitAfter} after the last one too big, up to ${e.largestFit} bytes).`;
    } else {
      severity = 'warning';
      confidence = 'low';
      verdict = 'Cannot tell whether the endpoint relayed it: the capture holds no data packet of the inner flow after it.';
    }
    return this.finding('ptb-to-tunnel-endpoint', severity, confidence, e, e.flow, e.evidence, head + verdict, facts, caveats);
  }
}
