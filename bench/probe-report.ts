/**
 * What a bench/probe run measured, and its printout: per family the medians of our time to a complete diagnosis and of
 * tracepath's time on the same path, their ratio against the target, the probes we sent, and tracepath's output.
 */
import type { IpFamily } from '../src/packet/ip-family.js';

/** Our full diagnosis in under this many times tracepath's time (the issue's Performance section). */
export const TARGET_RATIO = 2;

/** One run of `mtuscope probe` in the bench. */
export interface OurRun {
  readonly ms: number;
  readonly exitCode: number | null;
  /** Probes of the hop trace (and search); `partProbes`: of the parts after it (middlebox detection). */
  readonly traceProbes: number;
  readonly partProbes: number;
  /** The diagnosis is the expected one: one black hole after the right hop, the exact path MTU. */
  readonly complete: boolean;
  /** What was found, in a few words (printed when not complete). */
  readonly found: string;
}

export interface TracepathRun {
  readonly ms: number;
  readonly output: string;
  readonly resumePmtu?: number;
}

export interface FamilyFigures {
  readonly family: IpFamily;
  readonly ours: readonly OurRun[];
  readonly tracepath: readonly TracepathRun[];
  /** One run of ours with the default parts (the cooperating-server part waits for hellos nobody answers). */
  readonly withServerPart?: OurRun;
}

export interface ProbeBenchRun {
  readonly routers: number;
  readonly blackHoleHop: number;
  readonly linkMtu: number;
  readonly rateLimits: string;
  readonly tracepathMaxHops: number;
  readonly ourArgs: readonly string[];
  readonly families: readonly FamilyFigures[];
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface FamilySummary {
  readonly family: IpFamily;
  readonly oursMs?: number;
  readonly tracepathMs?: number;
  /** ours / tracepath, of the medians. */
  readonly ratio?: number;
  readonly traceProbes?: number;
  readonly partProbes?: number;
  readonly completeRuns: number;
  readonly runs: number;
  /** Every run complete and the ratio under the target. */
  readonly met: boolean;
}

export function summarize(f: FamilyFigures): FamilySummary {
  const oursMs = median(f.ours.map((r) => r.ms));
  const tracepathMs = median(f.tracepath.map((r) => r.ms));
  const ratio = oursMs !== undefined && tracepathMs !== undefined && tracepathMs > 0 ? oursMs / tracepathMs : undefined;
  const traceProbes = median(f.ours.map((r) => r.traceProbes));
  const partProbes = median(f.ours.map((r) => r.partProbes));
  const completeRuns = f.ours.filter((r) => r.complete).length;
  return {
    family: f.family,
    ...(oursMs === undefined ? {} : { oursMs }),
    ...(tracepathMs === undefined ? {} : { tracepathMs }),
    ...(ratio === undefined ? {} : { ratio }),
    ...(traceProbes === undefined ? {} : { traceProbes }),
    ...(partProbes === undefined ? {} : { partProbes }),
    completeRuns,
    runs: f.ours.length,
    met: f.ours.length > 0 && completeRuns === f.ours.length && ratio !== undefined && ratio < TARGET_RATIO,
  };
}

const s1 = (ms: number | undefined): string => (ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`);

/** The printout; `ok` is true when every family met the target. */
export function formatReport(run: ProbeBenchRun): { text: string; ok: boolean } {
  const lines: string[] = [];
  lines.push(
    `bench/probe: ${run.routers} routers, a black hole after hop ${run.blackHoleHop} (its next link ${run.linkMtu} bytes, its own Packet Too Big dropped), ` +
      `ICMP rate limits ${run.rateLimits}`,
  );
  lines.push(`ours: mtuscope probe ${run.ourArgs.join(' ')} TARGET; tracepath: tracepath -n -m ${run.tracepathMaxHops} TARGET`);
  lines.push('');
  lines.push('family  ours (median)  tracepath (median)  ours/tracepath  probes (trace + parts)  complete diagnoses  target <' + `${TARGET_RATIO}x`);
  const summaries = run.families.map(summarize);
  for (const s of summaries) {
    const ratio = s.ratio === undefined ? '-' : `${s.ratio.toFixed(2)}x`;
    const probes = s.traceProbes === undefined ? '-' : `${s.traceProbes} + ${s.partProbes ?? 0}`;
    lines.push(
      `IPv${s.family}    ${s1(s.oursMs).padStart(13)}  ${s1(s.tracepathMs).padStart(18)}  ${ratio.padStart(14)}  ${probes.padStart(22)}  ` +
        `${`${s.completeRuns}/${s.runs}`.padStart(18)}  ${s.met ? 'met' : 'MISSED'}`,
    );
  }
  for (const f of run.families) {
    lines.push('');
    lines.push(`IPv${f.family} runs: ours ${f.ours.map((r) => `${s1(r.ms)} (exit ${r.exitCode}, ${r.traceProbes}+${r.partProbes} probes)`).join(', ')}`);
    lines.push(`IPv${f.family} runs: tracepath ${f.tracepath.map((r) => `${s1(r.ms)} (pmtu ${r.resumePmtu ?? '-'})`).join(', ')}`);
    for (const r of f.ours) if (!r.complete) lines.push(`IPv${f.family} incomplete diagnosis: ${r.found}`);
    if (f.withServerPart !== undefined) {
      const w = f.withServerPart;
      lines.push(`IPv${f.family} with the default parts (cooperating server included, none answering): ${s1(w.ms)}, ${w.traceProbes}+${w.partProbes} probes, ${w.complete ? 'complete' : `incomplete: ${w.found}`}`);
    }
    const first = f.tracepath[0];
    if (first !== undefined) {
      lines.push(`IPv${f.family} tracepath output (first run, verbatim):`);
      lines.push(first.output.trimEnd());
    }
  }
  const ok = summaries.length > 0 && summaries.every((s) => s.met);
  lines.push('');
  lines.push(ok ? `target met: every diagnosis complete, under ${TARGET_RATIO}x tracepath's time` : `target MISSED (see above)`);
  return { text: `${lines.join('\n')}\n`, ok };
}
