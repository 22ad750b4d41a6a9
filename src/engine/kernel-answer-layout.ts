/**
 * The bytes of the kernel's Packet Too Big answer's maps (native/bpf/src/ptb_answer.bpf.c): the key of a
 * connection, the counts in a test's value and the program's settings. Offsets by the C fields' names, which
 * test/engine/kernel-answer-layout.test.ts checks against the compiled object's BTF. Little-endian where the program
 * reads a number, network order where it compares with packet bytes (ports).
 */
import { ipv4InMapped, parseIpText } from '../packet/address.js';
import type { FamilyMap } from '../packet/ip-family.js';
import type { RateLimits } from './engine-settings.js';
import type { ConnectionEndpoints } from './tracked-connection.js';

export const TEST_KEY = { size: 40, family: 0, client: 4, server: 20, client_port: 36, server_port: 38 } as const;
export const TEST_VALUE = { size: 96, answers: 16, held_back: 20, decisions: 24, starts: 28 } as const;
/** Entries of the ring of decided packets' sequence numbers (STARTS in the program). */
export const DECISION_STARTS = 16;
export const SETTINGS = {
  size: 64,
  answered_mark: 0,
  held_back_mark: 4,
  window_ns: 8,
  client_rate: 16,
  client_burst: 24,
  global_rate: 32,
  global_burst: 40,
  ipv6_client_prefix: 48,
  server_port: 52,
  mtu4: 56,
  mtu6: 60,
} as const;

/** The program's counters (enum outcome), in its order. */
export const KERNEL_ANSWER_OUTCOMES = ['answered', 'heldBack', 'leftShort', 'leftFailed'] as const;
export type KernelAnswerOutcome = (typeof KERNEL_ANSWER_OUTCOMES)[number];

export interface KernelAnswerSettings {
  readonly answeredMark: number;
  readonly heldBackMark: number;
  readonly port: number;
  readonly icmpWindowMs: number;
  readonly icmpRate: RateLimits;
  readonly ipv6ClientPrefix: number;
  readonly icmpMtu: FamilyMap<number>;
}

/** What the kernel did for one test so far: messages sent, and held back by the rate limits. */
export interface KernelAnswerCounts {
  readonly answered: number;
  readonly heldBack: number;
  /** Packets decided (answered or held back), and the client sequence number of the last DECISION_STARTS of them. */
  readonly decisions: number;
  /** The n-th decided packet's sequence number is at [n % DECISION_STARTS]. */
  readonly starts: readonly number[];
}

/** The address as the packet carries it: 4 bytes for IPv4 (also when written as ::ffff:a.b.c.d), 16 for IPv6. */
function addressBytes(text: string, family: 4 | 6): Uint8Array | undefined {
  const parsed = parseIpText(text);
  if (parsed === undefined) return undefined;
  const bytes = family === 4 && parsed.length === 16 ? ipv4InMapped(parsed) : parsed;
  return bytes !== undefined && bytes.length === (family === 4 ? 4 : 16) ? bytes : undefined;
}

/** The key of a connection (IPv4 addresses in the first 4 of 16 bytes); undefined when its addresses are not of its family. */
export function testKey(e: ConnectionEndpoints): Uint8Array | undefined {
  const client = addressBytes(e.clientAddress, e.family);
  const server = addressBytes(e.serverAddress, e.family);
  if (client === undefined || server === undefined) return undefined;
  const key = new Uint8Array(TEST_KEY.size);
  const view = new DataView(key.buffer);
  key[TEST_KEY.family] = e.family;
  key.set(client, TEST_KEY.client);
  key.set(server, TEST_KEY.server);
  view.setUint16(TEST_KEY.client_port, e.clientPort);
  view.setUint16(TEST_KEY.server_port, e.serverPort);
  return key;
}

/** The counts in a test's value; undefined for bytes of another size. */
export function answerCounts(value: Uint8Array): KernelAnswerCounts | undefined {
  if (value.length !== TEST_VALUE.size) return undefined;
  const view = new DataView(value.buffer, value.byteOffset, value.length);
  const starts = Array.from({ length: DECISION_STARTS }, (_, i) => view.getUint32(TEST_VALUE.starts + 4 * i, true));
  return {
    answered: view.getUint32(TEST_VALUE.answers, true),
    heldBack: view.getUint32(TEST_VALUE.held_back, true),
    decisions: view.getUint32(TEST_VALUE.decisions, true),
    starts,
  };
}

/** Tokens per second and burst as the program counts them: whole messages (the engine's limits are whole numbers). */
function wholeTokens(n: number): bigint {
  return BigInt(Math.max(0, Math.round(n)));
}

export function answerSettings(s: KernelAnswerSettings): Uint8Array {
  const bytes = new Uint8Array(SETTINGS.size);
  const view = new DataView(bytes.buffer);
  view.setUint32(SETTINGS.answered_mark, s.answeredMark, true);
  view.setUint32(SETTINGS.held_back_mark, s.heldBackMark, true);
  view.setBigUint64(SETTINGS.window_ns, BigInt(Math.round(s.icmpWindowMs * 1e6)), true);
  view.setBigUint64(SETTINGS.client_rate, wholeTokens(s.icmpRate.perClient.perSecond), true);
  view.setBigUint64(SETTINGS.client_burst, wholeTokens(s.icmpRate.perClient.burst), true);
  view.setBigUint64(SETTINGS.global_rate, wholeTokens(s.icmpRate.global.perSecond), true);
  view.setBigUint64(SETTINGS.global_burst, wholeTokens(s.icmpRate.global.burst), true);
  view.setUint32(SETTINGS.ipv6_client_prefix, s.ipv6ClientPrefix, true);
  view.setUint16(SETTINGS.server_port, s.port);
  view.setUint32(SETTINGS.mtu4, s.icmpMtu[4], true);
  view.setUint32(SETTINGS.mtu6, s.icmpMtu[6], true);
  return bytes;
}
