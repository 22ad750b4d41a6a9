import { formatDecodeError } from '../packet/result.js';
import { clientKeyFor } from './client-key.js';
import { DownloadProbe, type DownloadOutcome } from './download-probe.js';
import { FragProbe, type FragOutcome } from './frag-probe.js';
import { IcmpProbe } from './icmp-probe.js';
import { type KernelAnswer, type KernelDecision, kernelDecision } from './kernel-answer.js';
import { DECISION_STARTS } from './kernel-answer-layout.js';
import { LatencySamples } from './latency-samples.js';
import { buildPacketTooBig } from '../packet/packet-too-big.js';
import { TimelineRecorder } from './packet-timeline.js';
import type { QueuedPacket } from '../host/packet-queue.js';
import { fragmentSegment } from './segment-fragments.js';
import { seqOffset } from './sequence.js';
import { ACK, FIN, parseTcpSegment, RST, SYN, type TcpSegment } from '../packet/tcp-segment.js';
import type { IpFamily } from '../packet/ip-family.js';
import { ClientRateLimiter } from '../util/rate-limiter.js';
import { DOWNLOAD_RESCUE_MTU, type EngineSettings } from './engine-settings.js';
import { ConnectionTable } from './connection-table.js';
import { parseReceivedPacketTooBig } from './received-packet-too-big.js';
import { PMTU_EXPIRY_MS } from '../pmtu/constants.js';
import { type ConnectionEndpoints, connectionKey, modeOfRequest, requestHeadText, TrackedConnection } from './tracked-connection.js';
import type { DecidingProbe } from './deciding-probe.js';

/** A closed connection is kept this long for its last retransmissions and for the HTTP side still reading it. */
const CLOSED_LINGER_MS = 10_000;
/** A full table is swept before a SYN is refused, but at most this often: under a SYN flood each sweep is a full scan. */
const SWEEP_WHEN_FULL_INTERVAL_MS = 100;

/** Where crafted packets go: a raw socket on the host, a recorder in tests. */
export type PacketSink = (family: IpFamily, packet: Uint8Array, destination: string) => Promise<void>;

/** Has the server's kernel forget the path MTU it learnt toward a client (path-mtu-cache-flush.ts on the host). */
export type PathMtuForgetter = (family: IpFamily, clientAddress: string) => Promise<void> | void;

/** Clients whose recent Packet Too Big the engine remembers; the oldest is forgotten first. */
const MAX_CLIENTS_WITH_PACKET_TOO_BIG = 4096;

export interface EngineCounters {
  packets: number;
  /** Packets the engine could not parse: accepted untouched. */
  malformed: number;
  /** Packets of connections it never saw open (before the engine started, or evicted). */
  untracked: number;
  dropped: number;
  packetTooBigSent: number;
  packetTooBigSuppressed: number;
  /** Of packetTooBigSent, those the kernel sent (kernel-answer.ts); their segments are counted in `dropped` too. */
  packetTooBigAnsweredInKernel: number;
  segmentsFragmented: number;
  fragmentsSent: number;
  /** Fragments a rate limit held back (their segments were dropped, not sent whole). */
  fragmentsSuppressed: number;
  sendErrors: number;
  /** ICMP "fragmentation needed" / Packet Too Big messages that reached the server (for any connection). */
  packetTooBigReceived: number;
  /** /download tests whose path was a black hole, for which the engine told its own kernel a small path MTU. */
  downloadRescues: number;
  connectionsTracked: number;
  /** Half-open entries (SYN seen, handshake not completed) dropped to make room for a new SYN. */
  connectionsEvicted: number;
  /** SYNs not tracked because every entry of the full table was an established connection. */
  connectionsRefused: number;
}

/** The probe's outcome; the probe is timed out if it has none within `timeoutMs`. */
function outcomeWithin<T>(probe: DecidingProbe<T> | undefined, timeoutMs: number): Promise<T | undefined> {
  if (probe === undefined) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const timer = setTimeout(() => probe.timeOut(), timeoutMs);
    probe.onOutcome((outcome) => {
      clearTimeout(timer);
      resolve(outcome);
    });
  });
}

/**
 * The packet engine's logic: tracks the service's TCP connections from the packets the kernel queues, runs the /icmp
 * and /frag interventions on them, and decides each packet's fate. It knows nothing of netlink or sockets: packets
 * come in as QueuedPacket, crafted packets leave through the sink.
 */
export class PacketEngine {
  readonly counters: EngineCounters = {
    packets: 0,
    malformed: 0,
    untracked: 0,
    dropped: 0,
    packetTooBigSent: 0,
    packetTooBigSuppressed: 0,
    packetTooBigAnsweredInKernel: 0,
    segmentsFragmented: 0,
    fragmentsSent: 0,
    fragmentsSuppressed: 0,
    sendErrors: 0,
    packetTooBigReceived: 0,
    downloadRescues: 0,
    connectionsTracked: 0,
    connectionsEvicted: 0,
    connectionsRefused: 0,
  };
  /** Time spent deciding each packet (ms). */
  readonly decisionLatency = new LatencySamples();
  /** From an oversized packet's arrival in the engine to its Packet Too Big handed to the kernel (ms). */
  readonly packetTooBigLatency = new LatencySamples();
  lastMalformed: string | undefined;
  private readonly connections: ConnectionTable;
  private lastSweepAt = Number.NEGATIVE_INFINITY;
  private readonly icmpLimiter: ClientRateLimiter;
  private readonly fragmentLimiter: ClientRateLimiter;
  private ident = Math.floor(Math.random() * 0x10000);
  /**
   * When a Packet Too Big about a segment of the service's port last reached the server, per client address: the
   * kernel may still cache a path MTU toward that client (for PMTU_EXPIRY_MS), learnt on any connection, the page's too.
   */
  private readonly packetTooBigSeenAt = new Map<string, number>();
  private readonly pathFlushes = new Map<string, Promise<void>>();

  constructor(
    readonly settings: EngineSettings,
    private readonly sink: PacketSink,
    private readonly clock: () => number = () => performance.now(),
    private readonly forgetPathMtu: PathMtuForgetter = () => undefined,
    /** Where the kernel answers /icmp segments itself; the engine alone when undefined. */
    private readonly kernelAnswer?: KernelAnswer,
  ) {
    this.connections = new ConnectionTable(settings.maxConnections);
    const now = clock();
    const clientOf = clientKeyFor(settings.ipv6ClientPrefix);
    this.icmpLimiter = new ClientRateLimiter(settings.icmpRate.perClient, settings.icmpRate.global, now, undefined, clientOf);
    this.fragmentLimiter = new ClientRateLimiter(settings.fragmentRate.perClient, settings.fragmentRate.global, now, undefined, clientOf);
  }

  handle(packet: QueuedPacket): void {
    const started = this.clock();
    this.counters.packets++;
    const parsed = parseTcpSegment(packet.bytes);
    if (!parsed.ok) {
      if (packet.hook === 'input' && this.packetTooBigArrived(packet.bytes, started)) {
        // The kernel must still see it: that is how the server's own TCP learns the smaller MTU.
        packet.accept();
        this.decisionLatency.add(this.clock() - started);
        return;
      }
      this.counters.malformed++;
      this.lastMalformed = formatDecodeError(parsed.error);
      packet.accept();
    } else if (packet.hook === 'input' && parsed.value.dstPort === this.settings.port) {
      this.fromClient(packet, parsed.value, started);
    } else if (packet.hook === 'output' && parsed.value.srcPort === this.settings.port) {
      this.fromServer(packet, parsed.value, started);
    } else {
      packet.accept();
    }
    this.decisionLatency.add(this.clock() - started);
  }

  /** The connection of an HTTP request, by the addresses its socket reports. */
  connection(e: ConnectionEndpoints): TrackedConnection | undefined {
    return this.connections.get(connectionKey(e));
  }

  /**
   * Resolves with the /frag outcome; if none comes within `timeoutMs`, the test times out ("blocked" if fragments
   * were sent, "inconclusive" if none were).
   */
  fragOutcome(connection: TrackedConnection, timeoutMs: number): Promise<FragOutcome | undefined> {
    return outcomeWithin(connection.frag, timeoutMs);
  }

  /**
   * Resolves once the connection is ready for its test: a /download whose client's cached path MTU is being flushed
   * (see classify) waits for the flush, so that its response starts with full-size segments.
   */
  async ready(connection: TrackedConnection): Promise<void> {
    const flush = this.pathFlushes.get(connection.key);
    if (flush === undefined) return;
    await flush;
    this.pathFlushes.delete(connection.key);
  }

  /** Resolves with the /download outcome; if none comes within `timeoutMs`, the test times out. */
  downloadOutcome(connection: TrackedConnection, timeoutMs: number): Promise<DownloadOutcome | undefined> {
    return outcomeWithin(connection.download, timeoutMs);
  }

  /** Forgets idle and closed connections; decides /frag tests whose window passed without a packet to act on. */
  sweep(): void {
    const now = this.clock();
    this.lastSweepAt = now;
    this.connections.sweep((c) => {
      const probe = c.frag;
      if (probe !== undefined && probe.outcome === undefined && probe.windowPassed(now)) probe.timeOut();
      const download = c.download;
      if (download !== undefined && download.outcome === undefined && download.windowPassed(now)) download.timeOut();
      const linger = c.closed ? CLOSED_LINGER_MS : this.settings.idleMs;
      if (now - c.lastSeenAt < linger) return false;
      if (c.mode === 'icmp' || c.mode === 'pending') this.kernelAnswer?.forget(c);
      this.pathFlushes.delete(c.key);
      this.forgetPathOf(c);
      return true;
    });
    this.icmpLimiter.sweep(now);
    this.fragmentLimiter.sweep(now);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Connections whose handshake has not completed (what a SYN flood fills the table with). */
  get halfOpenCount(): number {
    return this.connections.halfOpenCount;
  }

  private fromClient(packet: QueuedPacket, s: TcpSegment, now: number): void {
    const endpoints = { family: s.family, clientAddress: s.src, clientPort: s.srcPort, serverAddress: s.dst, serverPort: s.dstPort };
    const kernel = kernelDecision(this.kernelAnswer, packet.mark);
    if ((s.flags & (SYN | ACK)) === SYN) {
      this.open(endpoints, s, now);
      this.pass(packet, kernel);
      return;
    }
    const c = this.touch(connectionKey(endpoints), s, now);
    if (c === undefined) {
      this.pass(packet, kernel);
      return;
    }
    if (!c.established && (s.flags & ACK) !== 0 && c.serverIsn !== undefined && s.ack === ((c.serverIsn + 1) >>> 0)) this.connections.establish(c);
    if (!c.established) {
      this.pass(packet, kernel);
      return;
    }
    if ((s.flags & ACK) !== 0 && c.serverIsn !== undefined) {
      const ackOffset = seqOffset(s.ack, c.serverIsn + 1);
      c.frag?.onClientAck(ackOffset, now);
      if (c.download?.onClientAck(ackOffset) === true) this.forgetPathOf(c);
      c.timeline?.clientAck(now, s.ipLength, s.dontFragment, ackOffset, s.payloadLength > 0);
    }
    if (s.payloadLength === 0) {
      this.pass(packet, kernel);
      return;
    }
    const start = seqOffset(s.seq, c.clientIsn + 1);
    const end = start + s.payloadLength;
    if (start === 0 && c.mode === 'pending') this.classify(c, s, now);
    const retransmission = end <= c.clientHigh;
    if (retransmission) c.clientRetransmissions++;
    c.clientHigh = Math.max(c.clientHigh, end);
    c.largestClientPacket = Math.max(c.largestClientPacket, s.ipLength);
    if (kernel !== undefined && c.icmp !== undefined) {
      this.pass(packet, kernel);
      const first = this.decidedInKernel(c, c.icmp, s.seq, kernel, now);
      c.icmp.droppedInKernel(start, end, s.ipLength, now);
      const action = !first ? 'dropped-with-packet' : kernel === 'answered' ? 'dropped-ptb-sent' : 'dropped-ptb-held-back';
      c.timeline?.clientData(now, s.ipLength, s.dontFragment, start, end, retransmission, action, c.icmp.settings.icmpMtu);
      return;
    }
    if (c.icmp === undefined || c.icmp.onClientData(start, end, s.ipLength, s.dontFragment, now) === 'accept') {
      this.pass(packet, kernel);
      c.timeline?.clientData(now, s.ipLength, s.dontFragment, start, end, retransmission, 'accepted');
      return;
    }
    packet.drop();
    this.counters.dropped++;
    const signalled = this.signalPacketTooBig(c, c.icmp, s, now);
    c.timeline?.clientData(now, s.ipLength, s.dontFragment, start, end, retransmission, signalled ? 'dropped-ptb-sent' : 'dropped-ptb-held-back', c.icmp.settings.icmpMtu);
  }

  /** Lets a client packet go on, unless the kernel dropped it: the client was told it did not arrive. */
  private pass(packet: QueuedPacket, kernel: KernelDecision): void {
    if (kernel === undefined) {
      packet.accept();
      return;
    }
    packet.drop();
    this.counters.dropped++;
  }

  /**
   * The messages the kernel sent (or held back) for a test since the engine last looked, counted as the engine's own;
   * and whether this segment (client sequence number `seq`) began a packet the kernel decided, i.e. carried its one
   * answer. From the kernel's counts, not from the marked segments: a packet the server received as one (GRO, or a
   * veth carrying its sender's TSO) reaches the queue as several segments, all marked, but was answered once.
   */
  private decidedInKernel(c: TrackedConnection, probe: IcmpProbe, seq: number, decision: NonNullable<KernelDecision>, now: number): boolean {
    const counts = this.kernelAnswer?.counts(c);
    // Without the kernel's counts (the entry gone), each segment stands for one message.
    const answered = counts === undefined ? Number(decision === 'answered') : Math.max(0, counts.answered - c.kernelAnswered);
    const heldBack = counts === undefined ? Number(decision === 'held-back') : Math.max(0, counts.heldBack - c.kernelHeldBack);
    let first = counts === undefined;
    if (counts !== undefined) {
      // The ring keeps the last DECISION_STARTS packets; older ones can no longer be matched.
      const from = Math.max(c.kernelDecisionsMatched, counts.decisions - DECISION_STARTS);
      for (let n = from; n < counts.decisions; n++) {
        if (counts.starts[n % DECISION_STARTS] !== seq) continue;
        first = true;
        c.kernelDecisionsMatched = n + 1;
        break;
      }
    }
    c.kernelAnswered += answered;
    c.kernelHeldBack += heldBack;
    this.counters.packetTooBigSent += answered;
    this.counters.packetTooBigAnsweredInKernel += answered;
    this.counters.packetTooBigSuppressed += heldBack;
    for (let i = 0; i < answered; i++) {
      probe.noteSignal(true, now);
      // One budget with the engine's own answers (interfaces the kernel does not answer on, segments it leaves).
      this.icmpLimiter.take(c.clientAddress, now);
    }
    for (let i = 0; i < heldBack; i++) probe.noteSignal(false, now);
    return first;
  }

  private fromServer(packet: QueuedPacket, s: TcpSegment, now: number): void {
    const c = this.touch(connectionKey({ family: s.family, clientAddress: s.dst, clientPort: s.dstPort, serverAddress: s.src, serverPort: s.srcPort }), s, now);
    if (c === undefined) {
      packet.accept();
      return;
    }
    if ((s.flags & (SYN | ACK)) === (SYN | ACK)) c.serverIsn = s.seq;
    if (c.download !== undefined && c.established && c.serverIsn !== undefined) {
      if ((s.flags & FIN) !== 0) c.download.noteServerFin(seqOffset(s.seq, c.serverIsn + 1) + s.payloadLength);
      if (s.payloadLength > 0) {
        this.downloadData(packet, c, c.download, s, now);
        return;
      }
    }
    const probe = c.frag;
    if (!c.established || c.serverIsn === undefined || s.payloadLength === 0) {
      packet.accept();
      return;
    }
    const start = seqOffset(s.seq, c.serverIsn + 1);
    const end = start + s.payloadLength;
    if (probe === undefined || probe.onServerData(start, end, now) === 'accept') {
      packet.accept();
      c.timeline?.serverData(now, s.ipLength, s.dontFragment, start, end, 'accepted');
      return;
    }
    const fragments = fragmentSegment(s, this.settings.fragmentSize[s.family], this.nextIdent());
    if (!fragments.ok) {
      this.counters.malformed++;
      this.lastMalformed = fragments.reason;
      packet.accept();
      c.timeline?.serverData(now, s.ipLength, s.dontFragment, start, end, 'accepted');
      return;
    }
    packet.drop();
    // The limits count fragments, as their flags promise: a segment takes a token for each of its fragments.
    if (!this.fragmentLimiter.take(c.clientAddress, now, fragments.fragments.length)) {
      // Dropping rather than sending whole keeps the test honest: TCP retransmits once the budget allows.
      probe.noteSuppressed(start, fragments.fragments.length, now);
      this.counters.fragmentsSuppressed += fragments.fragments.length;
      c.timeline?.serverData(now, s.ipLength, s.dontFragment, start, end, 'fragments-held-back', fragments.fragments.length);
      return;
    }
    probe.noteFragmented(start, end, fragments.fragments.length, now);
    this.counters.segmentsFragmented++;
    this.counters.fragmentsSent += fragments.fragments.length;
    for (const f of fragments.fragments) this.emit(s.family, f, c.clientAddress);
    c.timeline?.serverData(now, s.ipLength, s.dontFragment, start, end, 'fragmented', fragments.fragments.length);
  }

  private downloadData(packet: QueuedPacket, c: TrackedConnection, probe: DownloadProbe, s: TcpSegment, now: number): void {
    const start = seqOffset(s.seq, (c.serverIsn ?? 0) + 1);
    const end = start + s.payloadLength;
    if (probe.onServerData(start, end, s.ipLength, now) === 'accept') {
      packet.accept();
      c.timeline?.serverData(now, s.ipLength, s.dontFragment, start, end, 'accepted');
      return;
    }
    // A black hole toward the client: no Packet Too Big will come, so the engine plays the router that should have sent
    // one, to its own kernel, which then re-sends the data in segments that fit any path and completes the response.
    packet.drop();
    this.counters.dropped++;
    this.counters.downloadRescues++;
    const mtu = DOWNLOAD_RESCUE_MTU[s.family];
    probe.noteRescue(mtu);
    this.emit(s.family, buildPacketTooBig(s, mtu, this.nextIdent()), c.serverAddress);
    // Dropped, and answered with a Packet Too Big: to the server's own kernel here.
    c.timeline?.serverData(now, s.ipLength, s.dontFragment, start, end, 'dropped-ptb-sent', mtu);
  }

  /**
   * Once a /download response has arrived whole (or its connection is forgotten), the path MTU the server's kernel learnt
   * during the test must not decide the client's next test. Only tests that taught the kernel anything are flushed.
   */
  private forgetPathOf(c: TrackedConnection): void {
    const probe = c.download;
    if (probe === undefined || probe.pathForgotten || !probe.taughtTheKernel) return;
    probe.pathForgotten = true;
    this.forgetPathMtu(c.family, c.clientAddress);
  }

  /**
   * An ICMP "fragmentation needed" / Packet Too Big for a segment the server sent: noted for the connection's /download
   * test, if it has one. False when the packet is no such message.
   */
  private packetTooBigArrived(bytes: Uint8Array, now: number): boolean {
    const parsed = parseReceivedPacketTooBig(bytes);
    if (!parsed.ok) return false;
    this.counters.packetTooBigReceived++;
    const p = parsed.value;
    if (p.serverPort !== this.settings.port) return true;
    this.packetTooBigSeenAt.delete(p.clientAddress);
    this.packetTooBigSeenAt.set(p.clientAddress, now);
    if (this.packetTooBigSeenAt.size > MAX_CLIENTS_WITH_PACKET_TOO_BIG) {
      const oldest = this.packetTooBigSeenAt.keys().next().value;
      if (oldest !== undefined) this.packetTooBigSeenAt.delete(oldest);
    }
    const key = connectionKey({ family: p.family, clientAddress: p.clientAddress, clientPort: p.clientPort, serverAddress: p.serverAddress, serverPort: p.serverPort });
    const c = this.connections.get(key);
    if (c !== undefined) c.lastSeenAt = now;
    c?.download?.onPacketTooBig(p.router, p.mtu, now);
    c?.timeline?.packetTooBigReceived(now, bytes.length, p.mtu);
    return true;
  }

  /** The connection a segment belongs to, marked as seen (and closed on FIN or RST); undefined if untracked. */
  private touch(key: string, s: TcpSegment, now: number): TrackedConnection | undefined {
    const c = this.connections.get(key);
    if (c === undefined) {
      this.counters.untracked++;
      return undefined;
    }
    c.lastSeenAt = now;
    if ((s.flags & (RST | FIN)) !== 0) c.closed = true;
    return c;
  }

  private open(e: ConnectionEndpoints, s: TcpSegment, now: number): void {
    const opened = this.connections.open({ ...e, clientIsn: s.seq, clientMss: s.mss ?? null, openedAt: now }, () => {
      if (now - this.lastSweepAt >= SWEEP_WHEN_FULL_INTERVAL_MS) this.sweep();
    });
    if (opened.kind === 'full') {
      this.counters.connectionsRefused++;
      return;
    }
    if (opened.kind === 'kept') {
      opened.connection.lastSeenAt = now;
      return;
    }
    if (opened.evicted) this.counters.connectionsEvicted++;
    this.counters.connectionsTracked++;
    this.kernelAnswer?.expect(e, s.seq);
  }

  private classify(c: TrackedConnection, s: TcpSegment, now: number): void {
    c.mode = modeOfRequest(s.payload);
    if (c.mode === 'icmp' || c.mode === 'frag') c.requestHead = requestHeadText(s.payload);
    const { settings } = this;
    if (c.mode === 'icmp') c.icmp = new IcmpProbe({ icmpMtu: settings.icmpMtu[c.family], icmpWindowMs: settings.icmpWindowMs });
    if (c.mode === 'frag') c.frag = new FragProbe({ fragMaxRetransmissions: settings.fragMaxRetransmissions, fragWindowMs: settings.fragWindowMs });
    if (c.mode === 'download') {
      const probe = new DownloadProbe(
        { downloadWindowMs: settings.downloadWindowMs, downloadMaxRetransmissions: settings.downloadMaxRetransmissions },
        fullSegmentSize(c),
      );
      c.download = probe;
      // A path MTU the kernel learnt before this test (the page's own responses are large) would make it start small.
      // Flushed now, before the response is written, the connection's next segments are full-size again.
      const seenAt = this.packetTooBigSeenAt.get(c.clientAddress);
      if (seenAt !== undefined && now - seenAt < PMTU_EXPIRY_MS) {
        this.packetTooBigSeenAt.delete(c.clientAddress);
        probe.flushedBeforeStart = true;
        this.pathFlushes.set(c.key, Promise.resolve(this.forgetPathMtu(c.family, c.clientAddress)).catch(() => undefined));
      }
    }
    if (c.mode !== 'other') c.timeline = new TimelineRecorder(c.openedAt);
  }

  /** Whether the Packet Too Big went out (a rate limit may hold it back). */
  private signalPacketTooBig(c: TrackedConnection, probe: IcmpProbe, s: TcpSegment, started: number): boolean {
    if (!this.icmpLimiter.take(c.clientAddress, started)) {
      probe.noteSignal(false, started);
      this.counters.packetTooBigSuppressed++;
      return false;
    }
    probe.noteSignal(true, started);
    this.counters.packetTooBigSent++;
    const ptb = buildPacketTooBig(s, probe.settings.icmpMtu, this.nextIdent());
    this.emit(s.family, ptb, c.clientAddress, started);
    return true;
  }

  private emit(family: IpFamily, packet: Uint8Array, destination: string, measureFrom?: number): void {
    this.sink(family, packet, destination).then(
      () => {
        if (measureFrom !== undefined) this.packetTooBigLatency.add(this.clock() - measureFrom);
      },
      () => {
        this.counters.sendErrors++;
      },
    );
  }

  private nextIdent(): number {
    this.ident = (this.ident + 1) >>> 0;
    return this.ident;
  }
}

/**
 * The IP size of a full-size server segment on this connection: the client's MSS plus the IP and TCP headers it leaves
 * out (TCP options come out of the payload, so the packet still reaches this size). Not the server's own MSS option:
 * Linux lowers that to a path MTU it has cached for the client, which is exactly what must not hide a smaller link.
 */
function fullSegmentSize(c: TrackedConnection): number | undefined {
  return c.clientMss === null ? undefined : c.clientMss + (c.family === 4 ? 40 : 60);
}
