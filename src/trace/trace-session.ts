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
}

/** Freed here after local delivery: a socket read it, or the stack consumed it as it should. */
const DELIVERED = /^(tcp_|__tcp_|udp|__udp|skb_free_datagram|skb_consume_udp|icmp|ping_|raw|ip_local_deliver|ip6_input|ipv6_rcv|inet|sock_|__sk_|kfree_skb_partial|napi_consume_skb|dev_kfree_skb_any_reason|__dev_kfree_skb)/;
/** Freed here after new skbs were made from it: its data goes on in packets the tracer cannot link to it. */
const HANDED_ON = /^(__ip_finish_output|ip_finish_output_gso|__ip6_finish_output|ip6_finish_output_gso|validate_xmit_skb|__skb_gso_segment|skb_segment|skb_gso_segment|ip_do_fragment|ip_fragment|ip6_fragment|skb_copy|pskb_copy|skb_realloc_headroom|skb_expand_head)/;

function sameTuple(a: TraceTuple | undefined, b: TraceTuple | undefined): boolean {
  return a !== undefined && b !== undefined && a.src === b.src && a.dst === b.dst && a.protocol === b.protocol && a.srcPort === b.srcPort && a.dstPort === b.dstPort;
}

export function tupleText(t: TraceTuple | undefined): string {
  if (t === undefined) return '-';
  const names: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 47: 'gre', 58: 'icmp6', 4: 'ipip', 41: 'ipv6' };
  const proto = names[t.protocol] ?? `proto-${t.protocol}`;
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

export class TraceSession {
  private nextId = 1;
  private readonly live = new Map<string, TracePacket>();
  /** Every packet, in order; bounded by `maxPackets` (the oldest finished ones are forgotten first). */
  private readonly packets: TracePacket[] = [];
  private events = 0;
  private trackingLost = 0;
  /** Packets whose icmp-send was seen and whose ICMP error packet is still to come, newest last. */
  private readonly awaitingError: TracePacket[] = [];

  constructor(
    private readonly context: TraceContext,
    private readonly followTimeoutNs = 2_000_000_000n,
    private readonly maxPackets = 100_000,
  ) {}

  observe(e: TraceEvent): TimelineRow {
    this.events++;
    let packet = this.live.get(e.skb);
    let note: string | undefined;
    if (packet !== undefined && (e.match !== 'followed' || e.timeNs - packet.lastTimeNs > this.followTimeoutNs)) {
      // The kernel side forgot it (timeout) or the address now holds another packet.
      this.endUnknown(packet);
      packet = undefined;
    }
    const namespace = e.netns === 0 ? (packet?.lastNamespace ?? '-') : this.context.namespaceLabel(e.netns);
    if (packet === undefined) {
      packet = this.newPacket(e);
      if (e.match === 'followed') note = 'followed from an earlier event that was not received (lost events)';
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
        packet.icmpSent = { type: e.icmpSend?.type ?? 0, code: e.icmpSend?.code ?? 0, ...(to === undefined ? {} : { to }) };
        this.awaitingError.push(packet);
        if (this.awaitingError.length > 64) this.awaitingError.shift();
        break;
      }
      case 'dropped':
        this.live.delete(e.skb);
        packet.fate = 'dropped';
        note = this.recordDrop(packet, e, namespace);
        break;
      case 'freed': {
        this.live.delete(e.skb);
        const fn = functionName(e.location ?? '');
        packet.freedIn = fn;
        if (DELIVERED.test(fn)) packet.fate = 'delivered';
        else if (HANDED_ON.test(fn)) {
          packet.fate = 'handed-on';
          note = `freed in ${fn} after the kernel made new packets from it (GSO segmentation, fragmentation or a copy): followed no further`;
        } else packet.fate = 'freed';
        break;
      }
      default:
        break;
    }
    return { packet: packet.id, event: e, namespace, ...(note === undefined ? {} : { note }) };
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
    };
    this.live.set(e.skb, packet);
    this.packets.push(packet);
    if (this.packets.length > this.maxPackets) {
      const i = this.packets.findIndex((p) => p.fate !== 'unknown');
      this.packets.splice(i >= 0 ? i : 0, 1);
    }
    return packet;
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
    for (let i = this.packets.length - 1; i >= 0 && about === undefined && i >= this.packets.length - 1000; i--) {
      const p = this.packets[i]!;
      if (p !== error && p.errorAbout === undefined && quotes(icmp, p)) about = p;
    }
    if (about === undefined) return undefined;
    (error as { errorAbout?: number }).errorAbout = about.id;
    const to = e.packet?.outer.dst;
    about.icmpSent = {
      type: icmp?.type ?? about.icmpSent?.type ?? 0,
      code: icmp?.code ?? about.icmpSent?.code ?? 0,
      ...(icmp?.mtu === undefined ? {} : { mtu: icmp.mtu }),
      ...(to === undefined ? {} : { to }),
      packet: error.id,
    };
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

  private endUnknown(packet: TracePacket): void {
    for (const [skb, p] of this.live) if (p === packet) this.live.delete(skb);
    if (packet.fate === 'unknown') this.trackingLost++;
  }

  /** Packets, oldest first (bounded). */
  allPackets(): readonly TracePacket[] {
    return this.packets;
  }

  summary(): TraceSummary {
    const groups = new Map<string, { g: Omit<DeathGroup, 'count' | 'icmpErrors'>; count: number; icmpErrors: number }>();
    const handed = new Map<string, number>();
    const freed = new Map<string, number>();
    let delivered = 0;
    let unknown = 0;
    let icmp = 0;
    for (const p of this.packets) {
      if (p.icmpSent !== undefined) icmp++;
      if (p.fate === 'delivered') delivered++;
      if (p.fate === 'unknown') unknown++;
      if (p.fate === 'handed-on') handed.set(p.freedIn ?? '?', (handed.get(p.freedIn ?? '?') ?? 0) + 1);
      if (p.fate === 'freed') freed.set(p.freedIn ?? '?', (freed.get(p.freedIn ?? '?') ?? 0) + 1);
      if (p.drop === undefined) continue;
      const key = `${p.drop.namespace}\0${p.drop.device}\0${p.drop.function}\0${p.drop.reason}\0${p.errorAbout === undefined ? '' : 'icmp'}`;
      const g = groups.get(key);
      if (g !== undefined) {
        g.count++;
        if (p.errorAbout !== undefined) g.icmpErrors++;
      } else {
        groups.set(key, {
          g: { namespace: p.drop.namespace, device: p.drop.device, function: p.drop.function, reason: p.drop.reason, example: p.id, meaning: p.drop.meaning },
          count: 1,
          icmpErrors: p.errorAbout === undefined ? 0 : 1,
        });
      }
    }
    const deaths = [...groups.values()]
      .map((x) => ({ ...x.g, count: x.count, icmpErrors: x.icmpErrors }))
      .sort((a, b) => Number(isBenignDrop(a.reason, a.function)) - Number(isBenignDrop(b.reason, b.function)) || b.count - a.count);
    return {
      packets: this.nextId - 1,
      events: this.events,
      deaths,
      delivered,
      handedOn: countsOf(handed),
      freedElsewhere: countsOf(freed),
      unknownFate: unknown,
      trackingLost: this.trackingLost,
      icmpErrorsSent: icmp,
    };
  }
}
