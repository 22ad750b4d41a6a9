/**
 * One scenario run: build its lab, trace kernel drops in its namespaces while its traffic runs (lab-drops.ts), tear
 * everything down (also when the traffic fails), and judge the outcome.
 */
import { startLab } from '../lab.js';
import { LabDropTrace, unavailableDrops, type LabDrops } from '../lab-drops.js';
import { NodeCaptures, type NodeCaptureFile, type NodeCaptureRequest, switchOffloadsOff } from '../node-capture.js';
import type { RunningLab } from '../running-lab.js';
import type { Measurements, ScenarioReport } from './report.js';
import { unmetExpectations, type Scenario } from './scenario.js';

const NOT_TRACED: LabDrops = { available: false, error: 'not traced (--no-trace)' };

export interface RunScenarioOptions {
  /** Trace kernel drops in the lab's namespaces with `mtuscope trace`'s tracer (default true). */
  readonly traceDrops?: boolean;
  /** The bpftrace binary for the drop trace (tests: one that is missing). */
  readonly bpftrace?: string;
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
  drops: LabDrops,
  endedMs = Date.now(),
): ScenarioReport {
  const unmet = unmetExpectations(scenario, measured);
  return {
    scenario: scenario.name,
    title: scenario.title,
    lab: { name: lab.name, id: lab.id },
    startedAt: new Date(startedMs).toISOString(),
    durationMs: endedMs - startedMs,
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
  // The tracer attaches (about half a second) while the lab is being built and the scenario starts its servers.
  let tracing: Promise<LabDropTrace | LabDrops> = Promise.resolve(NOT_TRACED);
  const traceOnNamespaces = (lab: Pick<RunningLab, 'plan' | 'namespace'>): void => {
    // On the next turn of the event loop: the build's next commands are on their way by then, and run while the tracer's
    // start-up (reading the kernel's BTF) keeps this process busy.
    tracing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => LabDropTrace.start(lab, options.bpftrace === undefined ? {} : { bpftrace: options.bpftrace }))
      .catch(unavailableDrops);
  };
  let lab: RunningLab;
  try {
    lab = await startLab(scenario.spec, (options.traceDrops ?? true) ? { onNamespaces: traceOnNamespaces } : {});
  } catch (err) {
    const trace = await tracing;
    if (trace instanceof LabDropTrace) trace.destroySync();
    throw err;
  }
  // Drops count from when both the lab is built and the tracer attached: the build's own drops are not the scenario's.
  const traced = tracing.then((trace) => {
    if (trace instanceof LabDropTrace) trace.begin();
    return trace;
  });
  const gate = async (): Promise<void> => {
    await traced;
  };
  let captures: NodeCaptures | undefined;
  let files: NodeCaptureFile[] | undefined;
  let result: { readonly measured: Measurements } | { readonly error: unknown };
  try {
    options.onLab?.(lab);
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
    result = { measured: await scenario.run(lab, gate) };
  } catch (error) {
    result = { error };
  }
  // The traffic is over: drops from now on do not count, and the tracer detaches (a few hundred milliseconds) while the
  // captures end and the lab goes.
  const trace = await traced;
  let stopping: Promise<LabDrops>;
  if (trace instanceof LabDropTrace) {
    trace.end();
    stopping = trace.stop();
  } else stopping = Promise.resolve(trace);
  try {
    if (captures !== undefined) files = await captures.stop();
  } catch (error) {
    if ('measured' in result) result = { error };
  }
  const endedMs = Date.now();
  options.onStep?.('tearing the lab down');
  const [destroyed, stopped] = await Promise.allSettled([lab.destroy(), stopping]);
  if ('error' in result) throw result.error;
  if (destroyed.status === 'rejected') throw destroyed.reason;
  const drops: LabDrops = stopped.status === 'fulfilled' ? stopped.value : { available: false, error: String(stopped.reason) };
  const report = scenarioReport(scenario, lab, started, result.measured, drops, endedMs);
  return files === undefined ? report : { ...report, captures: files };
}
