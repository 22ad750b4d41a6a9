/**
 * The middlebox trace's probing, pure: which TCP SYN to send at which TTL and when, and what each answer says. It
 * sends through an injected sink and reads an injected clock, so tests drive it with real packet bytes and a clock
 * they move by hand; middlebox-run.ts puts it on a ProbeTransport.
 *
 * Probes go out for TTL 1, 2, … with a few TTLs in flight at once (`window`); a TTL that gets no answer within
 * `replyTimeoutMs` is tried again, up to `triesPerHop` probes. Every probe of a run is the same SYN of one flow (same
 * addresses and ports, so every probe takes the same ECMP path) but for its TTL, its probe number (in the sequence
 * number and the IPv4 identification, see probe-packets.ts) and the checksums. Probing stops at the hop where the
 * destination answers (SYN-ACK or RST, or an ICMP error of its own) or a router refuses the probe (Destination
 * Unreachable), at `maxHops`, or at `timeLimitMs`.
 */
import { formatIp } from '../packet/address.js';
import { Icmpv4Packet, parseIcmpv4 } from '../packet/icmpv4.js';
import { Icmpv6Packet, parseIcmpv6 } from '../packet/icmpv6.js';
import type { IpFamily } from '../packet/ip-family.js';
import { IpProtocol } from '../packet/ip-protocol.js';
import { Ipv4Packet } from '../packet/ipv4.js';
import { Ipv6Packet } from '../packet/ipv6.js';
import { TcpFlag } from '../packet/tcp.js';
import { TcpHead } from '../packet/tcp-head.js';
import { type HopRecord, type HopReply, type HopReplyKind, type MiddleboxTraceResult, type ProbeDescription, type TraceEnd } from './middlebox-hops.js';
import { buildProbe, minimumProbeSize, probeIdOfSeq, type ProbeFlow, type TcpSynFields } from './probe-packets.js';
import { classifyReply, type ProbeReply, type ReceivedPacket } from './probe-reply.js';
import { diffQuote } from './quote-diff.js';

export interface MiddleboxTraceOptions {
  /** TCP destination port; default 80. */
  readonly dstPort?: number;
  /** TCP source port, one per run; the host layer picks a random one. */
  readonly srcPort: number;
  /** Default 30. */
  readonly maxHops?: number;
  /** Probes per TTL at most; default 3. */
  readonly triesPerHop?: number;
  /** How long to wait for an answer before trying a TTL again; default 1000 ms. */
  readonly replyTimeoutMs?: number;
  /** TTLs in flight at once; default 4. */
  readonly window?: number;
  /** The whole trace ends by then; default 30000 ms. */
  readonly timeLimitMs?: number;
  /** The SYN's MSS option; default 1460. */
  readonly mss?: number;
  /** Window scale option; default 7 (null: none). */
  readonly windowScale?: number | null;
  /** Default true. */
  readonly sackPermitted?: boolean;
  /** Timestamps option; default true. */
  readonly timestamps?: boolean;
  /** DSCP of the probes; default 10 (AF11), so that a box that bleaches or rewrites it shows. */
  readonly dscp?: number;
  /** ECN field; default 2 (ECT(0)), so that a box that clears it shows. */
  readonly ecn?: number;
}

export interface MiddleboxTarget {
  readonly family: IpFamily;
  /** Our address toward the target (the checksums cover it). */
  readonly source: string;
  readonly address: string;
}

interface SentProbe {
  readonly id: number;
  readonly hop: number;
  readonly sentAtMs: number;
  readonly bytes: Uint8Array;
}

interface HopState {
  readonly hop: number;
  probesSent: number;
  readonly replies: HopReply[];
  /** The probe in flight, if any. */
  pending: SentProbe | undefined;
  done: boolean;
}

const DEFAULTS = { dstPort: 80, maxHops: 30, triesPerHop: 3, replyTimeoutMs: 1000, window: 4, timeLimitMs: 30000, mss: 1460, windowScale: 7, dscp: 10, ecn: 2 };

export class MiddleboxTrace {
  private readonly flow: ProbeFlow;
  private readonly syn: TcpSynFields;
  private readonly settings: Omit<typeof DEFAULTS, 'windowScale'> & { readonly sackPermitted: boolean; readonly timestamps: boolean; readonly windowScale: number | null };
  private readonly hops = new Map<number, HopState>();
  /** Probes in flight, by probe number. */
  private readonly probes = new Map<number, SentProbe>();
  /** Every probe of the run (at most maxHops × triesPerHop), so that a late answer still counts. */
  private readonly sent = new Map<number, SentProbe>();
  private readonly answered = new Set<number>();
  private nextId = 1;
  private nextHop = 1;
  private startedAtMs: number | undefined;
  private endedAtMs: number | undefined;
  private end: TraceEnd | undefined;
  /** The hop where the path ended: the destination answered, or a router refused the probe. */
  private lastHop: number | undefined;
  private destinationHop: number | undefined;

  constructor(
    readonly target: MiddleboxTarget,
    options: MiddleboxTraceOptions,
    private readonly send: (packet: Uint8Array) => void,
    private readonly clock: () => number,
  ) {
    this.settings = {
      ...DEFAULTS,
      ...definedOf(options),
      sackPermitted: options.sackPermitted ?? true,
      timestamps: options.timestamps ?? true,
      windowScale: options.windowScale === undefined ? DEFAULTS.windowScale : options.windowScale,
    };
    this.flow = {
      family: target.family,
      protocol: 'tcp',
      source: target.source,
      destination: target.address,
      srcPort: options.srcPort,
      dstPort: this.settings.dstPort,
      echoIdent: 0,
    };
    const syn: { -readonly [K in keyof TcpSynFields]: TcpSynFields[K] } = { window: 64240, mss: this.settings.mss, sackPermitted: this.settings.sackPermitted };
    if (this.settings.timestamps) syn.timestamps = { value: 1, echo: 0 };
    if (this.settings.windowScale !== null) syn.windowScale = this.settings.windowScale;
    this.syn = syn;
  }

  /** Sends the first window of probes. */
  start(): void {
    this.startedAtMs = this.clock();
    this.fill();
  }

  get finished(): boolean {
    return this.end !== undefined;
  }

  /** When `poll` next has something to do (a probe's timeout or the time limit); undefined once finished. */
  nextDeadline(): number | undefined {
    if (this.end !== undefined || this.startedAtMs === undefined) return undefined;
    let at = this.startedAtMs + this.settings.timeLimitMs;
    for (const p of this.probes.values()) at = Math.min(at, p.sentAtMs + this.settings.replyTimeoutMs);
    return at;
  }

  /** Retries or gives up the TTLs whose probe timed out, enforces the time limit, and sends what the window allows. */
  poll(): void {
    if (this.end !== undefined || this.startedAtMs === undefined) return;
    const now = this.clock();
    if (now >= this.startedAtMs + this.settings.timeLimitMs) {
      this.finish('time-limit', now);
      return;
    }
    for (const p of [...this.probes.values()]) {
      if (now < p.sentAtMs + this.settings.replyTimeoutMs) continue;
      this.probes.delete(p.id);
      const state = this.hops.get(p.hop)!;
      state.pending = undefined;
      if (state.done) continue;
      if (state.probesSent < this.settings.triesPerHop && this.wanted(p.hop)) this.sendProbe(state);
      else state.done = true;
    }
    this.fill();
  }

  /** A packet from the transport; anything that answers none of our probes is ignored. */
  onPacket(received: ReceivedPacket): void {
    if (this.end !== undefined) return;
    const classified = classifyReply(received, this.flow, (id) => {
      const p = this.sent.get(id);
      return p === undefined ? undefined : { size: p.bytes.length };
    });
    if (!classified.ok) return;
    const reply = classified.value.kind === 'unrelated' ? this.translatedQuote(received) : classified.value;
    if (reply === undefined) return;
    const probe = this.sent.get(reply.probeId);
    // A second answer to one probe (a duplicate) adds nothing.
    if (probe === undefined || this.answered.has(probe.id)) return;
    this.probes.delete(probe.id);
    this.answered.add(probe.id);
    const state = this.hops.get(probe.hop)!;
    if (state.pending?.id === probe.id) state.pending = undefined;
    state.done = true;
    state.replies.push(this.hopReply(reply, probe));
    if (reply.kind === 'tcp-reply' || reply.kind === 'echo-reply' || reply.from === this.target.address) {
      this.destinationHop = Math.min(this.destinationHop ?? Infinity, probe.hop);
      this.lastHop = Math.min(this.lastHop ?? Infinity, probe.hop);
    } else if (reply.kind !== 'time-exceeded') {
      this.lastHop = Math.min(this.lastHop ?? Infinity, probe.hop);
    }
    this.fill();
  }


  /**
   * An ICMP error the classifier could not tie to our flow because its quote shows other addresses or ports than
   * ours: what a NAT on the way leaves when it does not translate the quotes back. Ours still when the quote is TCP,
   * goes to the target's address or port, and its sequence number (and, for IPv4, identification) names a probe of
   * this run.
   */
  private translatedQuote(received: ReceivedPacket): Exclude<ProbeReply, { kind: 'unrelated' }> | undefined {
    if (received.protocol !== 'icmp' || received.family !== this.target.family) return undefined;
    const message = quotedMessage(received);
    if (message === undefined) return undefined;
    const q = message.quoted;
    const ip = q[0]! >> 4 === 4 ? Ipv4Packet.check(q) : undefined;
    const ip6 = q[0]! >> 4 === 6 ? Ipv6Packet.check(q) : undefined;
    let tcp: Uint8Array;
    let dst: string;
    let ident: number | undefined;
    if (ip?.ok === true && ip.value.protocol === IpProtocol.Tcp) {
      tcp = ip.value.payload();
      dst = formatIp(ip.value.dst);
      ident = ip.value.ident;
    } else if (ip6?.ok === true && ip6.value.nextHeader === IpProtocol.Tcp) {
      tcp = ip6.value.payload();
      dst = formatIp(ip6.value.dst);
    } else {
      return undefined;
    }
    const head = TcpHead.check(tcp);
    if (!head.ok) return undefined;
    if (dst !== this.target.address && head.value.dstPort !== this.flow.dstPort) return undefined;
    const id = probeIdOfSeq(head.value.seq);
    if (id === undefined || !this.sent.has(id) || (ident !== undefined && ident !== id)) return undefined;
    const base = { probeId: id, from: received.source, receivedAtMs: received.receivedAtMs, quoted: q.slice(), partialQuote: tcp.length <= 8, quotedTtl: q[0]! >> 4 === 4 ? q[8]! : q[7]! };
    if (message.kind === 'time-exceeded') return { kind: 'time-exceeded', code: message.code, ...base };
    return { kind: 'unreachable', code: message.code, reason: 'other', fromDestination: received.source === this.target.address, ...base };
  }

  /** The measurements, once finished (or so far, before). */
  result(): MiddleboxTraceResult {
    const now = this.endedAtMs ?? this.clock();
    const last = this.lastHop ?? Infinity;
    const hops: HopRecord[] = [...this.hops.values()]
      .filter((h) => h.hop <= last)
      .sort((a, b) => a.hop - b.hop)
      .map((h) => ({ hop: h.hop, probesSent: h.probesSent, replies: [...h.replies] }));
    const out: MiddleboxTraceResult = {
      family: this.target.family,
      source: this.target.source,
      target: this.target.address,
      probe: this.description(),
      hops,
      end: this.end ?? 'time-limit',
      durationMs: now - (this.startedAtMs ?? now),
      probesSent: this.nextId - 1,
    };
    return this.destinationHop === undefined ? out : { ...out, destinationHop: this.destinationHop };
  }

  private description(): ProbeDescription {
    const s = this.settings;
    const d: { -readonly [K in keyof ProbeDescription]: ProbeDescription[K] } = {
      srcPort: this.flow.srcPort,
      dstPort: this.flow.dstPort,
      mss: s.mss,
      sackPermitted: s.sackPermitted,
      timestamps: s.timestamps,
      dscp: s.dscp,
      ecn: s.ecn,
      flags: TcpFlag.Syn,
      bytes: minimumProbeSize(this.flow, this.syn),
    };
    if (s.windowScale !== null) d.windowScale = s.windowScale;
    return d;
  }

  private hopReply(reply: Exclude<ProbeReply, { kind: 'unrelated' }>, probe: SentProbe): HopReply {
    const rttMs = Math.round(Math.max(0, reply.receivedAtMs - probe.sentAtMs) * 1000) / 1000;
    if (reply.kind === 'tcp-reply') return { kind: reply.flags, from: reply.from, rttMs };
    if (reply.kind === 'echo-reply') return { kind: 'syn-ack', from: reply.from, rttMs };
    const kind: HopReplyKind = reply.kind === 'unreachable' ? 'destination-unreachable' : reply.kind;
    const code = 'code' in reply ? reply.code : undefined;
    const diff = diffQuote(probe.bytes, reply.quoted, reply.kind === 'time-exceeded' ? 'time-exceeded' : 'other');
    const base: HopReply = code === undefined ? { kind, from: reply.from, rttMs } : { kind, from: reply.from, code, rttMs };
    return diff.ok ? { ...base, diff: diff.value } : { ...base, quoteError: `${diff.error.protocol}.${diff.error.field}: ${diff.error.reason}` };
  }

  /** Whether a TTL is still worth probing: not past the end of the path. */
  private wanted(hop: number): boolean {
    return this.lastHop === undefined || hop < this.lastHop;
  }

  private fill(): void {
    if (this.end !== undefined) return;
    const inFlight = (): number => [...this.hops.values()].filter((h) => h.pending !== undefined && this.wanted(h.hop)).length;
    while (inFlight() < this.settings.window && this.nextHop <= this.settings.maxHops && this.wanted(this.nextHop)) {
      const state: HopState = { hop: this.nextHop, probesSent: 0, replies: [], pending: undefined, done: false };
      this.hops.set(this.nextHop, state);
      this.nextHop++;
      this.sendProbe(state);
    }
    const open = [...this.hops.values()].some((h) => !h.done && this.wanted(h.hop));
    if (!open && (this.nextHop > this.settings.maxHops || !this.wanted(this.nextHop))) {
      this.finish(this.destinationHop !== undefined ? 'destination' : this.lastHop !== undefined ? 'unreachable' : 'max-hops', this.clock());
    }
  }

  private sendProbe(state: HopState): void {
    const id = this.nextId++;
    const bytes = buildProbe(this.flow, {
      id,
      size: minimumProbeSize(this.flow, this.syn),
      ttl: state.hop,
      dscp: this.settings.dscp,
      ecn: this.settings.ecn,
      tcp: this.syn,
    });
    const probe: SentProbe = { id, hop: state.hop, sentAtMs: this.clock(), bytes };
    this.probes.set(id, probe);
    this.sent.set(id, probe);
    state.pending = probe;
    state.probesSent++;
    this.send(bytes);
  }

  private finish(end: TraceEnd, now: number): void {
    this.end = end;
    this.endedAtMs = now;
    this.probes.clear();
  }
}

/** The kind, code and quote of an ICMP Time Exceeded or Destination Unreachable (either family). */
function quotedMessage(received: ReceivedPacket): { kind: 'time-exceeded' | 'destination-unreachable'; code: number; quoted: Uint8Array } | undefined {
  const p = received.payload;
  if (received.family === 4) {
    const v = Icmpv4Packet.check(p, p.length);
    if (!v.ok) return undefined;
    const m = parseIcmpv4(v.value);
    return m.kind === 'time-exceeded' || m.kind === 'destination-unreachable' ? { kind: m.kind, code: m.code, quoted: m.quoted } : undefined;
  }
  const v = Icmpv6Packet.check(p, p.length);
  if (!v.ok) return undefined;
  const m = parseIcmpv6(v.value);
  return m.kind === 'time-exceeded' || m.kind === 'destination-unreachable' ? { kind: m.kind, code: m.code, quoted: m.quoted } : undefined;
}

function definedOf(options: MiddleboxTraceOptions): Partial<typeof DEFAULTS> {
  const out: Partial<Record<keyof typeof DEFAULTS, number>> = {};
  for (const key of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    const v = (options as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') out[key] = v;
  }
  return out;
}
