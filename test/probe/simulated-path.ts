/**
 * A path of routers as a pure model, for the prober's algorithm tests: it takes the probe packets the ProbeRunner
 * builds (real bytes), walks them hop by hop (TTL, link MTUs on each side, DF), and answers with the real ICMP bytes a
 * Linux router or host would send (Time Exceeded, Packet Too Big, port unreachable, echo reply, RST), which go back
 * through the runner's classifier. A virtual clock runs the timers, so a trace of many timeouts takes no real time.
 */
import { emitIcmpv4 } from '../../src/packet/icmpv4.js';
import { emitIcmpv6 } from '../../src/packet/icmpv6.js';
import { Ipv4Packet } from '../../src/packet/ipv4.js';
import { Ipv6Packet } from '../../src/packet/ipv6.js';
import { emitTcp, TcpFlag, TcpPacket } from '../../src/packet/tcp.js';
import type { ProbeFlow } from '../../src/probe/probe-packets.js';
import type { ReceivedPacket } from '../../src/probe/probe-reply.js';
import { ProbeRunner } from '../../src/probe/probe-io.js';
import { ProbeTiming, type TimingOptions } from '../../src/probe/probe-timing.js';

export interface SimRouter {
  readonly address: string;
  /** Sends Packet Too Big for packets it cannot forward (default true). */
  readonly sendsPtb?: boolean;
  /** Drops Packet Too Big messages of other routers it forwards back toward us. */
  readonly dropsForwardedPtb?: boolean;
  /** Answers nothing (Time Exceeded off). */
  readonly silent?: boolean;
  /** Sends the old-style "fragmentation needed" with MTU 0 (IPv4). */
  readonly oldStyle?: boolean;
}

export interface SimLink {
  /** MTU of the sending side. */
  readonly mtu: number;
  /** MTU of the receiving side, when it differs (a silent mismatch when smaller). */
  readonly rxMtu?: number;
}

export interface SimPath {
  readonly flow: ProbeFlow;
  /** Routers between us and the destination, in order: hop 1 first. */
  readonly routers: readonly SimRouter[];
  /** links[i] joins node i and node i+1 (node 0 is us, node routers.length + 1 the destination): routers.length + 1 links. */
  readonly links: readonly SimLink[];
  /** One-way delay per link, ms. */
  readonly delayMs?: number;
  /**
   * Linux's per-peer ICMP rate limit on every router and the destination (Time Exceeded and port unreachable; not
   * Packet Too Big, echo replies or resets): a token bucket of `burst` messages refilled one per `intervalMs`.
   */
  readonly rateLimit?: { readonly intervalMs: number; readonly burst: number };
  /**
   * Random losses: the packets with these indexes (0: the first the prober sends) are lost on the first link, whatever
   * they are; every other packet crosses the path as the links and routers say.
   */
  readonly loses?: readonly number[];
}

/** One packet the prober sent through the model, in order. */
export interface SimSent {
  readonly index: number;
  readonly size: number;
  readonly ttl: number;
  /** IPv4 DF (always true for IPv6, whose routers never fragment). */
  readonly df: boolean;
  /** Lost on purpose (`SimPath.loses`). */
  readonly lost: boolean;
}

/** inet_peer_xrlim_allow: tokens in ms, capped at burst * interval; a message costs one interval. */
class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; last: number }>();
  constructor(private readonly limit: { readonly intervalMs: number; readonly burst: number }) {}

  allow(responder: string, now: number): boolean {
    const cap = this.limit.burst * this.limit.intervalMs;
    const b = this.buckets.get(responder) ?? { tokens: cap, last: now };
    b.tokens = Math.min(cap, b.tokens + (now - b.last));
    b.last = now;
    const ok = b.tokens >= this.limit.intervalMs;
    if (ok) b.tokens -= this.limit.intervalMs;
    this.buckets.set(responder, b);
    return ok;
  }
}

export class VirtualClock {
  now = 0;
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;

  setTimer(fn: () => void, ms: number): () => void {
    const t = { at: this.now + ms, seq: this.seq++, fn };
    this.timers.push(t);
    return () => {
      this.timers = this.timers.filter((x) => x !== t);
    };
  }

  /** Runs timers in time order until `promise` settles. */
  async run<T>(promise: Promise<T>): Promise<T> {
    let done = false;
    let value: T | undefined;
    let error: unknown;
    let failed = false;
    promise.then(
      (v) => {
        done = true;
        value = v;
      },
      (e: unknown) => {
        done = true;
        failed = true;
        error = e;
      },
    );
    for (let n = 0; n < 1_000_000; n++) {
      await new Promise((resolve) => setImmediate(resolve));
      if (done) break;
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift();
      if (next === undefined) throw new Error('nothing left to run and the promise has not settled');
      this.now = Math.max(this.now, next.at);
      next.fn();
    }
    if (failed) throw error;
    return value as T;
  }
}

/** What became of one probe in the model: the reply packet (if any) and after how many links it turned back. */
function walk(path: SimPath, packet: Uint8Array, allow: (responder: string) => boolean = () => true): { reply?: ReceivedPacket; links: number } {
  const family = path.flow.family;
  let ttl: number;
  const size = packet.length;
  let df = true;
  if (family === 4) {
    const ip = Ipv4Packet.check(packet);
    if (!ip.ok) throw new Error('bad probe');
    ttl = ip.value.ttl;
    df = ip.value.dontFragment;
  } else {
    const ip = Ipv6Packet.check(packet);
    if (!ip.ok) throw new Error('bad probe');
    ttl = ip.value.hopLimit;
  }
  const n = path.routers.length;
  let onWire = size;
  for (let i = 0; i <= n; i++) {
    if (i > 0) {
      const router = path.routers[i - 1]!;
      if (ttl <= 1) {
        if (router.silent === true || !allow(router.address)) return { links: i };
        return { reply: icmpError(path, router.address, 'time-exceeded', packet, ttl), links: i };
      }
      const link = path.links[i]!;
      if (size > link.mtu) {
        if (df || family === 6) {
          if (router.sendsPtb === false || router.silent === true) return { links: i };
          // Forwarded back through routers 1..i-1: any that drops forwarded Packet Too Big ends it.
          if (path.routers.slice(0, i - 1).some((r) => r.dropsForwardedPtb === true)) return { links: i };
          return { reply: icmpError(path, router.address, 'packet-too-big', packet, ttl, router.oldStyle === true ? 0 : link.mtu), links: i };
        }
        onWire = link.mtu; // fragments
      }
      ttl -= 1;
    }
    const link = path.links[i]!;
    if (onWire > (link.rxMtu ?? link.mtu)) return { links: i + 1 }; // dropped on receive, silently
  }
  // The destination.
  const dst = path.flow.destination;
  const links = n + 1;
  switch (path.flow.protocol) {
    case 'udp':
      if (!allow(dst)) return { links };
      return { reply: icmpError(path, dst, 'port-unreachable', packet, ttl), links };
    case 'icmp': {
      const transport = packet.subarray(family === 4 ? 20 : 40);
      const seq = (transport[6]! << 8) | transport[7]!;
      const echo = { kind: 'echo-reply', ident: path.flow.echoIdent, seq, data: transport.subarray(8) } as const;
      const message = family === 4 ? emitIcmpv4(echo) : emitIcmpv6(echo, dst, path.flow.source);
      return { reply: { family, protocol: 'icmp', source: dst, payload: message, receivedAtMs: 0 }, links };
    }
    case 'tcp': {
      const seg = TcpPacket.check(packet.subarray(family === 4 ? 20 : 40), size - (family === 4 ? 20 : 40));
      if (!seg.ok) throw new Error('bad TCP probe');
      const ack = (seg.value.seq + 1 + seg.value.payloadLength) >>> 0;
      const rst = emitTcp(
        { srcPort: path.flow.dstPort, dstPort: path.flow.srcPort, seq: 0, ack, flags: TcpFlag.Rst | TcpFlag.Ack, window: 0, urgentPointer: 0, options: [], payloadLength: 0 },
        new Uint8Array(0),
        dst,
        path.flow.source,
      );
      return { reply: { family, protocol: 'tcp', source: dst, payload: rst, receivedAtMs: 0 }, links };
    }
  }
}

function icmpError(path: SimPath, from: string, kind: 'time-exceeded' | 'packet-too-big' | 'port-unreachable', packet: Uint8Array, ttlSeen: number, mtu = 0): ReceivedPacket {
  const family = path.flow.family;
  const quoted = packet.slice(0, Math.min(packet.length, family === 4 ? 576 - 28 : 1280 - 48));
  if (family === 4) quoted[8] = ttlSeen;
  else quoted[7] = ttlSeen;
  let message: Uint8Array;
  if (family === 4) {
    if (kind === 'time-exceeded') message = emitIcmpv4({ kind: 'time-exceeded', code: 0, unused: 0, quoted });
    else message = emitIcmpv4({ kind: 'destination-unreachable', code: kind === 'packet-too-big' ? 4 : 3, unused: 0, nextHopMtu: mtu, quoted });
  } else {
    const repr =
      kind === 'time-exceeded'
        ? ({ kind: 'time-exceeded', code: 0, unused: 0, quoted } as const)
        : kind === 'packet-too-big'
          ? ({ kind: 'packet-too-big', code: 0, mtu, quoted } as const)
          : ({ kind: 'destination-unreachable', code: 4, unused: 0, quoted } as const);
    message = emitIcmpv6(repr, from, path.flow.source);
  }
  return { family, protocol: 'icmp', source: from, payload: message, ...(family === 4 ? { ttl: 64 } : {}), receivedAtMs: 0 };
}

/** A ProbeRunner over the model with a virtual clock; `timing` with the given options (deadline relative to 0). */
export function simulate(path: SimPath, options: Partial<TimingOptions> = {}): { clock: VirtualClock; runner: ProbeRunner; timing: ProbeTiming; sent: SimSent[] } {
  const clock = new VirtualClock();
  const delay = path.delayMs ?? 1;
  const holder: { runner?: ProbeRunner } = {};
  const limiter = path.rateLimit === undefined ? undefined : new RateLimiter(path.rateLimit);
  const sent: SimSent[] = [];
  const runner = new ProbeRunner(path.flow, {
    nowMs: () => clock.now,
    setTimer: (fn, ms) => clock.setTimer(fn, ms),
    send: (packet) => {
      const index = sent.length;
      const lost = path.loses?.includes(index) === true;
      sent.push({ index, lost, ...headerFacts(path.flow.family, packet) });
      if (lost) return;
      const { reply, links } = walk(path, packet, (responder) => limiter?.allow(responder, clock.now) ?? true);
      if (reply === undefined) return;
      clock.setTimer(() => holder.runner?.receive({ ...reply, receivedAtMs: clock.now }), 2 * links * delay);
    },
  });
  holder.runner = runner;
  const timing = new ProbeTiming(runner, { maxTimeoutMs: 1000, minTimeoutMs: 250, tries: 3, deadlineMs: 120_000, ...options });
  return { clock, runner, timing, sent };
}

function headerFacts(family: 4 | 6, packet: Uint8Array): { size: number; ttl: number; df: boolean } {
  if (family === 4) {
    const ip = Ipv4Packet.check(packet);
    if (!ip.ok) throw new Error('bad probe');
    return { size: packet.length, ttl: ip.value.ttl, df: ip.value.dontFragment };
  }
  const ip = Ipv6Packet.check(packet);
  if (!ip.ok) throw new Error('bad probe');
  return { size: packet.length, ttl: ip.value.hopLimit, df: true };
}
