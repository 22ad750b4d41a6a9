import type { RunningLab } from '../running-lab.js';
import type { LabSpec } from '../spec.js';
import type { Measurements } from './report.js';

/** Records one part of a scenario's expected outcome, `what`, as unmet when `condition` is false. */
export type Want = (condition: boolean, what: string) => void;

/**
 * One entry of the catalogue: a topology, the traffic to run through it, and what that traffic should show. `run`
 * measures, `findings` puts the measurements into words, `check` judges them; the last two see nothing but the
 * measurements, so they can be tested with any measurements at all.
 */
export interface Scenario {
  /** As typed on the command line, e.g. "icmp-blackhole". */
  readonly name: string;
  readonly title: string;
  /** One paragraph: what the scenario shows and why it matters. */
  readonly explanation: string;
  /** The characteristic outcome, in words. */
  readonly expected: string;
  readonly spec: LabSpec;
  run(lab: RunningLab): Promise<Measurements>;
  /** What the measurements show, one sentence each, every one built from what was measured ("cannot tell" where that is missing). */
  findings(measured: Measurements): string[];
  /**
   * Judges a run: calls `want` once for every part of the characteristic outcome. Missing evidence (a fact that is
   * absent, a ping that sent nothing) must make its part unmet, never pass for it.
   */
  check(measured: Measurements, want: Want): void;
}

/** The parts of the characteristic outcome that `measured` does not show (empty: as expected). */
export function unmetExpectations(scenario: Pick<Scenario, 'check'>, measured: Measurements): string[] {
  const unmet: string[] = [];
  scenario.check(measured, (condition, what) => {
    if (!condition) unmet.push(what);
  });
  return unmet;
}
