import type { RunningLab } from '../running-lab.js';
import type { LabSpec } from '../spec.js';
import type { ScenarioObservations } from './report.js';

/** Records one part of a scenario's expected outcome, `what`, as unmet when `condition` is false. */
export type Want = (condition: boolean, what: string) => void;

/** One entry of the catalogue: a topology, the traffic to run through it, and what that traffic should show. */
export interface Scenario {
  /** As typed on the command line, e.g. "icmp-blackhole". */
  readonly name: string;
  readonly title: string;
  /** One paragraph: what the scenario shows and why it matters. */
  readonly explanation: string;
  /** The characteristic outcome, in words. */
  readonly expected: string;
  readonly spec: LabSpec;
  run(lab: RunningLab): Promise<ScenarioObservations>;
  /** Judges a run: calls `want` once for every part of the characteristic outcome. */
  check(observations: ScenarioObservations, want: Want): void;
}

/** The parts of the characteristic outcome that `observations` do not show (empty: as expected). */
export function unmetExpectations(scenario: Pick<Scenario, 'check'>, observations: ScenarioObservations): string[] {
  const unmet: string[] = [];
  scenario.check(observations, (condition, what) => {
    if (!condition) unmet.push(what);
  });
  return unmet;
}
