/**
 * The server test's packet logic, with no socket or netlink in it (like the checker's PacketEngine): the host layer
 * hands it every packet the netfilter queue holds from the server (server-test-host.ts), tells it which connections
 * completed their handshake (`track`, called when the client's socket connected), and moves the clock (`tick`).
 * Packet Too Big messages leave through an injected sink; a settled verdict goes to an injected callback, so the host
 * can end that download.
 *
 * Safety: only packets of tracked connections are ever dropped or answered, and a message goes only to the source of
 * the packet it answers, which a tracked connection's remote address is (the URL's host); the kernel's rule already
 * queues only packets of that host's port in conntrack state ESTABLISHED. Messages are rate limited per connection
 * and in total, except the first of each connection, without which no verdict is possible (one per connection).
 */
import { formatIp, parseIpText } from '../packet/address.js';
import { buildPacketTooBig } from '../packet/packet-too-big.js';
import type { IpFamily } from '../packet/ip-family.js';
import { ACK, parseTcpSegment, SYN } from '../packet/tcp-segment.js';
import { TokenBucket, type RateLimit } from '../util/rate-limiter.js';
import { ServerTestConnection, type ServerTestFlow } from './server-test-connection.js';
import type { ServerTestVerdict } from './server-test-verdict.js';

/** A packet the queue holds: its bytes, and the two decisions the test makes. */
export interface HeldPacket {
  readonly bytes: Uint8Array;
  accept(): void;
  drop(): void;
}

export type PacketTooBigSink = (family: IpFamily, packet: Uint8Array, destination: string) => void;

export interface ServerTestLimits {
  /** Packet Too Big messages per connection (the first of each is always sent). */
  readonly perConnection: RateLimit;
  readonly total: RateLimit;
  /** How long after the first Packet Too Big the server has to re-send smaller before the verdict is settled. */
  readonly windowMs: number;
}

export const DEFAULT_SERVER_TEST_LIMITS: ServerTestLimits = {
  perConnection: { perSecond: 10, burst: 10 },
  total: { perSecond: 100, burst: 50 },
  windowMs: 5000,
};

export interface ServerTestCounters {
  /** Packets the queue held that belong to no tracked connection: let through untouched. */
  untracked: number;
  /** Packets that are not a TCP segment we can read (let through). */
  unparsed: number;
}

/** SYN-ACKs kept for connections not tracked yet. */
const MAX_SYN_ACKS = 64;

export class ServerTestCore {
  private readonly connections = new Map<string, { conn: ServerTestConnection; startMs: number; bucket: TokenBucket }>();
  private readonly total: TokenBucket;
  private readonly synAcks = new Map<string, Uint8Array>();
  readonly counters: ServerTestCounters = { untracked: 0, unparsed: 0 };

  constructor(
    private readonly send: PacketTooBigSink,
    private readonly onVerdict: (flow: ServerTestFlow, verdict: ServerTestVerdict) => void,
    private readonly limits: ServerTestLimits,
    nowMs: number,
  ) {
    this.total = new TokenBucket(limits.total.perSecond, limits.total.burst, nowMs);
  }

  /** Starts watching a connection whose handshake has completed. Times of its evidence count from `nowMs`. */
  track(given: ServerTestFlow, nowMs: number): ServerTestConnection {
    // As the packets' addresses are written (socket APIs may spell an address differently).
    const flow = { ...given, localAddress: canonical(given.localAddress), remoteAddress: canonical(given.remoteAddress) };
    const conn = new ServerTestConnection(flow);
    const key = keyOf(flow.family, flow.remoteAddress, flow.remotePort, flow.localAddress, flow.localPort);
    const synAck = this.synAcks.get(key);
    this.synAcks.delete(key);
    if (synAck !== undefined) {
      const parsed = parseTcpSegment(synAck);
      if (parsed.ok) conn.onPacket(parsed.value, 0);
    }
    this.connections.set(key, {
      conn,
      startMs: nowMs,
      bucket: new TokenBucket(this.limits.perConnection.perSecond, this.limits.perConnection.burst, nowMs),
    });
    return conn;
  }

  /** Ends a connection: settles its verdict with what was seen and forgets it. */
  end(flow: ServerTestFlow): ServerTestVerdict | undefined {
    const key = keyOf(flow.family, canonical(flow.remoteAddress), flow.remotePort, canonical(flow.localAddress), flow.localPort);
    const entry = this.connections.get(key);
    if (entry === undefined) return undefined;
    this.connections.delete(key);
    return entry.conn.end();
  }

  handle(packet: HeldPacket, nowMs: number): void {
    const parsed = parseTcpSegment(packet.bytes);
    if (!parsed.ok) {
      this.counters.unparsed++;
      packet.accept();
      return;
    }
    const s = parsed.value;
    const key = keyOf(s.family, s.src, s.srcPort, s.dst, s.dstPort);
    const entry = this.connections.get(key);
    if (entry === undefined) {
      // The SYN-ACK comes before the client's socket reports the connection: kept for `track` (a few, the latest).
      if ((s.flags & (SYN | ACK)) === (SYN | ACK)) {
        if (this.synAcks.size >= MAX_SYN_ACKS) this.synAcks.delete(this.synAcks.keys().next().value!);
        this.synAcks.set(key, packet.bytes.slice());
      }
      this.counters.untracked++;
      packet.accept();
      return;
    }
    const { conn, startMs, bucket } = entry;
    const at = nowMs - startMs;
    const before = conn.verdict;
    if (conn.onPacket(s, at) === 'accept') {
      packet.accept();
    } else {
      packet.drop();
      const first = conn.evidence().packetTooBigSent === 0;
      if (first || (bucket.has(nowMs) && this.total.has(nowMs))) {
        if (!first) {
          bucket.take(nowMs);
          this.total.take(nowMs);
        }
        this.send(s.family, buildPacketTooBig(s, conn.flow.ptbMtu, s.seq), s.src);
        conn.packetTooBigWasSent(at);
      } else {
        conn.packetTooBigWasLimited();
      }
    }
    if (before === undefined && conn.verdict !== undefined) this.onVerdict(conn.flow, conn.verdict);
  }

  /** Settles the verdict of every connection whose reaction window has ended. */
  tick(nowMs: number): void {
    for (const { conn, startMs } of this.connections.values()) {
      const v = conn.tick(nowMs - startMs, this.limits.windowMs);
      if (v !== undefined) this.onVerdict(conn.flow, v);
    }
  }
}

function keyOf(family: IpFamily, server: string, serverPort: number, local: string, localPort: number): string {
  return `${family} ${server} ${serverPort} ${local} ${localPort}`;
}

function canonical(address: string): string {
  const bytes = parseIpText(address);
  return bytes === undefined ? address : formatIp(bytes);
}

/** Apart in bytes between the test MTUs of consecutive connections. */
export const MTU_STEP = 8;

/**
 * The test MTU of each of `connections` connections, the last one `ptbMtu` and each earlier one MTU_STEP above the
 * next: a server remembers the path MTU a Packet Too Big taught it (Linux for 10 minutes), so a later connection to
 * the same server must be told a smaller one to see whether it honours that message too. Connections run one after
 * another in this order.
 */
export function testMtus(ptbMtu: number, connections: number): number[] {
  return Array.from({ length: connections }, (_, i) => ptbMtu + MTU_STEP * (connections - 1 - i));
}
