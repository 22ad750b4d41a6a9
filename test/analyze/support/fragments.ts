/** Runs IP packets through the fragment detector alone and returns its findings, as `mtuscope analyze` would at the end. */
import { CLEAN_CAPTURE } from '../../../src/analyze/capture-conditions.js';
import { type AnalyzerLimits, DEFAULT_LIMITS } from '../../../src/analyze/detector.js';
import type { Finding } from '../../../src/analyze/finding.js';
import { FragmentDetector } from '../../../src/analyze/fragment-detector.js';
import { ipFacts, type RecordOptions, T0_US } from './facts.js';

export interface Sent {
  readonly ip: Uint8Array;
  /** Milliseconds after T0. */
  readonly atMs: number;
  readonly options?: RecordOptions;
}

export function at(atMs: number, ip: Uint8Array, options?: RecordOptions): Sent {
  return { ip, atMs, options };
}

export interface Run {
  readonly detector: FragmentDetector;
  readonly findings: Finding[];
}

/** Frames are numbered from 1 in the order given; the capture "ends" at `endMs` (default: the last packet). */
export function runFragments(packets: readonly Sent[], opts: { endMs?: number; limits?: AnalyzerLimits; final?: boolean } = {}): Run {
  const detector = new FragmentDetector(opts.limits ?? DEFAULT_LIMITS);
  let last = T0_US;
  packets.forEach((s, i) => {
    const timeUs = T0_US + Math.round(s.atMs * 1000);
    last = timeUs;
    detector.observe(ipFacts(s.ip, i + 1, { ...s.options, timeUs }));
  });
  const nowUs = opts.endMs === undefined ? last : T0_US + opts.endMs * 1000;
  const findings = detector.report({ nowUs, conditions: CLEAN_CAPTURE, final: opts.final ?? true });
  return { detector, findings };
}

export function kinds(findings: readonly Finding[]): string[] {
  return findings.map((f) => f.kind).sort();
}

export function frames(finding: Finding | undefined): number[] {
  return (finding?.evidence ?? []).map((e) => e.frame);
}
