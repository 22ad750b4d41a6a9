/**
 * What a middlebox trace measured, hop by hop: the shape the trace (middlebox-trace.ts) fills in, the findings
 * (middlebox-findings.ts) read and `--json` carries.
 */
import type { IpFamily } from '../packet/ip-family.js';
import type { QuoteDiff } from './quote-diff.js';

/** What answered a probe: an ICMP error quoting it, or the destination itself. */
export type HopReplyKind = 'time-exceeded' | 'destination-unreachable' | 'packet-too-big' | 'parameter-problem' | 'syn-ack' | 'rst';

export interface HopReply {
  readonly kind: HopReplyKind;
  /** The address the reply came from. */
  readonly from: string;
  /** ICMP code of an error. */
  readonly code?: number;
  readonly rttMs: number;
  /** The probe compared with its quote, for ICMP errors whose quote could be read. */
  readonly diff?: QuoteDiff;
  /** Why an ICMP error's quote could not be compared. */
  readonly quoteError?: string;
}

export interface HopRecord {
  /** The probes' TTL (hop limit), which is the hop's number: hop 1 is the first router. */
  readonly hop: number;
  readonly probesSent: number;
  readonly replies: readonly HopReply[];
}

/** The TCP SYN sent at every TTL, as the report describes it. */
export interface ProbeDescription {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly mss: number;
  readonly windowScale?: number;
  readonly sackPermitted: boolean;
  readonly timestamps: boolean;
  readonly dscp: number;
  readonly ecn: number;
  /** Flags as sent (SYN, plus ECE and CWR for an ECN-setup SYN). */
  readonly flags: number;
  readonly bytes: number;
}

/** Why probing stopped: the destination answered, a router refused the probe (Destination Unreachable), no answer by `maxHops`, or the time limit. */
export type TraceEnd = 'destination' | 'unreachable' | 'max-hops' | 'time-limit';

export interface MiddleboxTraceResult {
  readonly family: IpFamily;
  readonly source: string;
  readonly target: string;
  readonly probe: ProbeDescription;
  readonly hops: readonly HopRecord[];
  /** The hop at which the destination answered (SYN-ACK, RST or its own ICMP error), when it did. */
  readonly destinationHop?: number;
  readonly end: TraceEnd;
  readonly durationMs: number;
  readonly probesSent: number;
}

/** True when the reply came from the target itself (its SYN-ACK or RST, or an ICMP error it sent). */
export function fromDestination(reply: HopReply, target: string): boolean {
  return reply.kind === 'syn-ack' || reply.kind === 'rst' || (reply.kind !== 'time-exceeded' && reply.from === target);
}
