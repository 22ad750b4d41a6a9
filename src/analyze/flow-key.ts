import type { FlowRef } from './finding.js';
import { protocolName, type PacketFacts } from './packet-facts.js';

/** The flow of a packet's innermost IP header and its ports, oriented as the packet travels. */
export function flowOf(p: PacketFacts): FlowRef | undefined {
  const ip = p.inner;
  if (ip === undefined) return undefined;
  const protocol = protocolName(ip.protocol);
  const ports = p.tcp ?? p.udp;
  if (ports !== undefined) return { family: ip.family, protocol, src: ip.src, srcPort: ports.srcPort, dst: ip.dst, dstPort: ports.dstPort };
  return { family: ip.family, protocol, src: ip.src, dst: ip.dst };
}

/** The same flow seen from the other end. */
export function reversed(flow: FlowRef): FlowRef {
  const out: { -readonly [K in keyof FlowRef]: FlowRef[K] } = { family: flow.family, protocol: flow.protocol, src: flow.dst, dst: flow.src };
  if (flow.dstPort !== undefined) out.srcPort = flow.dstPort;
  if (flow.srcPort !== undefined) out.dstPort = flow.srcPort;
  return out;
}

/** One direction of a flow, as a map key. */
export function directionKey(flow: FlowRef): string {
  return `${flow.protocol} ${flow.src} ${flow.srcPort ?? ''} ${flow.dst} ${flow.dstPort ?? ''}`;
}

/** Both directions of a flow under one key (the lower endpoint first, as text). */
export function conversationKey(flow: FlowRef): string {
  const a = `${flow.src} ${flow.srcPort ?? ''}`;
  const b = `${flow.dst} ${flow.dstPort ?? ''}`;
  return a <= b ? `${flow.protocol} ${a} ${b}` : `${flow.protocol} ${b} ${a}`;
}
