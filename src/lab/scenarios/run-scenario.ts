/**
 * One scenario run: build its lab, trace kernel drops while its traffic runs, tear everything down (also when the
 * traffic fails), and judge the outcome.
 */
import { DropTrace, type DropTraceResult } from '../drop-trace.js';
import { startLab } from '../lab.js';
import type { RunningLab } from '../running-lab.js';
import type { ScenarioReport } from './report.js';
import type { Scenario } from './scenario.js';
import { errorMessage } from '../../util/error-message.js';

export interface RunScenarioOptions {
  /** Trace kernel drops (default true). */
  readonly traceDrops?: boolean;
  /** Called once the lab is up (tests use it to check afterwards that nothing of the lab remains). */
  readonly onLab?: (lab: RunningLab) => void;
}

export async function runScenario(scenario: Scenario, options: RunScenarioOptions = {}): Promise<ScenarioReport> {
  const started = Date.now();
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
    let observations;
    try {
      observations = await scenario.run(lab);
    } finally {
      if (trace !== undefined) drops = await trace.stop();
    }
    return {
      scenario: scenario.name,
      title: scenario.title,
      lab: { name: lab.name, id: lab.id },
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      expected: scenario.expected,
      ...observations,
      unmet: scenario.check(observations),
      drops,
    };
  } finally {
    await lab.destroy();
  }
}
