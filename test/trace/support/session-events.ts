/**
 * Hand-made tracer events for the session tests: TraceEvents as parseTraceLine makes them, with the packet decoded
 * from emitted bytes (decodeTracedPacket), so the session sees the tuples, ICMP quotes and tunnels the kernel's
 * packets would give it.
 */
import { decodeTracedPacket, type TraceEvent, type TraceEventKind, type TraceMatch } from '../../../src/trace/trace-event.js';
import type { TraceContext } from '../../../src/trace/trace-session.js';

/** Drop reason numbers of a made-up kernel (the session only ever asks the context for their names). */
export const REASONS: Readonly<Record<number, string>> = {
  2: 'NOT_SPECIFIED',
  3: 'NO_SOCKET',
  5: 'SOCKET_CLOSE',
  12: 'NETFILTER_DROP',
  46: 'PKT_TOO_BIG',
  61: 'SKB_GSO_SEG',
};
export const reason = (name: string): number => Number(Object.entries(REASONS).find(([, n]) => n === name)![0]);

export const NS = { client: 4026532101, lb: 4026532102, server: 4026532103, r1: 4026532104, fw: 4026532105, other: 4026532999 } as const;
const NAMES: Readonly<Record<number, string>> = {
  [NS.client]: 'encap/client',
  [NS.lb]: 'encap/lb',
  [NS.server]: 'encap/server',
  [NS.r1]: 'lab/r1',
  [NS.fw]: 'lab/fw',
};

export const CONTEXT: TraceContext = {
  reasonName: (n) => REASONS[n] ?? String(n),
  namespaceLabel: (inode) => NAMES[inode] ?? `netns:${inode}`,
};

export interface EventOptions {
  readonly netns?: number;
  readonly device?: string;
  readonly mtu?: number;
  readonly match?: TraceMatch;
  /** A followed event that matches the filter here too. */
  readonly matchesHere?: boolean;
  readonly reason?: string;
  readonly location?: string;
  readonly icmpSend?: { readonly type: number; readonly code: number };
  readonly rc?: number;
}

/** An event at `ms` milliseconds of skb `skb`; `packet` is the IP packet's bytes (the first 96 are decoded). */
export function ev(kind: TraceEventKind, ms: number, skb: string, packet: Uint8Array | undefined, o: EventOptions = {}): TraceEvent {
  const decoded = packet === undefined ? undefined : decodeTracedPacket(packet.subarray(0, 96));
  return {
    kind,
    timeNs: BigInt(Math.round(ms * 1e6)),
    cpu: 0,
    skb,
    netns: o.netns ?? 0,
    ifindex: o.device === undefined ? 0 : 3,
    device: o.device ?? '',
    skbLength: packet?.length ?? 0,
    mtu: o.mtu ?? 0,
    match: o.match ?? 'followed',
    ...(o.matchesHere === true ? { matchesHere: true } : {}),
    mark: 0,
    ...(decoded === undefined ? {} : { packet: decoded }),
    ...(o.reason === undefined ? {} : { reason: reason(o.reason) }),
    ...(o.location === undefined ? {} : { location: o.location }),
    ...(o.icmpSend === undefined ? {} : { icmpSend: o.icmpSend }),
    ...(o.rc === undefined ? {} : { rc: o.rc }),
  };
}
