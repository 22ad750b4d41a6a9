/**
 * The path-MTU detector of TCP and Packet Too Big: one table of TCP directions (tcp-sender-table.ts) feeds both the
 * Packet Too Big judgement (ptb-tracker.ts: honoured, ignored, unresolved, suspicious, orphan) and the black-hole
 * search (blackhole-tracker.ts: pmtu-blackhole, blackhole-fallback). Non-TCP conversations are remembered by key only,
 * so that a Packet Too Big quoting UDP or ICMP can be told orphan or not.
 */
import { BoundedMap } from './bounded-map.js';
import { BlackholeTracker } from './blackhole-tracker.js';
import { DEFAULT_LIMITS, type AnalyzerLimits, type Detector, type Eviction, type ReportContext } from './detector.js';
import type { Finding, FindingKind, FlowRef } from './finding.js';
import { conversationKey, directionKey, reversed } from './flow-key.js';
import { type IpFacts, type PacketFacts, protocolName } from './packet-facts.js';
import { episodeFindings, PtbEpisode, type PtbRole, suspicions, EPISODE_US } from './ptb-tracker.js';
import { PointKeys } from './capture-point.js';
import { reverseKeyOf, seqLt, TcpSenderTable } from './tcp-sender-table.js';
import { IpProtocol } from '../packet/ip-protocol.js';

const MAX_WATCHED = 4;
/** Added to 1.5 round trips: what the sender's stack takes to act on the message (Linux: microseconds). */
const REACTION_MARGIN_US = 2000;

const TUNNEL_PROTOCOLS: ReadonlySet<number> = new Set([IpProtocol.IpInIp, IpProtocol.Ipv6, IpProtocol.Gre]);

export class TcpPmtuDetector implements Detector {
  private readonly points = new PointKeys();
  private readonly tcp: TcpSenderTable;
  /** Non-TCP conversations seen (conversation keys; portless ones by address pair), each with when its first packet passed. */
  private readonly seen: BoundedMap<string, number>;
  private readonly packetsOf = new Map<number, number>();
  private readonly holes: BlackholeTracker;
  /** Open episodes by quoted direction and MTU, to join the messages of one burst. */
  private readonly episodesByKey: BoundedMap<string, PtbEpisode>;
  private readonly episodes: PtbEpisode[] = [];
  private episodesDropped = 0;
  /** UDP directions whose next datagrams show whether a Packet Too Big was acted on. */
  private readonly udpWatch: BoundedMap<string, PtbEpisode>;
  private readonly cut = new Map<FindingKind, number>();

  constructor(private readonly limits: AnalyzerLimits = DEFAULT_LIMITS) {
    // One direction per flow's worth of memory (about 400 bytes each): a conversation seen both ways takes two.
    this.tcp = new TcpSenderTable(limits.maxFlows);
    this.seen = new BoundedMap(limits.maxFlows);
    this.holes = new BlackholeTracker(limits.maxFindingsPerKind);
    this.episodesByKey = new BoundedMap(limits.maxFlows);
    this.udpWatch = new BoundedMap(Math.max(1, Math.min(limits.maxFlows, 10_000)));
  }

  observe(p: PacketFacts): void {
    const icmp = p.icmp;
    if (icmp !== undefined && icmp.quoted !== undefined) {
      if (icmp.packetTooBig) this.packetTooBig(p);
      return;
    }
    const ip = p.inner;
    if (ip === undefined) return;
    if (p.tcp !== undefined) this.tcpPacket(p, ip);
    else this.otherPacket(p, ip);
  }

  private tcpPacket(p: PacketFacts, ip: IpFacts): void {
    const t = p.tcp!;
    this.tcp.tcpPackets++;
    const point = this.points.of(p);
    let dir = this.tcp.find(point, ip.src, t.srcPort, ip.dst, t.dstPort);
    if (dir === undefined) {
      const flow: FlowRef = { family: ip.family, protocol: 'tcp', src: ip.src, srcPort: t.srcPort, dst: ip.dst, dstPort: t.dstPort };
      dir = this.tcp.direction(point, flow, p.interface, p.frame, p.timeUs);
    }
    dir.packets++;
    const peer = dir.peer;
    if (t.syn) {
      if (t.mss !== undefined) dir.mssAnnounced = t.mss;
      if (t.ackFlag && peer?.synUs !== undefined) dir.rttUs ??= p.timeUs - peer.synUs;
      dir.synUs ??= p.timeUs;
    } else if (dir.rttUs === undefined && dir.synUs !== undefined && t.ackFlag && peer?.synUs !== undefined && peer.synUs > dir.synUs) {
      // The client's first ACK after the SYN-ACK.
      dir.rttUs = p.timeUs - peer.synUs;
    }
    if (t.ackFlag && peer !== undefined && peer.dataSeen) {
      peer.acked(t.ack);
      if (peer.holes !== undefined) this.holes.acked(peer, t.ack, p.frame, p.timeUs);
    }
    const ipLength = ip.length;
    if (t.payloadLength <= 0 || ipLength === 0) {
      dir.smallPackets++;
      return;
    }
    if (ipLength < dir.largestSent) dir.smallPackets++;
    const again = dir.sent(t.seq, t.payloadLength, ipLength, p.frame, p.timeUs);
    // More data than the peer's MSS allows: TSO/GSO on the sending host (or GRO on the receiving one) made it.
    const mss = peer?.mssAnnounced;
    const superPacket = p.superPacket || (mss !== undefined && t.payloadLength > mss);
    if (superPacket) dir.superSeen = true;
    const watching = dir.ptbWatch;
    if (watching !== undefined) {
      for (let i = watching.length - 1; i >= 0; i--) {
        if (watching[i]!.watch(t.seq, t.payloadLength, ipLength, ip.dontFragment, p.frame, p.timeUs, superPacket, p.direction)) watching.splice(i, 1);
      }
      if (watching.length === 0) dir.ptbWatch = undefined;
    }
    if (again) this.holes.retransmitted(dir, t.seq, t.payloadLength, ipLength, ip.dontFragment, p.frame, p.timeUs, superPacket, p.direction);
  }

  private otherPacket(p: PacketFacts, ip: IpFacts): void {
    this.packetsOf.set(ip.protocol, (this.packetsOf.get(ip.protocol) ?? 0) + 1);
    const u = p.udp;
    const name = protocolName(ip.protocol);
    const key = u === undefined ? pairKey(name, ip.src, ip.dst) : pairKey(name, `${ip.src} ${u.srcPort}`, `${ip.dst} ${u.dstPort}`);
    // Set only when new: what matters is that the conversation was seen, and a set moves the entry (two map operations).
    if (!this.seen.has(key)) this.seen.set(key, p.timeUs);
    if (u === undefined || this.udpWatch.size === 0) return;
    const dk = `${this.points.of(p)}udp ${ip.src} ${u.srcPort} ${ip.dst} ${u.dstPort}`;
    const e = this.udpWatch.get(dk, false);
    if (e !== undefined && e.watchDatagram(ip.fragment !== undefined, ip.dontFragment, ip.length, p.frame, p.timeUs, p.superPacket, p.direction)) this.udpWatch.delete(dk);
  }

  private packetTooBig(p: PacketFacts): void {
    const icmp = p.icmp!;
    const q = icmp.quoted!;
    // Quoting a tunnel packet: the encapsulation detector's (Packet Too Big to a tunnel endpoint). The decoder does not
    // look inside a quoted IP-in-IP or GRE packet, so those are told by the quoted protocol.
    if (q.tunnel !== undefined || TUNNEL_PROTOCOLS.has(q.protocol) || p.outer === undefined) return;
    const mtu = icmp.mtu ?? 0;
    const protocol = protocolName(q.protocol);
    const flow: { -readonly [K in keyof FlowRef]: FlowRef[K] } = { family: q.family, protocol, src: q.src, dst: q.dst };
    if (q.srcPort !== undefined && q.dstPort !== undefined && (q.protocol === IpProtocol.Tcp || q.protocol === IpProtocol.Udp)) {
      flow.srcPort = q.srcPort;
      flow.dstPort = q.dstPort;
    }
    const point = this.points.of(p);
    const qKey = point + directionKey(flow);
    const episodeKey = `${qKey} ${mtu}`;
    const from = p.inner?.src ?? p.outer.src;
    const isTcp = q.protocol === IpProtocol.Tcp && flow.srcPort !== undefined;
    let dir = isTcp ? this.tcp.get(qKey) : undefined;

    const open = this.episodesByKey.get(episodeKey);
    if (open !== undefined && p.timeUs - open.first.timeUs < EPISODE_US) {
      open.added(p.frame, p.timeUs);
      if (dir !== undefined) dir.packetTooBig++;
      return;
    }

    let orphan: boolean;
    let protocolCaptured: boolean;
    if (isTcp) {
      let rev = this.tcp.get(point + reverseKeyOf(flow));
      if (dir === undefined && rev === undefined) {
        dir = this.tcp.atAnyPoint(flow);
        rev = this.tcp.atAnyPoint(reversed(flow));
      }
      orphan = dir === undefined && rev === undefined;
      protocolCaptured = this.tcp.tcpPackets > 0;
      if (!orphan && dir === undefined) dir = this.tcp.direction(point, { ...flow }, rev?.interfaceName ?? p.interface, p.frame, p.timeUs);
    } else {
      orphan = !this.seen.has(this.nonTcpKey(flow));
      protocolCaptured = (this.packetsOf.get(q.protocol) ?? 0) > 0;
    }
    const inFlight = dir !== undefined && q.seq !== undefined ? dir.inFlight(q.seq) : undefined;
    const acked = dir !== undefined && q.seq !== undefined && dir.ackSeen && seqLt(q.seq, dir.sndUna);
    const sus = suspicions(q.family, mtu, q.length, inFlight, acked);
    const judged = !orphan && sus.codes.length === 0 && (isTcp || (q.protocol === IpProtocol.Udp && flow.srcPort !== undefined));
    const role: PtbRole = orphan ? 'orphan' : judged ? 'judged' : 'quiet';
    const e = new PtbEpisode(role, { ...flow }, q, mtu, from, p.interface, { frame: p.frame, timeUs: p.timeUs }, sus.words, sus.codes, dir, protocolCaptured);
    e.point = point;
    e.added(p.frame, p.timeUs);
    if (orphan) e.forgotten = isTcp ? this.tcp.evicted : this.seen.evicted;
    if (dir !== undefined) {
      dir.packetTooBig++;
      if (judged) {
        // Another message (another MTU) while one is still watched: both are (two bottlenecks, one after the other).
        if (dir.ptbWatch === undefined) dir.ptbWatch = [e];
        else {
          if (dir.ptbWatch.length >= MAX_WATCHED) dir.ptbWatch.shift();
          dir.ptbWatch.push(e);
        }
        if (dir.rttUs !== undefined) e.graceUs = Math.round(1.5 * dir.rttUs) + REACTION_MARGIN_US;
      }
    } else if (judged) this.udpWatch.set(qKey, e);
    this.episodesByKey.set(episodeKey, e);
    if (this.episodes.length < this.limits.maxFindingsPerKind * 4) this.episodes.push(e);
    else this.episodesDropped++;
  }

  private nonTcpKey(flow: FlowRef): string {
    return flow.srcPort === undefined ? pairKey(flow.protocol, flow.src, flow.dst) : conversationKey(flow);
  }

  report(context: ReportContext): Finding[] {
    const all: Finding[] = [];
    for (const e of this.episodes) {
      if (e.role === 'orphan') {
        e.flowFirstUs =
          e.flow.protocol === 'tcp' && e.flow.srcPort !== undefined
            ? earliest(this.tcp.atAnyPoint(e.flow)?.firstUs, this.tcp.atAnyPoint(reversed(e.flow))?.firstUs)
            : this.seen.get(this.nonTcpKey(e.flow), false);
      }
      all.push(...episodeFindings(e, context.conditions, context.nowUs));
    }
    const { holes, fallbacks } = this.holes.findings(context.conditions);
    all.push(...holes, ...fallbacks);
    const counts = new Map<FindingKind, number>();
    const out: Finding[] = [];
    this.cut.clear();
    for (const f of all) {
      const n = (counts.get(f.kind) ?? 0) + 1;
      counts.set(f.kind, n);
      if (n <= this.limits.maxFindingsPerKind) out.push(f);
      else this.cut.set(f.kind, (this.cut.get(f.kind) ?? 0) + 1);
    }
    return out;
  }

  evictions(): Eviction[] {
    const out: Eviction[] = [
      { table: 'TCP directions (path MTU)', evicted: this.tcp.evicted, capacity: this.tcp.capacity },
      { table: 'non-TCP conversations (Packet Too Big matching)', evicted: this.seen.evicted, capacity: this.seen.capacity },
    ];
    if (this.episodesDropped > 0) out.push({ table: 'Packet Too Big episodes', evicted: this.episodesDropped, capacity: this.limits.maxFindingsPerKind * 4 });
    if (this.holes.overflow > 0) out.push({ table: 'black-hole candidates', evicted: this.holes.overflow, capacity: this.limits.maxFindingsPerKind });
    for (const [kind, n] of this.cut) out.push({ table: `${kind} findings`, evicted: n, capacity: this.limits.maxFindingsPerKind });
    return out;
  }
}

function pairKey(protocol: string, a: string, b: string): string {
  return a <= b ? `${protocol} ${a} ${b}` : `${protocol} ${b} ${a}`;
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
