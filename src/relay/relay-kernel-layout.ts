/**
 * The bytes of the relay's kernel steering maps (native/bpf/src/relay_steer.bpf.c): its settings, a served prefix,
 * the peers behind a shared interface, and the record of a message it relayed. Offsets by the C fields' names, which
 * test/relay/relay-kernel-layout.test.ts checks against the compiled object's BTF. Little-endian where the program
 * reads a number, network order where it compares with packet bytes (addresses, ports).
 */
import { formatIp } from '../packet/address.js';
import type { Cidr } from '../packet/cidr.js';
import type { IpFamily } from '../packet/ip-family.js';
import type { RelayLimitSettings } from './relay-limits.js';

export const STEER_SETTINGS = {
  size: 112,
  relayed_dscp: 0,
  max_mtu4: 4,
  max_mtu6: 8,
  seed_a: 12,
  seed_b: 16,
  dedup_ns: 24,
  router_rate: 32,
  router_burst: 40,
  flow_rate: 48,
  flow_burst: 56,
  total_rate: 64,
  total_burst: 72,
  peers4: 80,
  peers6: 96,
} as const;
export const SERVED_KEY = { size: 20, prefixlen: 0, address: 4 } as const;
/** A peer's entry (by its index): where its copies go. */
export const STEER_PEER = { size: 20, family: 0, address: 4 } as const;
export const STEER_EVENT = {
  size: 72,
  ns: 0,
  family: 8,
  method: 9,
  protocol: 10,
  index: 11,
  mtu: 12,
  served_port: 16,
  peer_port: 18,
  copies: 20,
  router: 24,
  served: 40,
  peer: 56,
} as const;
/** The shared interfaces' table: one entry per interface index (MAX_SHARED_INTERFACES in relay-marks.ts). */
export const SHARED_ENTRIES = 127;
/** Peers the program can name: bit i of a 128-bit set (peer 127 has no mark of its own in relay-marks.ts). */
export const STEER_PEERS = 127;

/** The program's counters (enum counter), in its order. */
export const STEER_COUNTERS = ['relayedOwner', 'relayedOwnerUnknown', 'relayedSharedInterface', 'copies', 'limited', 'leftToUserSpace', 'eventsLost', 'copiesFailed', 'copiesForwarded'] as const;
export type SteerCounter = (typeof STEER_COUNTERS)[number];
export type SteerCounters = Record<SteerCounter, number>;

export interface SteerSettings {
  readonly relayedDscp: number;
  /** The largest MTU a message may report, per family (relay-verdict.ts's maxMtu, 65535 when unset). */
  readonly maxMtu: { readonly 4: number; readonly 6: number };
  readonly limits: RelayLimitSettings;
  /** Indices of the peers of each family. */
  readonly peers: { readonly 4: readonly number[]; readonly 6: readonly number[] };
  /** The digest's seeds: random per run, so that no sender can make its message collide with another's. */
  readonly seeds: readonly [number, number];
}

const NS_PER_MS = 1_000_000n;

/** Bit i set for each peer index i (0..126), as the program's 128-bit sets: two little-endian 64-bit words. */
export function peerSet(indices: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(16);
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= STEER_PEERS) throw new RangeError(`peer index ${i} is not one the kernel steering can name (0..${STEER_PEERS - 1})`);
    bytes[i >> 3]! |= 1 << (i & 7);
  }
  return bytes;
}

export function steerSettings(s: SteerSettings): Uint8Array {
  const bytes = new Uint8Array(STEER_SETTINGS.size);
  const v = new DataView(bytes.buffer);
  v.setUint32(STEER_SETTINGS.relayed_dscp, s.relayedDscp, true);
  v.setUint32(STEER_SETTINGS.max_mtu4, s.maxMtu[4], true);
  v.setUint32(STEER_SETTINGS.max_mtu6, s.maxMtu[6], true);
  v.setUint32(STEER_SETTINGS.seed_a, s.seeds[0] >>> 0, true);
  v.setUint32(STEER_SETTINGS.seed_b, s.seeds[1] >>> 0, true);
  v.setBigUint64(STEER_SETTINGS.dedup_ns, BigInt(Math.round(s.limits.dedupMs)) * NS_PER_MS, true);
  const rate = (offset: number, perSecond: number): void => v.setBigUint64(offset, BigInt(Math.ceil(perSecond)), true);
  rate(STEER_SETTINGS.router_rate, s.limits.perRouter.perSecond);
  rate(STEER_SETTINGS.router_burst, s.limits.perRouter.burst);
  rate(STEER_SETTINGS.flow_rate, s.limits.perFlow.perSecond);
  rate(STEER_SETTINGS.flow_burst, s.limits.perFlow.burst);
  rate(STEER_SETTINGS.total_rate, s.limits.total.perSecond);
  rate(STEER_SETTINGS.total_burst, s.limits.total.burst);
  bytes.set(peerSet(s.peers[4]), STEER_SETTINGS.peers4);
  bytes.set(peerSet(s.peers[6]), STEER_SETTINGS.peers6);
  return bytes;
}

/** The LPM trie key of a served prefix (one trie per family). */
export function servedKey(c: Cidr): Uint8Array {
  const bytes = new Uint8Array(SERVED_KEY.size);
  new DataView(bytes.buffer).setUint32(SERVED_KEY.prefixlen, c.prefixLength, true);
  bytes.set(c.address, SERVED_KEY.address);
  return bytes;
}

/** A peer's entry: its family and address as the packet carries it (IPv4 in the first 4 bytes). */
export function steerPeer(family: IpFamily, address: Uint8Array): Uint8Array {
  if (address.length !== (family === 4 ? 4 : 16)) throw new RangeError(`an IPv${family} address has ${family === 4 ? 4 : 16} bytes, not ${address.length}`);
  const bytes = new Uint8Array(STEER_PEER.size);
  bytes[STEER_PEER.family] = family;
  bytes.set(address, STEER_PEER.address);
  return bytes;
}

/** How the program relayed a message (the event's method byte). */
export type SteerMethod = 'owner' | 'owner-unknown' | 'shared-interface';
const METHODS: readonly SteerMethod[] = ['owner', 'owner-unknown', 'shared-interface'];

/** One message the kernel relayed. */
export interface SteerEvent {
  readonly family: IpFamily;
  readonly method: SteerMethod;
  /** `owner`: the peer's index; `shared-interface`: the interface's. */
  readonly index: number;
  readonly copies: number;
  readonly mtu: number;
  readonly protocol: number;
  readonly router: string;
  readonly served: string;
  readonly servedPort: number;
  readonly peer: string;
  readonly peerPort: number;
}

/** A record of the program's ring buffer; undefined for one of another size or with values it never writes. */
export function parseSteerEvent(record: Uint8Array): SteerEvent | undefined {
  if (record.length !== STEER_EVENT.size) return undefined;
  const v = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const family = record[STEER_EVENT.family];
  const method = METHODS[record[STEER_EVENT.method]!];
  if ((family !== 4 && family !== 6) || method === undefined) return undefined;
  const address = (offset: number): string => formatIp(record.subarray(offset, offset + (family === 4 ? 4 : 16)));
  return {
    family,
    method,
    index: record[STEER_EVENT.index]!,
    copies: v.getUint32(STEER_EVENT.copies, true),
    mtu: v.getUint32(STEER_EVENT.mtu, true),
    protocol: record[STEER_EVENT.protocol]!,
    router: address(STEER_EVENT.router),
    served: address(STEER_EVENT.served),
    servedPort: v.getUint16(STEER_EVENT.served_port, false),
    peer: address(STEER_EVENT.peer),
    peerPort: v.getUint16(STEER_EVENT.peer_port, false),
  };
}
