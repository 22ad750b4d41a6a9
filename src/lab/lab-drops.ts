/**
 * Where and why the kernel dropped a lab's packets while its traffic ran, from `mtuscope trace`'s tracer (src/trace):
 * its drops program (skb:kfree_skb and icmp:icmp_send only, quick to attach), limited in the kernel to the lab's own
 * network namespaces, with no filter: every IPv4 and IPv6 packet dropped there (ARP and other non-IP frames are not
 * traced). A TraceSession turns the events into places of death grouped by node, device, function and reason, each
 * with its path-MTU meaning, and the ICMP errors the kernel sent. Drops elsewhere on the machine never appear.
 *
 * Events count only between `begin()` and `end()` (kernel monotonic time, which is also Node's hrtime): the tracer
 * may be started while the lab is still being built and stopped while it is torn down, off the run's critical path.
 */
import { Tracer, TracerUnavailable } from '../trace/bpftrace-tracer.js';
import { isBenignDrop } from '../trace/drop-meaning.js';
import { namespaceInode } from '../trace/netns-names.js';
import type { TraceEvent, TracedPacket } from '../trace/trace-event.js';
import { icmpText } from '../trace/trace-output.js';
import { PROTOCOL_NAMES, TraceSession, type DeathGroup } from '../trace/trace-session.js';
import { dropReasonNames } from '../trace/tracefs.js';
import { errorMessage } from '../util/error-message.js';
import type { RunningLab } from './running-lab.js';

/** Packets that died at one place for one reason. */
export interface LabDropGroup {
  /** The lab node (or `netns:INODE` for a namespace outside the lab a followed packet reached). */
  readonly node: string;
  /** The device the packet was on when it was dropped ('' when the kernel had none, e.g. at a socket). */
  readonly device: string;
  /** The kernel function that dropped it, without offset and compiler suffixes. */
  readonly function: string;
  /** SKB_DROP_REASON_* without the prefix, as this kernel names it (a number when it has no name for it). */
  readonly reason: string;
  readonly count: number;
  /** What the drop means, in one sentence (src/trace/drop-meaning.ts), for the first packet of the group. */
  readonly meaning: string;
  /** How many of them were ICMP errors the kernel had sent about another traced packet. */
  readonly icmpErrors: number;
  /**
   * Bookkeeping rather than loss on a path: a closing socket's queue, an echo reply for a raw-socket pinger, multicast
   * for a group nobody joined (ip6_mc_input: the MLD and neighbour discovery every fresh interface sends).
   */
  readonly benign: boolean;
  /** What the dropped packets were, e.g. "IPv4 tcp", "IPv4 icmp fragmentation needed (3/4) mtu 1400", with counts. */
  readonly packets: Readonly<Record<string, number>>;
}

/** ICMP errors one node's kernel sent (icmp_send), by type and code, device and the address they went to. */
export interface LabIcmpSent {
  readonly node: string;
  /** The device of the packet the error is about. */
  readonly device: string;
  readonly family: 4 | 6;
  readonly type: number;
  readonly code: number;
  /** E.g. "icmp fragmentation needed (3/4)". */
  readonly text: string;
  /** The source of the packet the error is about: where the error goes. */
  readonly to: string | null;
  readonly count: number;
}

export type LabDrops =
  | {
      readonly available: true;
      readonly source: 'mtuscope trace';
      /** What was traced, in words: the namespaces and the packets. */
      readonly traced: string;
      readonly nodes: readonly string[];
      /** Packets and tracer events seen while the traffic ran. */
      readonly packets: number;
      readonly events: number;
      /** Events the kernel emitted that never arrived (perf buffer overruns); null when the tracer did not end normally. */
      readonly lostEvents: number | null;
      /** Most frequent first; benign groups last. */
      readonly drops: readonly LabDropGroup[];
      readonly icmpErrorsSent: readonly LabIcmpSent[];
      readonly attachMs: number;
      readonly detachMs: number;
    }
  | {
      readonly available: false;
      readonly error: string;
      /** TracerUnavailable's code when the tracer could not run: not-root, no-bpftrace, no-btf, bpf-not-permitted... */
      readonly code?: string;
    };

export const TRACED_WHAT =
  "IPv4 and IPv6 packets dropped in the lab's network namespaces (not other namespaces, not ARP or other non-IP frames); " +
  'ICMP errors sent: IPv4 only (the kernel has a tracepoint for icmp_send, none for icmpv6_send)';

/** Drops that every lab shows and that are no loss on a path (see LabDropGroup.benign), besides isBenignDrop's. */
function benign(reason: string, fn: string): boolean {
  return isBenignDrop(reason, fn) || fn === 'ip6_mc_input';
}

/** A packet in a few words: family, protocol, the ICMP type (and MTU), a fragment, a tunnel's inner packet. */
export function packetWords(p: TracedPacket | undefined): string {
  if (p === undefined) return 'not IP';
  const t = p.outer;
  const firstBytes = t.fragment === undefined || t.fragment.offset === 0;
  let text =
    p.icmp !== undefined && firstBytes
      ? `IPv${t.family} ${icmpText(t.family, p.icmp.type, p.icmp.code, p.icmp.mtu)}`
      : `IPv${t.family} ${PROTOCOL_NAMES[t.protocol] ?? `protocol ${t.protocol}`}`;
  if (t.fragment !== undefined) text += firstBytes ? ' first fragment' : ' fragment';
  if (p.inner !== undefined) text += ` (${p.tunnel ?? 'tunnel'}: IPv${p.inner.family} ${PROTOCOL_NAMES[p.inner.protocol] ?? `protocol ${p.inner.protocol}`})`;
  return text;
}

/** A drop trace of one lab. `start`, `begin()` before the traffic, `end()` after it, always `stop()` (a `finally`). */
export class LabDropTrace {
  private readonly session: TraceSession;
  private readonly icmp = new Map<string, { -readonly [K in keyof LabIcmpSent]: LabIcmpSent[K] }>();
  private fromNs: bigint | undefined;
  private toNs: bigint | undefined;
  private tracer: Tracer | undefined;
  private attachMs = 0;

  private constructor(
    private readonly nodes: readonly string[],
    labels: ReadonlyMap<number, string>,
  ) {
    let reasons: Map<number, string> | undefined;
    this.session = new TraceSession({
      // Read once the tracer holds tracefs (it may not have been mounted before).
      reasonName: (n) => (reasons ??= dropReasonNames()).get(n) ?? String(n),
      namespaceLabel: (inode) => labels.get(inode) ?? `netns:${inode}`,
      describe: packetWords,
    });
  }

  /**
   * Attaches the tracer to the lab's namespaces (they must exist). Throws TracerUnavailable when it cannot run (not
   * root, no bpftrace, no BTF, BPF not permitted, a tracepoint missing).
   */
  static async start(lab: Pick<RunningLab, 'plan' | 'namespace'>, options: { readonly bpftrace?: string } = {}): Promise<LabDropTrace> {
    const labels = new Map<number, string>();
    for (const node of lab.plan.nodes) {
      const inode = namespaceInode(lab.namespace(node.name));
      if (inode === undefined) throw new TracerUnavailable('failed', `the namespace of node ${node.name} (${lab.namespace(node.name)}) does not exist`);
      labels.set(inode, node.name);
    }
    const trace = new LabDropTrace(
      lab.plan.nodes.map((n) => n.name),
      labels,
    );
    const { tracer, attachMs } = await Tracer.start({
      filter: undefined,
      netns: [...labels.keys()],
      probes: 'drops',
      ...(options.bpftrace === undefined ? {} : { bpftrace: options.bpftrace }),
      onEvent: (e) => trace.take(e),
    });
    trace.tracer = tracer;
    trace.attachMs = attachMs;
    return trace;
  }

  /** Events from now on count (the traffic starts). */
  begin(): void {
    this.fromNs = process.hrtime.bigint();
  }

  /** Events from now on do not count (the traffic is over). */
  end(): void {
    this.toNs ??= process.hrtime.bigint();
  }

  private take(e: TraceEvent): void {
    if (this.fromNs === undefined || e.timeNs < this.fromNs || (this.toNs !== undefined && e.timeNs > this.toNs)) return;
    const row = this.session.observe(e);
    if (row === undefined || e.kind !== 'icmp-send' || e.icmpSend === undefined) return;
    const family = e.packet?.outer.family ?? 4;
    const to = e.packet?.outer.src ?? null;
    const key = `${row.namespace}\0${e.device}\0${family}\0${e.icmpSend.type}\0${e.icmpSend.code}\0${to ?? ''}`;
    const known = this.icmp.get(key);
    if (known !== undefined) known.count++;
    else {
      this.icmp.set(key, {
        node: row.namespace,
        device: e.device,
        family,
        type: e.icmpSend.type,
        code: e.icmpSend.code,
        text: icmpText(family, e.icmpSend.type, e.icmpSend.code),
        to,
        count: 1,
      });
    }
  }

  /** Detaches the tracer and summarises what it saw between begin() and end(). Never throws. */
  async stop(): Promise<LabDrops> {
    this.end();
    const tracer = this.tracer;
    if (tracer === undefined) return { available: false, error: 'the tracer was not started' };
    this.tracer = undefined;
    try {
      const ended = await tracer.stop();
      const s = this.session.summary();
      return {
        available: true,
        source: 'mtuscope trace',
        traced: TRACED_WHAT,
        nodes: this.nodes,
        packets: s.packets,
        events: s.events,
        lostEvents: ended.emitted === undefined ? null : ended.lost,
        drops: this.groups(s.deaths),
        icmpErrorsSent: [...this.icmp.values()].sort((a, b) => b.count - a.count || a.node.localeCompare(b.node)),
        attachMs: Math.round(this.attachMs),
        detachMs: Math.round(ended.detachMs),
      };
    } catch (err) {
      tracer.destroySync();
      return { available: false, error: errorMessage(err) };
    }
  }

  /** The session's places of death with what the packets were; losses first, benign ones last. */
  private groups(deaths: readonly DeathGroup[]): LabDropGroup[] {
    return deaths
      .map((d) => ({
        node: d.namespace,
        device: d.device,
        function: d.function,
        reason: d.reason,
        count: d.count,
        meaning: d.meaning,
        icmpErrors: d.icmpErrors,
        benign: benign(d.reason, d.function),
        packets: d.packets ?? {},
      }))
      .sort((x, y) => Number(x.benign) - Number(y.benign) || y.count - x.count);
  }

  /** For failure paths: ends bpftrace at once, nothing reported. Idempotent. */
  destroySync(): void {
    this.tracer?.destroySync();
    this.tracer = undefined;
  }
}

/** The result for a run whose tracer could not start. */
export function unavailableDrops(err: unknown): LabDrops {
  return err instanceof TracerUnavailable ? { available: false, error: err.message, code: err.code } : { available: false, error: errorMessage(err) };
}
