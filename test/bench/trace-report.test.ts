import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Iperf3Result } from '../../bench/iperf3-result.js';
import {
  bestLosslessStep,
  eventsPerSecond,
  formatTraceReport,
  median,
  startStopTimes,
  summarizePhase,
  traceProblems,
  traceReportJson,
  traceTargets,
  type Condition,
  type EventStep,
  type StreamRun,
  type ThroughputPhase,
  type TraceBenchRun,
  type TracerFigures,
} from '../../bench/trace-report.js';

function stream(gbit: number, seconds = 3): Iperf3Result {
  const bits = gbit * 1e9;
  return { receivedBitsPerSecond: bits, receivedBytes: (bits * seconds) / 8, seconds, sentBitsPerSecond: bits, retransmits: 0, mss: 1448 };
}

function tracer(over: Partial<TracerFigures> = {}): TracerFigures {
  return { program: 'timeline', attachMs: 1300, detachMs: 600, emitted: 0, received: 0, lost: 0, malformed: 0, exitCode: 0, ...over };
}

/** Rounds of untraced, worst, netns, drops, and an untraced run at the end, with these rates in Gbit/s. */
function phase(offloads: 'on' | 'off', untraced: number[], worst: number[], t: (round: number) => TracerFigures = () => tracer()): ThroughputPhase {
  const runs: StreamRun[] = [];
  worst.forEach((w, i) => {
    runs.push({ condition: 'untraced', round: i + 1, stream: stream(untraced[i]!) });
    runs.push({ condition: 'worst', round: i + 1, stream: stream(w), tracer: t(i + 1) });
    runs.push({ condition: 'netns', round: i + 1, stream: stream(untraced[i]!), tracer: t(i + 1) });
    runs.push({ condition: 'drops', round: i + 1, stream: stream(untraced[i]!), tracer: { ...t(i + 1), program: 'drops', attachMs: 900, detachMs: 200 } });
  });
  runs.push({ condition: 'untraced', round: worst.length + 1, stream: stream(untraced[worst.length]!) });
  return { offloads, runs };
}

function step(rateMbit: number | undefined, over: Partial<EventStep> = {}, t: Partial<TracerFigures> = {}): EventStep {
  const emitted = t.emitted ?? 60_000;
  return {
    requestedBitsPerSecond: rateMbit === undefined ? undefined : rateMbit * 1e6,
    stream: stream(0.1, 2),
    tracer: tracer({ emitted, received: emitted, ...t }),
    linkPackets: 20_000,
    kinds: { received: 20_000, transmitted: 20_000, queued: 5_000, freed: 15_000 },
    ...over,
  };
}

function run(over: Partial<TraceBenchRun> = {}): TraceBenchRun {
  return {
    options: { rounds: 3, seconds: 3, json: false },
    commands: ['iperf3 -s'],
    variants: [],
    lab: 'cli -- srv -- idle',
    machine: 'test',
    throughput: [phase('on', [20, 20, 22, 18], [16, 17, 18]), phase('off', [8, 8, 8, 8], [5, 5, 5])],
    eventsFilter: 'port 5201',
    eventsOffloads: 'off',
    events: [step(25), step(50, {}, { emitted: 100_000, received: 100_000 }), step(100, {}, { emitted: 200_000, received: 150_000, lost: 50_000 }), step(undefined, {}, { emitted: 900_000, received: 100_000, lost: 800_000 })],
    ...over,
  };
}

const failed = (r: TraceBenchRun): string[] => traceTargets(r).filter((t) => !t.ok).map((t) => `${t.name}: ${t.value}`);

describe('bench/trace summaries', () => {
  it('medians of odd and even counts, none of nothing', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([]), undefined);
  });

  it('each condition\'s median, range and ratio against the median untraced run of the same phase', () => {
    const s = summarizePhase(phase('on', [20, 20, 22, 18], [16, 17, 18]));
    const byCondition = new Map(s.conditions.map((c) => [c.condition, c]));
    assert.deepEqual(byCondition.get('untraced'), { condition: 'untraced', runs: 4, medianBitsPerSecond: 20e9, minBitsPerSecond: 18e9, maxBitsPerSecond: 22e9, ratio: undefined });
    assert.deepEqual(byCondition.get('worst'), { condition: 'worst', runs: 3, medianBitsPerSecond: 17e9, minBitsPerSecond: 16e9, maxBitsPerSecond: 18e9, ratio: 0.85 });
    assert.equal(s.untracedSpread, 22 / 18);
    assert.deepEqual(
      s.conditions.map((c): Condition => c.condition),
      ['untraced', 'worst', 'netns', 'drops'],
    );
  });

  it('events per second over the stream\'s own seconds, and the fastest step that lost nothing', () => {
    const r = run();
    assert.equal(eventsPerSecond(r.events[1]!), 50_000);
    assert.equal(bestLosslessStep(r.events), r.events[1]);
    // A step whose kernel count is unknown is not lossless, whatever it received.
    assert.equal(bestLosslessStep([step(25, {}, { emitted: undefined, received: 10 })]), undefined);
    assert.equal(bestLosslessStep([step(25, {}, { emitted: 10, received: 9, lost: 1 })]), undefined);
  });

  it('start and detach times per program: median and max over every tracer of the run', () => {
    const attach = [1000, 1500, 2600];
    const r = run({ throughput: [phase('on', [20, 20, 20, 20], [16, 17, 18], (round) => tracer({ attachMs: attach[round - 1]!, detachMs: 400 + round }))], events: [] });
    assert.deepEqual(startStopTimes(r), [
      { program: 'timeline', starts: 6, attachMedianMs: 1500, attachMaxMs: 2600, detachMedianMs: 402, detachMaxMs: 403 },
      { program: 'drops', starts: 3, attachMedianMs: 900, attachMaxMs: 900, detachMedianMs: 200, detachMaxMs: 200 },
    ]);
  });
});

describe('bench/trace targets', () => {
  it('are met when the traced stream keeps 70% and the tracer starts and detaches in under 2 s', () => {
    assert.deepEqual(failed(run()), []);
    assert.deepEqual(traceProblems(run()), []);
    assert.equal(traceTargets(run()).length, 5);
    assert.match(traceTargets(run())[0]!.value, /^85\.0% \(median 17\.00 Gbit\/s of 3 traced runs against median 20\.00 Gbit\/s of 4 untraced\)$/);
  });

  it('take exactly 70% as met and less as missed, judged on offloads on only', () => {
    assert.deepEqual(failed(run({ throughput: [phase('on', [10, 10, 10, 10], [7, 7, 7])] })), []);
    const missed = failed(run({ throughput: [phase('on', [10, 10, 10, 10], [6.9, 6.9, 7.5]), phase('off', [8, 8, 8, 8], [8, 8, 8])] }));
    assert.equal(missed.length, 1);
    assert.match(missed[0]!, /offloads on\) >= 70% of untraced: 69\.0%/);
    assert.match(failed(run({ throughput: [phase('off', [8, 8, 8, 8], [8, 8, 8])] }))[0]!, /not measured/);
  });

  it('are missed when the median start or detach is 2 s or more, and say the max', () => {
    const slow = (ms: number) => (round: number) => tracer({ attachMs: round === 3 ? 5000 : ms, detachMs: ms });
    assert.deepEqual(failed(run({ throughput: [phase('on', [20, 20, 20, 20], [16, 17, 18], slow(1999))], events: [] })), []);
    const r = failed(run({ throughput: [phase('on', [20, 20, 20, 20], [16, 17, 18], slow(2000))], events: [] }));
    assert.deepEqual(r, [
      'tracer start (timeline program), median of 6 < 2000 ms: 2000 ms (max 5000 ms)',
      'tracer detach (timeline program), median of 6 < 2000 ms: 2000 ms (max 2000 ms)',
    ]);
  });
});

describe('bench/trace checks that the figures can be trusted', () => {
  it('refuse untraced runs that differ by more than 1.6x', () => {
    assert.deepEqual(traceProblems(run({ throughput: [phase('on', [10, 16, 12, 12], [9, 9, 9])] })), []);
    const p = traceProblems(run({ throughput: [phase('on', [10, 16.1, 12, 12], [9, 9, 9])] }));
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^offloads on: the untraced runs differ by 1\.61x \(more than 1\.6x\)/);
  });

  it('refuse a tracer that saw something with a filter that matches nothing, or gave no count', () => {
    const leaky = traceProblems(run({ throughput: [phase('on', [20, 20, 20, 20], [16, 17, 18], (round) => tracer(round === 2 ? { emitted: 4, received: 4 } : {}))] }));
    assert.deepEqual(leaky, [
      'offloads on, round 2, worst: the filter should match nothing, but the tracer emitted 4 and delivered 4 events',
      'offloads on, round 2, netns: the filter should match nothing, but the tracer emitted 4 and delivered 4 events',
      'offloads on, round 2, drops: the filter should match nothing, but the tracer emitted 4 and delivered 4 events',
    ]);
    const uncounted = traceProblems(run({ throughput: [phase('on', [20, 20, 20, 20], [16, 17, 18], (round) => tracer(round === 1 ? { emitted: undefined, exitCode: null } : {}))] }));
    assert.equal(uncounted.length, 3);
    assert.match(uncounted[0]!, /round 1, worst: the tracer gave no count of its events \(it did not end normally, exit null\)/);
  });

  it('refuse an events step whose probes did not see every packet on the link', () => {
    // 0.98 of 20,000 packets: 19,600 received events is enough, 19,599 is not.
    assert.deepEqual(traceProblems(run({ events: [step(25, { kinds: { received: 19_600 } }), step(undefined)] })), []);
    assert.deepEqual(traceProblems(run({ events: [step(25, { kinds: { received: 19_599 } }), step(undefined)] })), [
      'events at 25 Mbit/s: 19599 packets received by the tracer, 20000 on the link: the probes did not see every packet',
    ]);
    assert.deepEqual(traceProblems(run({ events: [step(25, {}, { emitted: 19_000, received: 19_000 }), step(undefined)] })), [
      'events at 25 Mbit/s: the kernel side emitted 19000 events for 20000 packets on the link: the probes did not see the stream',
    ]);
    assert.deepEqual(traceProblems(run({ events: [step(25, { linkPackets: 0 }), step(undefined)] })), ['events at 25 Mbit/s: no packet crossed the link']);
  });

  it('refuse an events step without the kernel\'s count, with more delivered than emitted, and a run without the unpaced step', () => {
    assert.deepEqual(traceProblems(run({ events: [step(undefined, {}, { emitted: undefined, received: 30_000, exitCode: 1 })] })), [
      'events at full speed: the tracer gave no count of its events (exit 1): its losses cannot be told',
    ]);
    // bpftrace reported lost records: the step is lossy, and its count went with them; received + lost stands in.
    const lossy = run({ events: [step(undefined, {}, { emitted: undefined, received: 15_000, lost: 5_000 })] });
    assert.deepEqual(traceProblems(lossy), []);
    assert.equal(bestLosslessStep(lossy.events), undefined);
    assert.match(formatTraceReport(lossy).text, /at full speed: 7,500 events\/s delivered, 5,000 lost \(25\.0% of those emitted\)/);
    assert.deepEqual(traceProblems(run({ events: [step(undefined, {}, { emitted: undefined, received: 15_000, lost: 4_599 })] })), [
      'events at full speed: the kernel side emitted 19599 events for 20000 packets on the link: the probes did not see the stream',
    ]);
    assert.deepEqual(traceProblems(run({ events: [step(undefined, {}, { emitted: 30_000, received: 30_001 })] })), ['events at full speed: 30001 events delivered but the kernel counted only 30000']);
    assert.deepEqual(traceProblems(run({ events: [step(25)] })), ['events: no unpaced step']);
  });
});

describe('bench/trace printout', () => {
  it('says met and exits 0 when all is well; says MISSED or NOT TRUSTWORTHY and fails otherwise', () => {
    const good = formatTraceReport(run());
    assert.equal(good.ok, true);
    assert.match(good.text, /events per second delivered without loss: 50,000 \(at 50 Mbit\/s, stream 0\.10 Gbit\/s\)/);
    assert.match(good.text, /at full speed: 50,000 events\/s delivered, 800,000 lost \(88\.9% of those emitted\)/);
    assert.doesNotMatch(good.text, /MISSED|NOT TRUSTWORTHY/);
    const slow = formatTraceReport(run({ throughput: [phase('on', [10, 10, 10, 10], [6, 6, 6])] }));
    assert.equal(slow.ok, false);
    assert.match(slow.text, /MISSED \(60\.0%/);
    const untrusted = formatTraceReport(run({ events: [step(25)] }));
    assert.equal(untrusted.ok, false);
    assert.match(untrusted.text, /NOT TRUSTWORTHY: events: no unpaced step/);
    assert.equal(traceReportJson(run()).ok, true);
    assert.equal(traceReportJson(run({ events: [step(25)] })).ok, false);
    assert.deepEqual((traceReportJson(run({ events: [step(25)] })).json as { problems: string[] }).problems, ['events: no unpaced step']);
  });
});
