import { ByteRanges } from './byte-ranges.js';
import type { EngineSettings } from './engine-settings.js';
import { DecidingProbe } from './deciding-probe.js';

export type DownloadProbeSettings = Pick<EngineSettings, 'downloadWindowMs' | 'downloadMaxRetransmissions'>;

/**
 * What the engine saw decide the test (the verdict itself is src/checker/download-verdict.ts, from the counts):
 * `shrank` after a Packet Too Big, `acknowledged` full-size data, `retransmitted` full-size data past the limit
 * without either, `started-small` (enough segments, none full-size), or `timed-out`.
 */
export type DownloadOutcome = 'shrank' | 'acknowledged' | 'retransmitted' | 'started-small' | 'timed-out';

/** What the server does with one of its data segments: send it, or drop it and make its own kernel send smaller. */
export type DownloadAction = 'accept' | 'rescue';

/** First transmissions, none of them full-size, after which the server's segments are known to start small. */
export const STARTED_SMALL_SEGMENTS = 8;

/** Full-size segments remembered until acknowledged; older ones are forgotten (never counted as acknowledged). */
const MAX_PENDING = 256;

interface PendingSegment {
  readonly start: number;
  readonly end: number;
  readonly ipLength: number;
  retransmitted: boolean;
}

/**
 * The /download test's state for one connection: the server's data segments (full-size or not, first sent or
 * retransmitted), the client's acknowledgements and the Packet Too Big messages routers sent about them. Pure and
 * clock-free.
 *
 * A full-size segment counts as acknowledged only when an ACK covers it and none of its bytes was ever sent again:
 * then the full-size copy is the one that arrived.
 */
export class DownloadProbe extends DecidingProbe<DownloadOutcome> {
  dataSegments = 0;
  fullSizeSegments = 0;
  fullSizeAcknowledged = 0;
  fullSizeRetransmissions = 0;
  retransmissions = 0;
  /** Largest data packet the server sent before any Packet Too Big arrived. */
  largestBeforeSignal = 0;
  largestAcknowledged: number | undefined;
  packetTooBigReceived = 0;
  /** Packet Too Big messages that arrived once the outcome was known (they do not count for the verdict). */
  packetTooBigAfterOutcome = 0;
  /** The first Packet Too Big: who sent it and what it announced. */
  router: string | undefined;
  reportedMtu: number | undefined;
  firstSignalAt: number | undefined;
  /** The first retransmission of full-size data in a packet that fits the reported MTU. */
  shrankAt: number | undefined;
  largestAfterSignal: number | undefined;
  firstSegmentAt: number | undefined;
  /** The MTU the engine told its own kernel when it declared a black hole, so that the response still completes. */
  rescueMtu: number | undefined;
  /** Stream offset just past the server's FIN, once it was sent. */
  private finEnd: number | undefined;
  private deliveredYet = false;
  /** The engine had the server's kernel forget the path MTU it learnt during this test. */
  pathForgotten = false;
  /** A Packet Too Big for this client had reached the server before the test: its cached path MTU was flushed first. */
  flushedBeforeStart = false;
  private readonly sent = new ByteRanges();
  private readonly sentFullSize = new ByteRanges();
  private readonly pending: PendingSegment[] = [];

  /** `fullSize`: the IP size of a full-size segment, the client's MSS plus headers; undefined when it announced none. */
  constructor(
    readonly settings: DownloadProbeSettings,
    readonly fullSize: number | undefined,
  ) {
    super();
  }

  /** A server data segment: bytes [start, end) of its stream in an IP packet of `ipLength` bytes. */
  onServerData(start: number, end: number, ipLength: number, now: number): DownloadAction {
    const again = this.sent.overlaps(start, end);
    this.sent.add(start, end);
    // Once rescued, a segment larger than the rescue MTU means the kernel forgot it (its route exception was flushed, by
    // another test's end): tell it again rather than let the rest of the response die in the black hole.
    if (this.rescueMtu !== undefined) return ipLength > this.rescueMtu ? 'rescue' : 'accept';
    if (this.outcome !== undefined) return 'accept';
    this.firstSegmentAt ??= now;
    if (this.windowPassed(now)) {
      this.decide('timed-out');
      return 'accept';
    }
    if (again) this.retransmissions++;
    else this.dataSegments++;
    if (this.firstSignalAt === undefined) this.largestBeforeSignal = Math.max(this.largestBeforeSignal, ipLength);
    else {
      this.largestAfterSignal = Math.max(this.largestAfterSignal ?? 0, ipLength);
      if (again && this.reportedMtu !== undefined && ipLength <= this.reportedMtu && this.sentFullSize.overlaps(start, end)) {
        this.shrankAt = now;
        this.decide('shrank');
        return 'accept';
      }
    }
    const full = this.fullSize !== undefined && ipLength >= this.fullSize;
    if (!full) {
      if (this.fullSizeSegments === 0 && this.dataSegments >= STARTED_SMALL_SEGMENTS) this.decide('started-small');
      return 'accept';
    }
    this.fullSizeSegments++;
    this.sentFullSize.add(start, end);
    if (!again) {
      if (this.pending.length >= MAX_PENDING) this.pending.shift();
      this.pending.push({ start, end, ipLength, retransmitted: false });
      return 'accept';
    }
    this.fullSizeRetransmissions++;
    for (const p of this.pending) if (p.start < end && start < p.end) p.retransmitted = true;
    if (this.packetTooBigReceived === 0 && this.fullSizeRetransmissions >= this.settings.downloadMaxRetransmissions) {
      this.decide('retransmitted');
      return 'rescue';
    }
    return 'accept';
  }

  /** The server sent its FIN right after byte `dataEnd` of its stream. */
  noteServerFin(dataEnd: number): void {
    this.finEnd = dataEnd + 1;
  }

  /**
   * The client acknowledged everything before `ackOffset`. True the first time this covers the server's FIN: the whole
   * response arrived, and nothing the server's kernel learnt about the path is needed for it any more.
   */
  onClientAck(ackOffset: number): boolean {
    this.noteAck(ackOffset);
    if (this.deliveredYet || this.finEnd === undefined || ackOffset < this.finEnd) return false;
    this.deliveredYet = true;
    return true;
  }

  /** The test changed what the server's kernel knows of the path: a Packet Too Big reached it, or the engine's own did. */
  get taughtTheKernel(): boolean {
    return this.packetTooBigReceived > 0 || this.packetTooBigAfterOutcome > 0 || this.rescueMtu !== undefined;
  }

  private noteAck(ackOffset: number): void {
    while (this.pending.length > 0 && this.pending[0]!.end <= ackOffset) {
      const p = this.pending.shift()!;
      if (p.retransmitted) continue;
      this.fullSizeAcknowledged++;
      this.largestAcknowledged = Math.max(this.largestAcknowledged ?? 0, p.ipLength);
    }
    if (this.outcome === undefined && this.fullSizeAcknowledged > 0 && this.packetTooBigReceived === 0) this.decide('acknowledged');
  }

  /** A router reported `mtu` for a segment of this connection. */
  onPacketTooBig(router: string, mtu: number, now: number): void {
    if (this.outcome !== undefined) {
      // Too late for the verdict, but the kernel learnt from it all the same.
      this.packetTooBigAfterOutcome++;
      return;
    }
    this.packetTooBigReceived++;
    if (this.firstSignalAt === undefined) {
      this.firstSignalAt = now;
      this.router = router;
      this.reportedMtu = mtu;
    } else if (this.reportedMtu !== undefined) {
      this.reportedMtu = Math.min(this.reportedMtu, mtu);
    }
  }

  /** The engine told its own kernel the path MTU `mtu` for this client. */
  noteRescue(mtu: number): void {
    this.rescueMtu = mtu;
  }

  windowPassed(now: number): boolean {
    return this.firstSegmentAt !== undefined && now - this.firstSegmentAt >= this.settings.downloadWindowMs;
  }

  timeOut(): void {
    this.decide('timed-out');
  }
}
