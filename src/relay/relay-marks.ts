/**
 * The firewall marks and DSCP the relay uses. Marks live under one mask (bits 16-24), so they coexist with whatever
 * else marks packets on the host (the checker's engine uses 0x6d74, below the mask): rules match and set only these
 * bits.
 *
 * Bits 16-23 are what is learned (the connection mark, restored onto a related Packet Too Big):
 * - 1..0x7f, peer i+1: the flow left through the interface of peer i, the only peer behind it;
 * - 0x80..0xfe: the flow left through an interface that several peers sit behind (the owner is one of them);
 * - 0xff: the relay's own injected packets (a peer's message handed to the local kernel), never queued again.
 * Bit 24 is what routes: only a packet carrying it and a peer value is steered by that peer's policy route. So a
 * restored connection mark alone changes nothing; the relay decides, per message, whether to steer it.
 */
export const LEARNED_MARK_MASK = 0x00ff_0000;
export const ROUTE_BIT = 0x0100_0000;
export const RELAY_MARK_MASK = LEARNED_MARK_MASK | ROUTE_BIT;
const SHIFT = 16;
export const MAX_PEERS = 0x7f;
const SHARED_BASE = 0x80;
export const MAX_SHARED_INTERFACES = 0xfe - SHARED_BASE + 1;
export const INJECTED_MARK = 0xff << SHIFT;

/** The connection mark of a flow that left toward peer `peerIndex` (alone behind its interface). */
export function peerMark(peerIndex: number): number {
  return (peerIndex + 1) << SHIFT;
}

/** The packet mark that steers a packet to peer `peerIndex` through its policy route. */
export function peerRouteMark(peerIndex: number): number {
  return (ROUTE_BIT | peerMark(peerIndex)) >>> 0;
}

export function sharedInterfaceMark(interfaceIndex: number): number {
  return (SHARED_BASE + interfaceIndex) << SHIFT;
}

/** What the relay's bits of a mark say. */
export type MarkMeaning =
  | { readonly kind: 'none' }
  | { readonly kind: 'peer'; readonly peerIndex: number }
  | { readonly kind: 'shared'; readonly interfaceIndex: number }
  | { readonly kind: 'injected' };

export function markMeaning(mark: number): MarkMeaning {
  const v = ((mark & LEARNED_MARK_MASK) >>> SHIFT) & 0xff;
  if (v === 0) return { kind: 'none' };
  if (v === 0xff) return { kind: 'injected' };
  if (v >= SHARED_BASE) return { kind: 'shared', interfaceIndex: v - SHARED_BASE };
  return { kind: 'peer', peerIndex: v - 1 };
}

/**
 * Bits 25-27: the outcome of the kernel steering's limits (relay_steer.bpf.c) for a message it leaves to user space,
 * so that the relay reports it and leaves it to the kernel as if its own limits had refused it (they were not asked:
 * one budget per router, flow and in total, kept in the kernel).
 */
export const KERNEL_OUTCOME_MASK = 0x0e00_0000;
const KERNEL_OUTCOME_SHIFT = 25;
const KERNEL_OUTCOMES = [undefined, 'duplicate', 'router-limit', 'flow-limit', 'total-limit'] as const;
export type KernelLimitOutcome = Exclude<(typeof KERNEL_OUTCOMES)[number], undefined>;

/** The kernel's limit outcome a mark carries, if any. */
export function kernelLimitOutcome(mark: number): KernelLimitOutcome | undefined {
  return KERNEL_OUTCOMES[(mark & KERNEL_OUTCOME_MASK) >>> KERNEL_OUTCOME_SHIFT];
}

/** The mark with the relay's bits replaced by `ours` (other bits kept). */
export function withRelayBits(mark: number, ours: number): number {
  return ((mark & ~RELAY_MARK_MASK) | (ours & RELAY_MARK_MASK)) >>> 0;
}

export function markText(mark: number, mask: number): string {
  return `0x${mark.toString(16)}/0x${mask.toString(16)}`;
}

/**
 * DSCP of a copy the relay made (RFC 2474 pool 2, xxxx11, for local use): a relay never handles a message carrying it
 * again, so relays on a router and on its servers can run together without passing copies back and forth.
 */
export const DEFAULT_RELAYED_DSCP = 0x07;

/** First policy routing table of the relay (one per peer) and the preference of its `ip rule`s. */
export const ROUTE_TABLE_BASE = 7360;
export const RULE_PREFERENCE_BASE = 7360;
