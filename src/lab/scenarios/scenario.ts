import type { RunningLab } from '../running-lab.js';
import type { LabSpec } from '../spec.js';
import type { ScenarioObservations } from './report.js';

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
  /** The parts of the characteristic outcome a run did not show (empty: as expected). */
  check(observations: ScenarioObservations): string[];
}
