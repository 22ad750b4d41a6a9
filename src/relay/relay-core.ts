/**
 * What the relay does with each message, apart from the host: Packet Too Big messages come in from a netfilter queue
 * (with the mark the kernel gave them) or enveloped from a peer relay, copies go out through injected sinks, and time
 * comes from an injected clock. The host layer (relay-host.ts) only binds these to the queue and sockets, so tests
 * drive this with real packet bytes and a hand-moved clock.
 *
 * A message the relay refuses (malformed, not for a served address, over a limit, already relayed) is left alone:
 * the kernel does with it what it would do without the relay. Only messages that pass every check are steered or
 * copied.
 */
import type { FamilyMap, IpFamily } from '../packet/ip-family.js';
import { emitRelayEnvelope, parseRelayEnvelope, RelayEnvelopeFlag, RelayEnvelopePacket } from '../packet/relay-envelope.js';
import { withDscp } from './dscp-rewrite.js';
import { RelayLimits, type RelayLimitOutcome, type RelayLimitSettings } from './relay-limits.js';
import { STEER_COUNTERS, type SteerCounters, type SteerEvent } from './relay-kernel-layout.js';
import { kernelLimitOutcome, markMeaning, peerRouteMark, withRelayBits } from './relay-marks.js';
import { judgePacketTooBig, type PacketTooBigMessage, type RelayPolicy, type RelayRejectReason } from './relay-verdict.js';

/**
 * `owner`: on the ECMP router or load balancer, steer each message to the next hop that carries its flow (learned
 * from the flow's own packets), all next hops when that is unknown. `broadcast`: on every server, send a message for
 * a flow this server does not carry to every peer relay.
 */
export type RelayMode = 'owner' | 'broadcast';
export const RELAY_MODES: readonly RelayMode[] = ['owner', 'broadcast'];

export interface RelayPeer {
  /** Position in the relay's peer list: its marks and route table derive from it. */
  readonly index: number;
  /** `owner`: the next hop's address; `broadcast`: the peer relay's address. */
  readonly address: string;
  readonly family: IpFamily;
  /** `owner`: the interface the next hop is reached through. */
  readonly device?: string;
}

/** `owner` mode: an interface several peers sit behind; a flow that left through it belongs to one of them. */
export interface SharedInterface {
  readonly index: number;
  readonly family: IpFamily;
  readonly device: string;
  readonly peers: readonly number[];
}

export interface RelayCoreSettings {
  readonly mode: RelayMode;
  readonly peers: readonly RelayPeer[];
  readonly sharedInterfaces: readonly SharedInterface[];
  readonly policy: RelayPolicy;
  readonly limits: RelayLimitSettings;
  readonly relayedDscp: number;
  /** Decide and report, but leave every message to the kernel and send nothing. */
  readonly dryRun: boolean;
}

/** Why the owner of a flow was not known and every candidate got a copy. */
export type FallbackReason = 'owner-unknown' | 'shared-interface';

/** Why a message was left alone (besides the validation's own reasons). */
export type IgnoreReason = RelayRejectReason | Exclude<RelayLimitOutcome, 'admitted'> | 'already-relayed' | 'no-peer' | 'not-from-peer' | 'bad-envelope';

export interface FlowText {
  readonly protocol: number;
  readonly served: string;
  readonly servedPort?: number;
  readonly peer: string;
  readonly peerPort?: number;
}

interface MessageFields {
  readonly family: IpFamily;
  readonly router: string;
  readonly mtu: number;
  readonly flow: FlowText;
}

/** One line of `mtuscope relay --json`: docs/relay.md documents the schema. */
export type RelayEvent =
  | ({
      readonly event: 'relayed';
      readonly method: 'owner' | 'broadcast' | 'fallback';
      readonly fallback?: FallbackReason;
      readonly peers: readonly string[];
      readonly dryRun: boolean;
      /** Relayed by the kernel steering (relay-kernel.ts), not through the netfilter queue. */
      readonly inKernel?: true;
    } & MessageFields)
  | ({ readonly event: 'received'; readonly from: string; readonly dryRun: boolean } & MessageFields)
  | { readonly event: 'ignored'; readonly reason: IgnoreReason; readonly detail: string; readonly from?: string; readonly router?: string };

/** A packet from the netfilter queue, reduced to what the relay needs (host/packet-queue.ts's QueuedPacket fits). */
export interface QueuedMessage {
  readonly bytes: Uint8Array;
  readonly mark: number;
  accept(): void;
  acceptMarked(mark: number): void;
  drop(): void;
}

export interface RelaySinks {
  /** `owner`: send `packet` (a whole IP packet) to the served address through `peer`'s policy route. */
  forward(peer: RelayPeer, packet: Uint8Array, destination: string): void;
  /** `broadcast`: send an envelope (UDP payload) to the peer relay. */
  envelope(peer: RelayPeer, payload: Uint8Array): void;
  /** Hand a peer's message to this host's own kernel. */
  inject(family: IpFamily, packet: Uint8Array, destination: string): void;
  event(e: RelayEvent): void;
}

export interface RelayCounters {
  /** Messages from the queue and envelopes from peers, each counted once. */
  queued: number;
  envelopes: number;
  relayed: { owner: number; broadcast: number; fallback: number };
  fallback: Record<FallbackReason, number>;
  /** Copies sent: fallback copies, envelopes to peers, peer messages injected. An owner delivery is not a copy. */
  copies: number;
  injected: number;
  ignored: Partial<Record<IgnoreReason, number>>;
  /** The kernel steering's own counters, when it runs (its relayed messages and copies are in the totals above too). */
  kernel?: SteerCounters;
}

function flowText(m: PacketTooBigMessage): FlowText {
  const f = m.flow;
  return {
    protocol: f.protocol,
    served: f.served,
    ...(f.servedPort === undefined ? {} : { servedPort: f.servedPort }),
    peer: f.peer,
    ...(f.peerPort === undefined ? {} : { peerPort: f.peerPort }),
  };
}

function fields(m: PacketTooBigMessage): MessageFields {
  return { family: m.family, router: m.router, mtu: m.mtu, flow: flowText(m) };
}

export class RelayCore {
  readonly counters: RelayCounters = {
    queued: 0,
    envelopes: 0,
    relayed: { owner: 0, broadcast: 0, fallback: 0 },
    fallback: { 'owner-unknown': 0, 'shared-interface': 0 },
    copies: 0,
    injected: 0,
    ignored: {},
  };
  private readonly limits: RelayLimits;
  private readonly peerByAddress: Map<string, RelayPeer>;
  /**
   * The addresses a kernel steering event names, per family: a peer's own (by index, empty when of the other family),
   * every peer's, a shared interface's. Built once: at tens of thousands of events a second, building them per event
   * cost the relay more than formatting its line.
   */
  private readonly kernelPeers: FamilyMap<{ readonly owner: readonly (readonly string[])[]; readonly all: readonly string[]; readonly shared: readonly (readonly string[])[] }>;

  constructor(
    private readonly settings: RelayCoreSettings,
    private readonly sinks: RelaySinks,
    private readonly now: () => number,
  ) {
    this.limits = new RelayLimits(settings.limits, now());
    this.peerByAddress = new Map(settings.peers.map((p) => [p.address, p]));
    const ofFamily = (family: IpFamily, indices: readonly number[]): string[] =>
      indices.map((i) => settings.peers[i]).flatMap((p) => (p !== undefined && p.family === family ? [p.address] : []));
    const peersOf = (family: IpFamily): { owner: string[][]; all: string[]; shared: string[][] } => ({
      owner: settings.peers.map((p) => ofFamily(family, [p.index])),
      all: ofFamily(family, settings.peers.map((p) => p.index)),
      shared: settings.sharedInterfaces.map((x) => ofFamily(family, x.peers)),
    });
    this.kernelPeers = { 4: peersOf(4), 6: peersOf(6) };
  }

  get mode(): RelayMode {
    return this.settings.mode;
  }

  /** A Packet Too Big from the netfilter queue; decides its verdict before returning. */
  onQueued(q: QueuedMessage): void {
    this.counters.queued++;
    const message = this.admit(q.bytes, undefined, kernelLimitOutcome(q.mark));
    if (message === undefined) {
      q.accept();
      return;
    }
    if (this.settings.mode === 'broadcast') {
      // The kernel may keep it (it finds no connection and only counts it); the peers get it enveloped.
      q.accept();
      this.broadcast(message, q.bytes);
      return;
    }
    const meaning = markMeaning(q.mark);
    const candidates = (peers: readonly RelayPeer[]): RelayPeer[] => peers.filter((p) => p.family === message.family);
    if (meaning.kind === 'peer') {
      const owner = this.settings.peers[meaning.peerIndex];
      if (owner !== undefined && owner.family === message.family) {
        this.counters.relayed.owner++;
        if (this.settings.dryRun) q.accept();
        else q.acceptMarked(withRelayBits(q.mark, peerRouteMark(owner.index)));
        this.sinks.event({ event: 'relayed', method: 'owner', peers: [owner.address], dryRun: this.settings.dryRun, ...fields(message) });
        return;
      }
    }
    if (meaning.kind === 'shared') {
      const shared = this.settings.sharedInterfaces[meaning.interfaceIndex];
      const peers = candidates((shared?.peers ?? []).map((i) => this.settings.peers[i]).filter((p): p is RelayPeer => p !== undefined));
      if (peers.length > 0) {
        this.fallback(q, message, peers, 'shared-interface');
        return;
      }
    }
    const peers = candidates(this.settings.peers);
    if (peers.length === 0) {
      this.ignore('no-peer', `no peer of IPv${message.family} to send it to`, { router: message.router });
      q.accept();
      return;
    }
    this.fallback(q, message, peers, 'owner-unknown');
  }

  /**
   * What the kernel steering relayed since the last call, and its counters now: each message is reported as the
   * relay's own are, and counted into the totals.
   */
  onKernel(events: readonly SteerEvent[], totals: SteerCounters): void {
    const before = this.counters.kernel;
    const delta = (name: (typeof STEER_COUNTERS)[number]): number => totals[name] - (before?.[name] ?? 0);
    const c = this.counters;
    c.relayed.owner += delta('relayedOwner');
    c.relayed.fallback += delta('relayedOwnerUnknown') + delta('relayedSharedInterface');
    c.fallback['owner-unknown'] += delta('relayedOwnerUnknown');
    c.fallback['shared-interface'] += delta('relayedSharedInterface');
    c.copies += delta('copies');
    c.kernel = totals;
    for (const e of events) {
      const fields: MessageFields = {
        family: e.family,
        router: e.router,
        mtu: e.mtu,
        flow: { protocol: e.protocol, served: e.served, servedPort: e.servedPort, peer: e.peer, peerPort: e.peerPort },
      };
      const peers = this.kernelPeers[e.family];
      if (e.method === 'owner') {
        this.sinks.event({ event: 'relayed', method: 'owner', peers: peers.owner[e.index] ?? [], dryRun: false, inKernel: true, ...fields });
      } else {
        const candidates = e.method === 'shared-interface' ? (peers.shared[e.index] ?? []) : peers.all;
        this.sinks.event({ event: 'relayed', method: 'fallback', fallback: e.method, peers: candidates, dryRun: false, inKernel: true, ...fields });
      }
    }
  }

  /** A UDP datagram from `from` on the relay's port: a peer relay's envelope. */
  onEnvelope(from: string, bytes: Uint8Array): void {
    this.counters.envelopes++;
    if (!this.peerByAddress.has(from)) {
      this.ignore('not-from-peer', `an envelope from ${from}, which is not a peer`, { from });
      return;
    }
    const view = RelayEnvelopePacket.check(bytes);
    if (!view.ok) {
      const e = view.error;
      this.ignore('bad-envelope', `${e.protocol} ${e.field} at byte ${e.offset}: ${e.reason}`, { from });
      return;
    }
    const envelope = parseRelayEnvelope(view.value);
    const message = this.admit(envelope.packet, from);
    if (message === undefined) return;
    this.counters.injected++;
    this.counters.copies++;
    if (!this.settings.dryRun) this.sinks.inject(message.family, envelope.packet, message.target);
    this.sinks.event({ event: 'received', from, dryRun: this.settings.dryRun, ...fields(message) });
  }

  /**
   * The message if it passes validation, the relayed marker and the limits; otherwise counted and reported. A message
   * the kernel steering's limits refused (`kernelOutcome`) was judged against the kernel's budgets, not these.
   */
  private admit(bytes: Uint8Array, from?: string, kernelOutcome?: Exclude<RelayLimitOutcome, 'admitted'>): PacketTooBigMessage | undefined {
    const verdict = judgePacketTooBig(bytes, this.settings.policy);
    const source = from === undefined ? {} : { from };
    if (!verdict.ok) {
      this.ignore(verdict.reason, verdict.detail, source);
      return undefined;
    }
    const message = verdict.message;
    // An envelope is a relayed message by construction; only raw copies carry the marker.
    if (from === undefined && message.dscp === this.settings.relayedDscp) {
      this.ignore('already-relayed', `DSCP ${message.dscp} marks a copy another relay made`, { router: message.router });
      return undefined;
    }
    const limit = kernelOutcome ?? this.limits.admit(message, this.now());
    if (limit !== 'admitted') {
      this.ignore(limit, limitDetail(limit, message), { ...source, router: message.router });
      return undefined;
    }
    return message;
  }

  private fallback(q: QueuedMessage, message: PacketTooBigMessage, peers: readonly RelayPeer[], reason: FallbackReason): void {
    this.counters.relayed.fallback++;
    this.counters.fallback[reason]++;
    if (this.settings.dryRun) {
      q.accept();
    } else {
      q.drop();
      const copy = withDscp(q.bytes, this.settings.relayedDscp) ?? q.bytes;
      for (const peer of peers) {
        this.sinks.forward(peer, copy, message.target);
        this.counters.copies++;
      }
    }
    this.sinks.event({ event: 'relayed', method: 'fallback', fallback: reason, peers: peers.map((p) => p.address), dryRun: this.settings.dryRun, ...fields(message) });
  }

  private broadcast(message: PacketTooBigMessage, bytes: Uint8Array): void {
    const peers = this.settings.peers;
    if (peers.length === 0) {
      this.ignore('no-peer', 'no peer relay to send it to', { router: message.router });
      return;
    }
    this.counters.relayed.broadcast++;
    if (!this.settings.dryRun) {
      const payload = emitRelayEnvelope({ flags: RelayEnvelopeFlag.Relayed, packet: bytes });
      for (const peer of peers) {
        this.sinks.envelope(peer, payload);
        this.counters.copies++;
      }
    }
    this.sinks.event({ event: 'relayed', method: 'broadcast', peers: peers.map((p) => p.address), dryRun: this.settings.dryRun, ...fields(message) });
  }

  private ignore(reason: IgnoreReason, detail: string, where: { from?: string; router?: string }): void {
    this.counters.ignored[reason] = (this.counters.ignored[reason] ?? 0) + 1;
    this.sinks.event({ event: 'ignored', reason, detail, ...where });
  }
}

function limitDetail(limit: Exclude<RelayLimitOutcome, 'admitted'>, m: PacketTooBigMessage): string {
  switch (limit) {
    case 'duplicate':
      return `the same message from ${m.router} was handled moments ago`;
    case 'router-limit':
      return `over the rate limit for messages from ${m.router}`;
    case 'flow-limit':
      return 'over the rate limit for messages about this flow';
    case 'total-limit':
      return 'over the total rate limit';
  }
}
