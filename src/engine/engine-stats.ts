import type { LatencyHistogram } from './latency-samples.js';
import type { EngineCounters, PacketEngine } from './packet-engine.js';
import type { KernelAnswerOutcome } from './kernel-answer-layout.js';

/** The reason of a kernel answer the service was told not to use. */
export const KERNEL_ANSWER_TURNED_OFF = 'turned off (--no-kernel-answer)';

/** Where the engine's /icmp Packet Too Big messages come from (kernel-answer.ts). */
export type KernelAnswerStatus =
  | { readonly inKernel: true; readonly interfaces: readonly string[]; readonly outcomes: Readonly<Record<KernelAnswerOutcome, number>> }
  | { readonly inKernel: false; readonly reason: string };

export interface LatencySummary {
  readonly p50: number | null;
  readonly p99: number | null;
  readonly samples: number;
  /** Every duration since the engine started, for /metrics. */
  readonly histogram: LatencyHistogram;
}

/** The engine's counters and latencies, as /api/stats shows them. */
export interface EngineStats {
  readonly pid: number;
  readonly counters: EngineCounters;
  readonly connections: number;
  /** Time to decide one queued packet (ms). */
  readonly decisionLatencyMs: LatencySummary;
  /** From an oversized packet entering the engine to its Packet Too Big handed to the kernel (ms). */
  readonly packetTooBigLatencyMs: LatencySummary;
  readonly lastMalformed: string | null;
  readonly kernelAnswer: KernelAnswerStatus;
}

export function engineStats(engine: PacketEngine, kernelAnswer: KernelAnswerStatus): EngineStats {
  const summary = (s: PacketEngine['decisionLatency']): LatencySummary => ({
    p50: s.percentile(50),
    p99: s.percentile(99),
    samples: s.size,
    histogram: s.histogram(),
  });
  return {
    pid: process.pid,
    counters: { ...engine.counters },
    connections: engine.connectionCount,
    decisionLatencyMs: summary(engine.decisionLatency),
    packetTooBigLatencyMs: summary(engine.packetTooBigLatency),
    lastMalformed: engine.lastMalformed ?? null,
    kernelAnswer,
  };
}
