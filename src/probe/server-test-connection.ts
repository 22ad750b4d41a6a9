/**
 * One connection of the server test, as its packets from the server arrive: which to drop (bigger than the test MTU,
 * with Don't Fragment), which data were dropped, and what the server sent again after our Packet Too Big: full-size
 * re-sends of dropped data, or smaller ones. Pure: packets come in parsed (src/packet/tcp-segment.ts), time as
 * milliseconds since the connection was tracked; the caller (server-test-core.ts) sends the messages and applies the
 * decisions.
 *
 * Sequence numbers are kept relative to the server's initial sequence number (from its SYN-ACK, or the first segment
 * seen), as 32-bit differences, so a transfer of up to 4 GiB needs no wrap-around arithmetic.
 */
import type { IpFamily } from '../packet/ip-family.js';
import { ACK, SYN, type TcpSegment } from '../packet/tcp-segment.js';
import { judgeServerTest, type ServerTestVerdict, type VerdictEvidence } from './server-test-verdict.js';

/** What the tracker decides for one packet of the server. */
export type PacketAction = 'accept' | 'drop';

/** Bound on the dropped ranges kept per connection (contiguous drops merge into one range). */
const MAX_DROPPED_RANGES = 1024;

/** The four addresses of one connection, from the client's side, and its test MTU. */
export interface ServerTestFlow {
  readonly family: IpFamily;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The MTU the connection's Packet Too Big messages report; packets bigger than it are dropped. */
  readonly ptbMtu: number;
}

export interface ServerTestEvidence extends VerdictEvidence {
  /** The MSS the server announced in its SYN-ACK, when the SYN-ACK was seen. */
  readonly serverMss: number | undefined;
  /** The biggest packet (IP length) seen from the server. */
  readonly largestPacket: number;
  /** Full-size packets dropped (those after the verdict are let through). */
  readonly dropped: number;
  /** Full-size packets dropped without a Packet Too Big, because a rate limit said no. */
  readonly packetTooBigLimited: number;
  /** The biggest packet within the test MTU that re-sent dropped data. */
  readonly largestSmallerResend: number | undefined;
}

interface Range {
  start: number;
  end: number;
}

export class ServerTestConnection {
  private base: number | undefined;
  private serverMss: number | undefined;
  private segments = 0;
  private largestPacket = 0;
  private fullSize = 0;
  private noDf = 0;
  private dropped = 0;
  private packetTooBigSent = 0;
  private packetTooBigLimited = 0;
  private firstPacketTooBigMs: number | undefined;
  private fullSizeRetransmissions = 0;
  private firstSmallerResend: { atMs: number; ipLength: number } | undefined;
  private largestSmallerResend: number | undefined;
  private readonly droppedRanges: Range[] = [];
  private decided: ServerTestVerdict | undefined;

  constructor(readonly flow: ServerTestFlow) {}

  /** Whether a packet belongs to this connection: from the server's address and port to ours. */
  carries(s: TcpSegment): boolean {
    const f = this.flow;
    return s.family === f.family && s.src === f.remoteAddress && s.srcPort === f.remotePort && s.dst === f.localAddress && s.dstPort === f.localPort;
  }

  /** The verdict once decided; the connection then lets every packet through. */
  get verdict(): ServerTestVerdict | undefined {
    return this.decided;
  }

  /**
   * Reads one packet of the connection at `nowMs`. `drop`: the packet is bigger than the test MTU and must be dropped
   * and answered (the caller sends the Packet Too Big, or not, and says which with packetTooBigSent / Limited).
   */
  onPacket(s: TcpSegment, nowMs: number): PacketAction {
    if ((s.flags & SYN) !== 0) {
      if ((s.flags & ACK) !== 0) {
        this.base = (s.seq + 1) >>> 0;
        this.serverMss = s.mss;
      }
      return 'accept';
    }
    if (s.payloadLength === 0) return 'accept';
    this.base ??= s.seq;
    this.segments++;
    this.largestPacket = Math.max(this.largestPacket, s.ipLength);
    if (this.decided !== undefined) return 'accept';
    const start = (s.seq - this.base) >>> 0;
    const range = { start, end: start + s.payloadLength };
    const resends = this.overlapsDropped(range);
    if (s.ipLength <= this.flow.ptbMtu) {
      if (resends && this.firstPacketTooBigMs !== undefined) {
        this.firstSmallerResend ??= { atMs: nowMs, ipLength: s.ipLength };
        this.largestSmallerResend = Math.max(this.largestSmallerResend ?? 0, s.ipLength);
        this.decide(false);
      }
      return 'accept';
    }
    if (!s.dontFragment) {
      this.noDf++;
      return 'accept';
    }
    this.fullSize++;
    if (resends && this.firstPacketTooBigMs !== undefined && nowMs >= this.firstPacketTooBigMs) this.fullSizeRetransmissions++;
    this.dropped++;
    this.addDropped(range);
    this.decide(false);
    return 'drop';
  }

  /** The caller sent a Packet Too Big for the packet just dropped, at `nowMs`. */
  packetTooBigWasSent(nowMs: number): void {
    this.packetTooBigSent++;
    this.firstPacketTooBigMs ??= nowMs;
  }

  /** The caller dropped the packet without a Packet Too Big (rate limit). */
  packetTooBigWasLimited(): void {
    this.packetTooBigLimited++;
  }

  /**
   * Whether the reaction window has ended at `nowMs` (`windowMs` after the first Packet Too Big); when it has, the
   * verdict is settled with what there is. Returns the verdict if this call settled it.
   */
  tick(nowMs: number, windowMs: number): ServerTestVerdict | undefined {
    if (this.decided !== undefined || this.firstPacketTooBigMs === undefined) return undefined;
    if (nowMs - this.firstPacketTooBigMs < windowMs) return undefined;
    return this.decide(true);
  }

  /** The connection is over (the answer ended, failed or was cut short): settles the verdict if it is still open. */
  end(): ServerTestVerdict {
    return this.decided ?? this.decide(true)!;
  }

  evidence(): ServerTestEvidence {
    return {
      segments: this.segments,
      fullSize: this.fullSize,
      noDf: this.noDf,
      packetTooBigSent: this.packetTooBigSent,
      firstPacketTooBigMs: this.firstPacketTooBigMs,
      fullSizeRetransmissions: this.fullSizeRetransmissions,
      firstSmallerResend: this.firstSmallerResend,
      serverMss: this.serverMss,
      largestPacket: this.largestPacket,
      dropped: this.dropped,
      packetTooBigLimited: this.packetTooBigLimited,
      largestSmallerResend: this.largestSmallerResend,
    };
  }

  private decide(over: boolean): ServerTestVerdict | undefined {
    if (this.decided !== undefined) return undefined;
    this.decided = judgeServerTest(this.evidence(), over);
    return this.decided;
  }

  private overlapsDropped(r: Range): boolean {
    return this.droppedRanges.some((d) => r.start < d.end && r.end > d.start);
  }

  private addDropped(r: Range): void {
    const touching = this.droppedRanges.find((d) => r.start <= d.end && r.end >= d.start);
    if (touching !== undefined) {
      touching.start = Math.min(touching.start, r.start);
      touching.end = Math.max(touching.end, r.end);
    } else if (this.droppedRanges.length < MAX_DROPPED_RANGES) {
      this.droppedRanges.push({ ...r });
    }
  }
}
