import { buildProbe, MAX_PROBE_ID, type ProbeFlow, type ProbeSpec, type TcpSynFields } from './probe-packets.js';
import { classifyReply, type ProbeReply, type ReceivedPacket } from './probe-reply.js';

/**
 * One probe sent and what came of it: the seam between the prober's algorithms (hop-trace.ts, blackhole-search.ts),
 * which decide what to send, and the transport. `ProbeRunner` implements it over any packet sink and source with an
 * injected clock and timer, so the algorithms run the same against the kernel (probe-run.ts) and against a simulated
 * path in the tests (real packet bytes both ways).
 */

/** A reply that answers one of our probes. */
export type MatchedReply = Exclude<ProbeReply, { kind: 'unrelated' }>;

export interface ProbeRequest {
  readonly size: number;
  readonly ttl: number;
  /** IPv4 only; default true. */
  readonly dontFragment?: boolean;
  readonly dscp?: number;
  readonly ecn?: number;
  readonly tcp?: TcpSynFields;
}

export interface ProbeOutcome {
  readonly id: number;
  readonly request: ProbeRequest;
  /** The packet as sent, for comparing with what routers quote. */
  readonly packet: Uint8Array;
  readonly sentAtMs: number;
  /** The first reply; undefined when none came within the timeout. */
  readonly reply?: MatchedReply;
  readonly rttMs?: number;
  /** The transport refused to send it (e.g. larger than the device MTU); no reply can come. */
  readonly sendError?: string;
}

export interface ProbeIo {
  readonly flow: ProbeFlow;
  nowMs(): number;
  /** Sends one probe and resolves when its first reply arrives or `timeoutMs` has passed. */
  probe(request: ProbeRequest, timeoutMs: number): Promise<ProbeOutcome>;
  /** Resolves after `ms` of the same clock (a back-off between probes). */
  wait(ms: number): Promise<void>;
  /** Probes sent so far. */
  readonly sent: number;
  /** Replies later than their probe's timeout, or second replies: counted, not used. */
  readonly late: number;
}

export interface ProbeRunnerHooks {
  /** Hands a whole IP packet to the network; throws when it cannot. */
  readonly send: (packet: Uint8Array) => void;
  readonly nowMs: () => number;
  /** Calls `fn` after `ms`; returns a cancel function. */
  readonly setTimer: (fn: () => void, ms: number) => () => void;
  /** Every reply to a probe (after matching), e.g. for the quote comparison of another part. */
  readonly onReply?: (outcome: ProbeOutcome) => void;
}

interface Pending {
  readonly id: number;
  readonly request: ProbeRequest;
  readonly packet: Uint8Array;
  readonly sentAtMs: number;
  readonly resolve: (outcome: ProbeOutcome) => void;
  cancel: () => void;
}

/** Keeps the probes in flight, numbers them, and matches what arrives (`receive`) to them with classifyReply. */
export class ProbeRunner implements ProbeIo {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Sizes of every probe of the run, by number (late replies are still recognised as ours). */
  private readonly sizes = new Map<number, { size: number }>();
  private sentCount = 0;
  private lateCount = 0;

  constructor(
    readonly flow: ProbeFlow,
    private readonly hooks: ProbeRunnerHooks,
  ) {}

  get sent(): number {
    return this.sentCount;
  }

  get late(): number {
    return this.lateCount;
  }

  nowMs(): number {
    return this.hooks.nowMs();
  }

  probe(request: ProbeRequest, timeoutMs: number): Promise<ProbeOutcome> {
    const id = this.allocate();
    const spec: ProbeSpec = { id, ...request };
    const packet = buildProbe(this.flow, spec);
    this.sizes.set(id, { size: request.size });
    const sentAtMs = this.hooks.nowMs();
    return new Promise((resolve) => {
      try {
        this.hooks.send(packet);
      } catch (err) {
        resolve({ id, request, packet, sentAtMs, sendError: err instanceof Error ? err.message : String(err) });
        return;
      }
      this.sentCount += 1;
      const p: Pending = { id, request, packet, sentAtMs, resolve, cancel: () => undefined };
      this.pending.set(id, p);
      p.cancel = this.hooks.setTimer(() => {
        if (this.pending.get(id) !== p) return;
        this.pending.delete(id);
        resolve({ id, request, packet, sentAtMs });
      }, timeoutMs);
    });
  }

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.hooks.setTimer(resolve, Math.max(0, ms));
    });
  }

  /** A packet from the transport: resolves the probe it answers; anything else is ignored. */
  receive(received: ReceivedPacket): void {
    const r = classifyReply(received, this.flow, (id) => this.sizes.get(id));
    if (!r.ok || r.value.kind === 'unrelated') return;
    const reply = r.value;
    const p = this.pending.get(reply.probeId);
    if (p === undefined) {
      this.lateCount += 1;
      return;
    }
    this.pending.delete(reply.probeId);
    p.cancel();
    const outcome: ProbeOutcome = { id: p.id, request: p.request, packet: p.packet, sentAtMs: p.sentAtMs, reply, rttMs: reply.receivedAtMs - p.sentAtMs };
    this.hooks.onReply?.(outcome);
    p.resolve(outcome);
  }

  /** Resolves every probe in flight as unanswered (the run is ending). */
  abandon(): void {
    for (const p of this.pending.values()) {
      p.cancel();
      p.resolve({ id: p.id, request: p.request, packet: p.packet, sentAtMs: p.sentAtMs });
    }
    this.pending.clear();
  }

  private allocate(): number {
    // Numbers are not reused within a run while a probe holding one may still be answered.
    for (let n = 0; n < MAX_PROBE_ID; n++) {
      const id = this.nextId;
      this.nextId = id >= MAX_PROBE_ID ? 1 : id + 1;
      if (!this.pending.has(id)) {
        this.sizes.delete(id);
        return id;
      }
    }
    throw new RangeError(`${MAX_PROBE_ID} probes in flight at once`);
  }
}
