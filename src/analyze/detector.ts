import type { CaptureConditions } from './capture-conditions.js';
import type { Finding } from './finding.js';
import type { PacketFacts } from './packet-facts.js';

/** What a detector had to forget to stay within its memory bound. */
export interface Eviction {
  /** The table, in words: "TCP flows", "pending fragment datagrams". */
  readonly table: string;
  readonly evicted: number;
  readonly capacity: number;
}

export interface ReportContext {
  /** Time of the last packet seen (microseconds since the epoch): what "still pending" is measured against. */
  readonly nowUs: number;
  /** What the capture itself may have hidden or distorted, per interface; detectors lower confidence with it. */
  readonly conditions: CaptureConditions;
  /** The input ended (false while a live capture is still running: pending things may yet complete). */
  readonly final: boolean;
}

/**
 * One kind of analysis over the packets of one capture. observe() sees every packet in capture order and must cost
 * little and keep bounded state; report() may be called more than once (a live capture reports as it goes) and
 * returns every finding so far, each built only from packets observed.
 */
export interface Detector {
  observe(packet: PacketFacts): void;
  report(context: ReportContext): Finding[];
  evictions(): Eviction[];
}

/** Limits every detector sizes its tables from. */
export interface AnalyzerLimits {
  /** Flows (each direction-independent conversation) any one detector tracks at once. */
  readonly maxFlows: number;
  /** Bytes of fragments held for reassembly. */
  readonly fragmentMemory: number;
  /** Findings kept per kind (a flood of one kind must not exhaust memory); the rest are counted. */
  readonly maxFindingsPerKind: number;
}

/**
 * maxFlows: every detector keeps a table of up to this many (about 4 KB per TCP and UDP flow across all of them), and
 * a capture of ever new flows evicts all the time; 10,000 keeps the peak RSS of `mtuscope analyze` on 2,000,000 unique
 * flows under 200 MiB (bench/analyze). Eviction is least recently seen first, so the flows still active stay.
 */
export const DEFAULT_LIMITS: AnalyzerLimits = { maxFlows: 10_000, fragmentMemory: 16 * 1024 * 1024, maxFindingsPerKind: 1000 };
