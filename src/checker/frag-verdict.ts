import type { FragVerdict } from './test-result.js';

/** What the engine saw of one /frag connection, reduced to what the verdict depends on. */
export interface FragObservation {
  /** The engine's outcome of the test (its words are the verdict's); null while it has none. */
  readonly outcome: FragVerdict | null;
  readonly fragmentsSent: number;
}

/**
 * The /frag verdict (docs/verdicts.md): "blocked" only when fragments were sent and not acknowledged (the engine says
 * "blocked" only for fragments the client could have acknowledged). A test in which nothing was sent as fragments
 * (the rate limits held back every one), or that the engine never ran on this connection (null), tested nothing:
 * "inconclusive".
 */
export function fragVerdict(o: FragObservation | null): FragVerdict {
  if (o === null) return 'inconclusive';
  if (o.outcome === 'pass') return 'pass';
  if (o.outcome === 'blocked' && o.fragmentsSent > 0) return 'blocked';
  return 'inconclusive';
}
