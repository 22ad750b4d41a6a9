/**
 * One scenario run: build its lab, trace kernel drops while its traffic runs, tear everything down (also when the
 * traffic fails), and judge the outcome.
 */
import { DropTrace, type DropTraceResult } from '../drop-trace.js';
import { startLab } from '../lab.js';
import { NodeCaptures, type NodeCaptureFile, type NodeCaptureRequest, switchOffloadsOff } from '../node-capture.js';
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
  /**
   * Capture packets while the traffic runs: one pcapng per node (`<node>.pcapng`) in `dir`, at `points` (default: the
   * scenario's capturePoints). Stopped before the lab is torn down, also when the traffic fails. Offloads (TSO, GSO,
   * GRO) are switched off on every interface of the lab first, so that the captures show the packets the links
   * carried, unless `keepOffloads`.
   */
  readonly capture?: { readonly dir: string; readonly points?: readonly NodeCaptureRequest[]; readonly keepOffloads?: boolean };
}

/** A run's report and, when it captured, the capture files. */
export interface CapturedScenarioReport extends ScenarioReport {
  readonly captures?: readonly NodeCaptureFile[];
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

/** The nodes (and interfaces) a scenario is captured at by default. */
export function capturePointsOf(scenario: Scenario): NodeCaptureRequest[] {
  return (scenario.capturePoints ?? []).map((p) => ({ node: p.node, ...(p.interfaces === undefined ? {} : { interfaces: p.interfaces }) }));
}

export async function runScenario(scenario: Scenario, options: RunScenarioOptions = {}): Promise<CapturedScenarioReport> {
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
    let captures: NodeCaptures | undefined;
    let files: NodeCaptureFile[] | undefined;
    try {
      if (options.capture !== undefined) {
        const points = options.capture.points ?? capturePointsOf(scenario);
        if (points.length === 0) throw new Error(`scenario ${scenario.name} names no capture points`);
        if (options.capture.keepOffloads !== true) {
          const failed = await switchOffloadsOff(lab);
          if (failed.length > 0) throw new Error(`could not switch offloads off for the captures: ${failed.join('; ')}`);
        }
        options.onStep?.(`starting the captures (${points.map((p) => p.node).join(', ')})`);
        captures = await NodeCaptures.start(lab, points, options.capture.dir);
      }
      options.onStep?.('running the traffic');
      measured = await scenario.run(lab);
    } finally {
      if (captures !== undefined) files = await captures.stop();
      if (trace !== undefined) drops = await trace.stop();
    }
    const report = scenarioReport(scenario, lab, started, measured, drops);
    return files === undefined ? report : { ...report, captures: files };
  } finally {
    options.onStep?.('tearing the lab down');
    await lab.destroy();
  }
}
