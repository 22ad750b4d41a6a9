/** Packets for detector tests: real IP bytes (built with the project's emitters) wrapped as captured records. */
import { capturedPacket, type CapturedPacket } from '../../../src/capture/captured-packet.js';
import { type FactsOptions, type PacketFacts, packetFacts } from '../../../src/analyze/packet-facts.js';
import { LinkType } from '../../../src/packet/link-type.js';

export interface RecordOptions {
  /** Microseconds since the epoch; default 1_700_000_000_000_000 + frame * 1000. */
  readonly timeUs?: number;
  readonly interfaceName?: string;
  readonly interfaceId?: number;
  /** Wire length when the capture kept less (snaplen). */
  readonly originalLength?: number;
  /** Decode options (tunnel ports) and link MTU, as the analyze command passes them. */
  readonly facts?: FactsOptions;
}

export const T0_US = 1_700_000_000_000_000;

/** An IP packet as a raw-IP capture record. */
export function ipRecord(ip: Uint8Array, frame: number, options: RecordOptions = {}): CapturedPacket {
  const timeUs = options.timeUs ?? T0_US + frame * 1000;
  return capturedPacket(LinkType.Raw, options.interfaceId ?? 0, BigInt(timeUs) * 1000n, options.originalLength ?? ip.length, ip, options.interfaceName);
}

/** The facts of an IP packet as frame `frame` of a capture. */
export function ipFacts(ip: Uint8Array, frame: number, options: RecordOptions = {}): PacketFacts {
  return packetFacts(ipRecord(ip, frame, options), frame, { ...options.facts, pcapng: options.interfaceName !== undefined });
}
