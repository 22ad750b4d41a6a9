/**
 * One scenario run: build its lab, trace kernel drops while its traffic runs, tear everything down (also when the
 * traffic fails), and judge the outcome.
 */
import { DropTrace, type DropTraceResult } from '../drop-trace.js';
import { startLab } from '../lab.js';
import type { RunningLab } from '../running-lab.js';
import type { Measurements, ScenarioReport } from './report.js';
import { unmetExpectations, type Scenario } from './scenario.js';
import { errorMessage } from '../../util/error-message.js';

export interface RunScenarioOptions {
  /** Trace kernel drops (default true). */
  readonly traceDrops?: boolean;
  /** Called once the lab is up (tests use it to check afterwards that nothing of the lab remains). */
  readonly onLab?: (lab: RunningLab) => void;
  /** Called as the run moves on to its next step, with what it is doing, e.g. "running the traffic". */
  readonly onStep?: (step: string) => void;
}

/** A run's report: what it measured, in the scenario's words, judged by the scenario's check. */
export function scenarioReport(
  scenario: Scenario,
  lab: Pick<RunningLab, 'name' | 'id'>,
  startedMs: number,
  measured: Measurements,
  drops: DropTraceResult,
): ScenarioReport {
  const unmet = unmetExpectations(scenario, measured);
  return {
    scenario: scenario.name,
    title: scenario.title,
    lab: { name: lab.name, id: lab.id },
    startedAt: new Date(startedMs).toISOString(),
    durationMs: Date.now() - startedMs,
    expected: scenario.expected,
    ...measured,
    findings: scenario.findings(measured),
    unmet,
    asExpected: unmet.length === 0,
    drops,
  };
}

export async function runScenario(scenario: Scenario, options: RunScenarioOptions = {}): Promise<ScenarioReport> {
  const started = Date.now();
  options.onStep?.(`building the lab (${scenario.spec.nodes.length} nodes)`);
  const lab = await startLab(scenario.spec);
  try {
    options.onLab?.(lab);
    let trace: DropTrace | undefined;
    let drops: DropTraceResult = { available: false, error: 'not traced (--no-trace)' };
    if (options.traceDrops ?? true) {
      try {
        trace = await DropTrace.start(`mtl-${lab.id}`);
      } catch (err) {
        drops = { available: false, error: errorMessage(err) };
      }
    }
    let measured;
    options.onStep?.('running the traffic');
    try {
      measured = await scenario.run(lab);
    } finally {
      if (trace !== undefined) drops = await trace.stop();
    }
    return scenarioReport(scenario, lab, started, measured, drops);
  } finally {
    options.onStep?.('tearing the lab down');
    await lab.destroy();
  }
}
