import type { Confidence } from './finding.js';

/** What one capture interface showed about the capture itself (counts of packets). */
export interface InterfaceConditions {
  readonly packets: number;
  /** IP packets longer than the link carries (GSO/TSO on the sender, GRO on the receiver). */
  readonly superPackets: number;
  /** IPv4 total length 0 (TSO). */
  readonly zeroIpLength: number;
  /** Transport checksums left to the NIC. */
  readonly checksumOffload: number;
  /** Packets cut by the snaplen. */
  readonly snapped: number;
  /** TCP data acknowledged that the capture never saw: the capture (not the network) lost packets. */
  readonly missedSegments: number;
}

/** What a caveat could make look like a problem. */
export type CaveatTopic =
  /** Segments larger than an MSS or an MTU (super-packets explain them). */
  | 'oversized'
  /** Retransmissions, packets that seem lost, fragments that seem missing (capture loss explains them). */
  | 'loss'
  /** Lengths, quotes and payloads (snaplen cuts them). */
  | 'contents'
  /** Transport checksums (checksum offload leaves them unfinished in a capture on the sending host). */
  | 'checksums';

export interface CaptureConditions {
  of(interfaceName: string | undefined): InterfaceConditions;
  /** One phrase per condition of that interface that could produce false evidence on `topic`, e.g. "the capture
   * holds 12 TSO/GRO super-packets (offloads on the capture host)". Empty: nothing known to distort it. */
  caveats(interfaceName: string | undefined, topic: CaveatTopic): string[];
}

const ORDER: readonly Confidence[] = ['high', 'medium', 'low'];

/** One step lower per caveat, never below low. */
export function lowered(confidence: Confidence, caveats: readonly string[]): Confidence {
  const index = Math.min(ORDER.length - 1, ORDER.indexOf(confidence) + caveats.length);
  return ORDER[index]!;
}

export const NO_CONDITIONS: InterfaceConditions = Object.freeze({
  packets: 0,
  superPackets: 0,
  zeroIpLength: 0,
  checksumOffload: 0,
  snapped: 0,
  missedSegments: 0,
});

/** Conditions of a capture known to be clean (tests of detectors on their own). */
export const CLEAN_CAPTURE: CaptureConditions = { of: () => NO_CONDITIONS, caveats: () => [] };
