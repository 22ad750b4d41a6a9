/**
 * Turns the tracer's events into packets and their fates: which events belong to one packet (its skb address while
 * the kernel keeps it), when it was encapsulated, decapsulated or rewritten, where it died and why, which ICMP error
 * the kernel sent about it, and when it could be followed no further.
 *
 * Pure: events in, rows and a summary out, so that it is tested with exact values and no kernel.
 */
import { dropMeaning, isBenignDrop, functionName, type DropFacts } from './drop-meaning.js';
import type { TraceEvent, TraceTuple, TracedPacket } from './trace-event.js';

export interface TraceContext {
  /** The name of a drop reason number (SKB_DROP_REASON_* without the prefix), from the running kernel's list. */
  reasonName(reason: number): string;
  /** How a network namespace inode is shown: its name (a lab node as LAB/NODE), else `netns:INODE`. */
  namespaceLabel(inode: number): string;
  /**
   * What a dropped packet was, in a few words (the lab report's "packets:" line): when given, each group of deaths counts
   * its packets by these words.
   */
  describe?(packet: TracedPacket | undefined): string;
}

/** What happened to the packet at this event, in words, when there is something to say beyond the event. */
export interface TimelineRow {
  readonly packet: number;
  readonly event: TraceEvent;
  readonly namespace: string;
  readonly note?: string;
}

export type PacketFate = 'dropped' | 'delivered' | 'handed-on' | 'freed' | 'unknown';

export interface TracePacket {
  readonly id: number;
  /** The skb address that holds it. */
  readonly skb: string;
  readonly first: TraceTuple | undefined;
  /** An ICMP error about a traced packet: the id of that packet. */
  readonly errorAbout?: number;
  events: number;
  fate: PacketFate;
  lastTimeNs: bigint;
  lastNamespace: string;
  lastDevice: string;
  last: TracedPacket | undefined;
  encapsulated?: { tunnel: string; innerLength?: number };
  drop?: { reason: string; function: string; namespace: string; device: string; meaning: string };
  freedIn?: string;
  icmpSent?: { type: number; code: number; mtu?: number; to?: string; packet?: number };
}

export interface DeathGroup {
  readonly namespace: string;
  readonly device: string;
  readonly function: string;
  readonly reason: string;
  readonly count: number;
  /** The first packet of the group, for its timeline. */
  readonly example: number;
  readonly meaning: string;
  /** Drops of ICMP errors about traced packets (the error never reached the sender). */
  readonly icmpErrors: number;
  /** With TraceContext.describe: the group's packets by what they were, most frequent first. */
  readonly packets?: Readonly<Record<string, number>>;
}

export interface FunctionCount {
  readonly function: string;
  readonly count: number;
}

function countsOf(m: ReadonlyMap<string, number>): FunctionCount[] {
  return [...m.entries()].map(([fn, count]) => ({ function: fn, count })).sort((a, b) => b.count - a.count || a.function.localeCompare(b.function));
}

export interface TraceSummary {
  readonly packets: number;
  readonly events: number;
  readonly deaths: readonly DeathGroup[];
  readonly delivered: number;
  /** Packets the kernel replaced by new ones (GSO segmentation, fragmentation, a copy) in a function: followed no further. */
  readonly handedOn: readonly FunctionCount[];
  /** Packets freed normally (consume_skb) in a function that says neither delivery nor hand-on: their fate after that is not traced. */
  readonly freedElsewhere: readonly FunctionCount[];
  /** Packets still without a fate at the end (in flight, queued, or freed where no tracepoint fires). */
  readonly unknownFate: number;
  /** Packets whose tracking ended because their skb was not seen for the follow timeout. */
  readonly trackingLost: number;
  readonly icmpErrorsSent: number;
  /** Events of packets that came to hold a followed skb address without matching the filter: not shown. */
  readonly strangerEvents: number;
}

/** Freed here after local delivery: a socket read it, or the stack consumed it as it should. */
const DELIVERED = /^(tcp_|__tcp_|udp|__udp|skb_free_datagram|skb_consume_udp|icmp|ping_|raw|ip_local_deliver|ip6_input|ipv6_rcv|inet|sock_|__sk_|kfree_skb_partial|napi_consume_skb|dev_kfree_skb_any_reason|__dev_kfree_skb)/;
/** Freed here after new skbs were made from it: its data goes on in packets the tracer cannot link to it. */
const HANDED_ON = /^(__ip_finish_output|ip_finish_output_gso|__ip6_finish_output|ip6_finish_output_gso|validate_xmit_skb|__skb_gso_segment|skb_segment|skb_gso_segment|ip_do_fragment|ip_fragment|ip6_fragment|skb_copy|pskb_copy|skb_realloc_headroom|skb_expand_head)/;

function sameTuple(a: TraceTuple | undefined, b: TraceTuple | undefined): boolean {
  return a !== undefined && b !== undefined && a.src === b.src && a.dst === b.dst && a.protocol === b.protocol && a.srcPort === b.srcPort && a.dstPort === b.dstPort;
}

/** IP protocol numbers by the names the trace prints. */
export const PROTOCOL_NAMES: Readonly<Record<number, string>> = { 1: 'icmp', 4: 'ipip', 6: 'tcp', 17: 'udp', 41: 'ipv6', 47: 'gre', 58: 'icmp6' };

export function tupleText(t: TraceTuple | undefined): string {
  if (t === undefined) return '-';
  const proto = PROTOCOL_NAMES[t.protocol] ?? `proto-${t.protocol}`;
  const host = (a: string, port: number | undefined): string => (port === undefined ? a : t.family === 6 ? `[${a}]:${port}` : `${a}:${port}`);
  const frag = t.fragment === undefined ? '' : ` frag@${t.fragment.offset}${t.fragment.more ? '+' : ''}`;
  return `${host(t.src, t.srcPort)} > ${host(t.dst, t.dstPort)} ${proto}${frag}`;
}

function quotes(icmp: TracedPacket['icmp'], p: TracePacket): boolean {
  const q = icmp?.quoted;
  const t = p.last?.outer;
  if (q === undefined || t === undefined) return false;
  return sameTuple(q, t) && (q.ident === undefined || t.ident === undefined || q.ident === t.ident);
}

/** The same packet after NAT: one side (address and port) kept, the protocol too. */
function natOf(a: TraceTuple, b: TraceTuple): boolean {
  if (a.family !== b.family || a.protocol !== b.protocol) return false;
  return (a.src === b.src && a.srcPort === b.srcPort) || (a.dst === b.dst && a.dstPort === b.dstPort);
}

/** Whether `now` can be the packet that was `before`: the same, encapsulated, decapsulated or NATed. */
function related(before: TracedPacket, now: TracedPacket): boolean {
  if (sameTuple(before.outer, now.outer) || natOf(before.outer, now.outer)) return true;
  if (now.inner !== undefined && (sameTuple(now.inner, before.outer) || natOf(before.outer, now.inner))) return true;
  if (before.inner !== undefined && (sameTuple(before.inner, now.outer) || natOf(before.inner, now.outer))) return true;
  return false;
}

export class TraceSession {
  private nextId = 1;
  /** Packets the kernel still holds, by skb address. */
  private readonly live = new Map<string, TracePacket>();
  /** The most recent finished packets, oldest first: for linking ICMP errors and for allPackets(). */
  private readonly finished: TracePacket[] = [];
  private events = 0;
  private lastTimeNs = 0n;
  private trackingLost = 0;
  private delivered = 0;
  private icmpErrorsSent = 0;
  private readonly handed = new Map<string, number>();
  private readonly freed = new Map<string, number>();
  private readonly groups = new Map<string, { g: Omit<DeathGroup, 'count' | 'icmpErrors' | 'packets'>; count: number; icmpErrors: number; packets: Map<string, number> }>();
  /** Packets whose icmp-send was seen and whose ICMP error packet is still to come, newest last. */
  private readonly awaitingError: TracePacket[] = [];
  /** skb addresses the kernel side follows that hold a packet other than the one it started with (not shown). */
  private readonly strangers = new Set<string>();
  private strangerEvents = 0;

  constructor(
    private readonly context: TraceContext,
    private readonly followTimeoutNs = 2_000_000_000n,
    /** Packets kept for allPackets() and ICMP linking; the summary counts all of them regardless. */
    private readonly maxPackets = 10_000,
  ) {}

  /**
   * One event: the row to show, or undefined for an event of a stranger (see below), which is not shown. The kernel
   * side follows an skb address until the packet is freed where a tracepoint fires; TCP frees most of its skbs with
   * __kfree_skb, which fires none, so a new packet can come to hold a followed address. A followed event whose
   * headers have nothing to do with the packet's last ones (not the same tuple, not its encapsulation or
   * decapsulation, not a NAT rewrite of one side) is that: the old packet's track is lost there, and the stranger is
   * shown only if it matches the filter itself.
   */
  observe(e: TraceEvent): TimelineRow | undefined {
    this.events++;
    if (e.timeNs > this.lastTimeNs) this.lastTimeNs = e.timeNs;
    // Packets the kernel side has forgotten (not seen for the follow timeout) are let go now and then, so that a long
    // trace holds only what is in flight.
    if ((this.events & 4095) === 0) this.pruneLive(e.timeNs);
    let packet = this.live.get(e.skb);
    let note: string | undefined;
    if (packet !== undefined && (e.match !== 'followed' || e.timeNs - packet.lastTimeNs > this.followTimeoutNs)) {
      // The kernel side forgot it (timeout) or the address now holds another packet.
      this.loseTrack(packet);
      packet = undefined;
    }
    if (packet !== undefined && e.packet !== undefined && packet.last !== undefined && !related(packet.last, e.packet)) {
      this.loseTrack(packet);
      packet = undefined;
      if (e.matchesHere !== true) {
        this.strangers.add(e.skb);
        return this.strangerEnds(e);
      }
    } else if (packet === undefined && this.strangers.has(e.skb)) {
      if (e.match === 'followed' && e.matchesHere !== true) return this.strangerEnds(e);
      this.strangers.delete(e.skb);
    }
    const namespace = e.netns === 0 ? (packet?.lastNamespace ?? '-') : this.context.namespaceLabel(e.netns);
    if (packet === undefined) {
      packet = this.newPacket(e);
      if (e.match === 'followed' && e.matchesHere !== true) note = 'followed from an earlier event that was not received (lost events)';
      if (e.match === 'icmp-error') note = this.linkError(packet, e);
    }
    packet.events++;
    packet.lastTimeNs = e.timeNs;
    if (e.netns !== 0) packet.lastNamespace = namespace;
    if (e.device !== '') packet.lastDevice = e.device;
    if (e.packet !== undefined) {
      const change = this.headerChange(packet, e.packet);
      if (change !== undefined) note = note === undefined ? change : `${note}; ${change}`;
      packet.last = e.packet;
    }
    switch (e.kind) {
      case 'icmp-send': {
        const to = packet.last?.outer.src;
        this.setIcmpSent(packet, { type: e.icmpSend?.type ?? 0, code: e.icmpSend?.code ?? 0, ...(to === undefined ? {} : { to }) });
        this.awaitingError.push(packet);
        if (this.awaitingError.length > 64) this.awaitingError.shift();
        break;
      }
      case 'dropped':
        packet.fate = 'dropped';
        note = this.recordDrop(packet, e, namespace);
        this.finish(packet);
        break;
      case 'freed': {
        const fn = functionName(e.location ?? '');
        packet.freedIn = fn;
        if (DELIVERED.test(fn)) packet.fate = 'delivered';
        else if (HANDED_ON.test(fn)) {
          packet.fate = 'handed-on';
          note = `freed in ${fn} after the kernel made new packets from it (GSO segmentation, fragmentation or a copy): followed no further`;
        } else packet.fate = 'freed';
        this.finish(packet);
        break;
      }
      default:
        break;
    }
    return { packet: packet.id, event: e, namespace, ...(note === undefined ? {} : { note }) };
  }

  /** A stranger's event is not shown; its end ends it. */
  private strangerEnds(e: TraceEvent): undefined {
    this.strangerEvents++;
    if (e.kind === 'dropped' || e.kind === 'freed') this.strangers.delete(e.skb);
    if (this.strangers.size > 65_536) this.strangers.clear();
    return undefined;
  }

  private newPacket(e: TraceEvent): TracePacket {
    const packet: TracePacket = {
      id: this.nextId++,
      first: e.packet?.outer,
      events: 0,
      fate: 'unknown',
      lastTimeNs: e.timeNs,
      lastNamespace: '-',
      lastDevice: '',
      last: e.packet,
      skb: e.skb,
    };
    this.live.set(e.skb, packet);
    return packet;
  }

  private setIcmpSent(packet: TracePacket, sent: NonNullable<TracePacket['icmpSent']>): void {
    if (packet.icmpSent === undefined) this.icmpErrorsSent++;
    packet.icmpSent = sent;
  }

  /** The packet met its fate: counted now, kept among the recent ones. */
  private finish(packet: TracePacket): void {
    if (this.live.get(packet.skb) === packet) this.live.delete(packet.skb);
    const fn = packet.freedIn ?? '?';
    if (packet.fate === 'delivered') this.delivered++;
    else if (packet.fate === 'handed-on') this.handed.set(fn, (this.handed.get(fn) ?? 0) + 1);
    else if (packet.fate === 'freed') this.freed.set(fn, (this.freed.get(fn) ?? 0) + 1);
    else if (packet.fate === 'dropped' && packet.drop !== undefined) {
      const d = packet.drop;
      const key = `${d.namespace}\0${d.device}\0${d.function}\0${d.reason}\0${packet.errorAbout === undefined ? '' : 'icmp'}`;
      let g = this.groups.get(key);
      if (g === undefined) {
        g = {
          g: { namespace: d.namespace, device: d.device, function: d.function, reason: d.reason, example: packet.id, meaning: d.meaning },
          count: 0,
          icmpErrors: 0,
          packets: new Map(),
        };
        this.groups.set(key, g);
      }
      g.count++;
      if (packet.errorAbout !== undefined) g.icmpErrors++;
      if (this.context.describe !== undefined) {
        const words = this.context.describe(packet.last);
        g.packets.set(words, (g.packets.get(words) ?? 0) + 1);
      }
    }
    this.finished.push(packet);
    const room = Math.max(0, this.maxPackets - this.live.size);
    if (this.finished.length > room + 1024) this.finished.splice(0, this.finished.length - room);
  }

  /** Its skb was not seen for the follow timeout, or now holds another packet: its fate is not known. */
  private loseTrack(packet: TracePacket): void {
    if (this.live.get(packet.skb) === packet) this.live.delete(packet.skb);
    this.trackingLost++;
  }

  private pruneLive(now: bigint): void {
    for (const p of [...this.live.values()]) if (now - p.lastTimeNs > this.followTimeoutNs) this.loseTrack(p);
  }

  /** Links an ICMP error packet to the traced packet it is about; returns the note for its first row. */
  private linkError(error: TracePacket, e: TraceEvent): string | undefined {
    const icmp = e.packet?.icmp;
    let about: TracePacket | undefined;
    for (let i = this.awaitingError.length - 1; i >= 0 && about === undefined; i--) {
      const p = this.awaitingError[i]!;
      if (quotes(icmp, p) || (e.kind === 'queued' && i === this.awaitingError.length - 1)) {
        about = p;
        this.awaitingError.splice(i, 1);
      }
    }
    // The packet an error is about is mostly still held (dropped right after the error is queued), else recent.
    for (const p of this.live.values()) {
      if (about !== undefined) break;
      if (p !== error && p.errorAbout === undefined && quotes(icmp, p)) about = p;
    }
    for (let i = this.finished.length - 1; i >= 0 && about === undefined && i >= this.finished.length - 1000; i--) {
      const p = this.finished[i]!;
      if (p.errorAbout === undefined && quotes(icmp, p)) about = p;
    }
    if (about === undefined) return undefined;
    (error as { errorAbout?: number }).errorAbout = about.id;
    const to = e.packet?.outer.dst;
    this.setIcmpSent(about, {
      type: icmp?.type ?? about.icmpSent?.type ?? 0,
      code: icmp?.code ?? about.icmpSent?.code ?? 0,
      ...(icmp?.mtu === undefined ? {} : { mtu: icmp.mtu }),
      ...(to === undefined ? {} : { to }),
      packet: error.id,
    });
    const mtu = icmp?.mtu === undefined ? '' : ` mtu ${icmp.mtu}`;
    return `ICMP error about packet #${about.id}${mtu}`;
  }

  private headerChange(packet: TracePacket, now: TracedPacket): string | undefined {
    const before = packet.last;
    if (before === undefined || sameTuple(before.outer, now.outer)) return undefined;
    if (now.inner !== undefined && sameTuple(now.inner, before.outer)) {
      packet.encapsulated = { tunnel: now.tunnel ?? 'a tunnel', innerLength: before.outer.length };
      return `encapsulated (${now.tunnel ?? 'tunnel'}): now ${tupleText(now.outer)}, ${now.outer.length} bytes`;
    }
    if (before.inner !== undefined && sameTuple(before.inner, now.outer)) return `decapsulated: now ${tupleText(now.outer)}`;
    return `rewritten (NAT or a new header): now ${tupleText(now.outer)}`;
  }

  private recordDrop(packet: TracePacket, e: TraceEvent, namespace: string): string {
    const reason = e.reason === undefined ? 'unknown' : this.context.reasonName(e.reason);
    const fn = functionName(e.location ?? '');
    const outer = e.packet?.outer ?? packet.last?.outer;
    const facts: DropFacts = {
      reason,
      function: fn,
      namespace,
      device: e.device,
      ...(outer === undefined ? {} : { length: outer.length, family: outer.family }),
      ...(outer?.dontFragment === undefined ? {} : { dontFragment: outer.dontFragment }),
      ...(e.mtu > 0 ? { deviceMtu: e.mtu } : {}),
      ...(packet.icmpSent === undefined ? {} : { icmpSent: packet.icmpSent }),
      ...(packet.encapsulated === undefined ? {} : { encapsulated: packet.encapsulated }),
    };
    let meaning = dropMeaning(facts);
    if (packet.errorAbout !== undefined) meaning = `the ICMP error about packet #${packet.errorAbout} never reached its sender: ${meaning}`;
    packet.drop = { reason, function: fn, namespace, device: e.device, meaning };
    return meaning;
  }

  /** Packets still followed and the most recent finished ones (bounded by maxPackets), oldest first. */
  allPackets(): readonly TracePacket[] {
    const room = Math.max(0, this.maxPackets - this.live.size);
    const recent = room === 0 ? [] : this.finished.slice(-room);
    return [...this.live.values(), ...recent].sort((a, b) => a.id - b.id);
  }

  summary(): TraceSummary {
    let unknown = 0;
    let lost = this.trackingLost;
    for (const p of this.live.values()) {
      if (this.lastTimeNs - p.lastTimeNs > this.followTimeoutNs) lost++;
      else unknown++;
    }
    const deaths = [...this.groups.values()]
      .map((x) => ({
        ...x.g,
        count: x.count,
        icmpErrors: x.icmpErrors,
        ...(this.context.describe === undefined ? {} : { packets: Object.fromEntries([...x.packets].sort((a, b) => b[1] - a[1])) }),
      }))
      .sort((a, b) => Number(isBenignDrop(a.reason, a.function)) - Number(isBenignDrop(b.reason, b.function)) || b.count - a.count);
    return {
      packets: this.nextId - 1,
      events: this.events,
      deaths,
      delivered: this.delivered,
      handedOn: countsOf(this.handed),
      freedElsewhere: countsOf(this.freed),
      unknownFate: unknown,
      trackingLost: lost,
      icmpErrorsSent: this.icmpErrorsSent,
      strangerEvents: this.strangerEvents,
    };
  }
}
