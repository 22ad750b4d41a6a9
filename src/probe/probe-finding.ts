/**
 * One conclusion of a probe run: the shape every part of the prober (hop-by-hop path MTU, the search without ICMP,
 * middlebox detection, the cooperating server's UDP and HTTP tests, the remote server test) reports in, so that the
 * diagnosis can order, merge and print them in one paragraph and `--json` can carry them unchanged.
 */

import type { IpFamilyName } from '../packet/ip-family.js';

/** How sure the evidence makes us: `high` measured directly, `medium` inferred from several measurements, `low` a guess the evidence allows but does not prove. */
export type FindingConfidence = 'high' | 'medium' | 'low';

/** `to-target`: packets from this host toward the target; `from-target`: packets coming back. */
export type FindingDirection = 'to-target' | 'from-target';

export interface ProbeFinding {
  /** Stable identifier a script can branch on, kebab-case (e.g. `ptb-dropped-on-return`, `mss-clamped`). */
  readonly code: string;
  /** True when the finding is a problem (exit status 1); false for healthy observations and "cannot tell". */
  readonly problem: boolean;
  readonly confidence: FindingConfidence;
  /** Where on the path, when known: the hop numbers and addresses the evidence points at. */
  readonly where?: { readonly afterHop?: number; readonly beforeHop?: number; readonly address?: string };
  readonly direction?: FindingDirection;
  /**
   * The address family the finding is about, where one family's findings must be read together (the diagnosis pairs a
   * black hole of the trace with the cooperating server's Packet Too Big test of the same family).
   */
  readonly family?: IpFamilyName;
  /** One or two sentences in plain words, built only from measured values. */
  readonly sentence: string;
}
