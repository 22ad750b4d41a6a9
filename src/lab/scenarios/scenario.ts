import type { FindingKind } from '../../analyze/finding.js';
import type { FamilyMap, IpFamily } from '../../packet/ip-family.js';
import type { RunningLab } from '../running-lab.js';
import type { LabSpec } from '../spec.js';
import type { Measurements } from './report.js';

/**
 * Resolves once what watches a run from outside is in place (the kernel drop trace attaching to the lab's namespaces).
 * A scenario prepares meanwhile (starting its servers) and sends its first packet only after it has resolved.
 */
export type TrafficGate = () => Promise<void>;

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
  /** Runs the traffic and measures; the traffic starts only once `gate` has resolved (observe() in support.ts waits for it). */
  run(lab: RunningLab, gate?: TrafficGate): Promise<Measurements>;
  /** What the measurements show, one sentence each, every one built from what was measured ("cannot tell" where that is missing). */
  findings(measured: Measurements): string[];
  /**
   * Judges a run: calls `want` once for every part of the characteristic outcome. Missing evidence (a fact that is
   * absent, a ping that sent nothing) must make its part unmet, never pass for it.
   */
  check(measured: Measurements, want: Want): void;
  /**
   * Where the scenario's failure (or its healthy behaviour) is visible in packets: the nodes to capture on, with what a
   * capture analyzer should find there. `mtuscope lab run NAME --capture DIR` captures at these points.
   */
  readonly capturePoints?: readonly CapturePoint[];
}

/** One end of a flow as a capture shows it: a node's address (in the flow's family; that of `ifname` if given), or fixed addresses. */
export type FlowEnd = { readonly node: string; readonly ifname?: string } | { readonly address: FamilyMap<string> | string };

/** Where a finding belongs: a flow between two ends (in either direction) and, optionally, the capture interface. */
export interface FindingPlace {
  readonly between: readonly [FlowEnd, FlowEnd];
  /** 'icmp' stands for ICMPv4 and ICMPv6. */
  readonly protocol?: 'tcp' | 'udp' | 'icmp';
  /** A port of either end (the server's). */
  readonly port?: number;
  /** The families in which the finding must appear (default both): one finding in each. */
  readonly families?: readonly IpFamily[];
  /** The capture interfaces its evidence may be seen on (default any of the capture's). */
  readonly interfaces?: readonly string[];
}

/**
 * What an analyzer should find at a capture point: a finding of one of `kinds` at `place`, in every family of the
 * place for which `when` holds. 'expected' ones must be found; 'tolerated' ones may be (e.g. the Packet Too Big a
 * relay forwards is an orphan where it first arrives): any error or warning that no expectation of its capture point
 * covers is a false finding.
 */
export interface CaptureExpectation {
  readonly kinds: readonly FindingKind[];
  readonly place: FindingPlace;
  /** Other places that count as well (e.g. the tunnel's outer flow besides the inner one). */
  readonly alsoAt?: readonly FindingPlace[];
  /** In words: "the 100 KB uploads' full-size segments retransmitted with no Packet Too Big". */
  readonly what: string;
  /** Default 'expected'. */
  readonly need?: 'expected' | 'tolerated';
  /** Whether it applies to this run and family, judged from the run's measurements (default: always). */
  readonly when?: (measured: Measurements, family: IpFamily) => boolean;
}

/** A node to capture on while the scenario's traffic runs, and what its capture shows. */
export interface CapturePoint {
  readonly node: string;
  /** Default: every veth and tunnel interface of the node (not lo). */
  readonly interfaces?: readonly string[];
  /** What passes this point, in words. */
  readonly sees: string;
  readonly expect: readonly CaptureExpectation[];
}

/** The parts of the characteristic outcome that `measured` does not show (empty: as expected). */
export function unmetExpectations(scenario: Pick<Scenario, 'check'>, measured: Measurements): string[] {
  const unmet: string[] = [];
  scenario.check(measured, (condition, what) => {
    if (!condition) unmet.push(what);
  });
  return unmet;
}
