import type { FindingKind, Severity } from './finding.js';

/**
 * Every finding kind at run time, in the order docs/analyze.md lists them, with the words the text output and
 * `--filter` use. Kept in step with the FindingKind type by the check below: a kind added there and not here (or
 * the reverse) is a compile error.
 */
export const FINDING_KINDS = [
  'ptb-honoured',
  'ptb-ignored',
  'ptb-suspicious',
  'ptb-orphan',
  'ptb-unresolved',
  'pmtu-blackhole',
  'blackhole-fallback',
  'mss-clamped',
  'mss-tunnel',
  'segment-exceeds-mss',
  'fragments-incomplete',
  'fragment-overlap',
  'fragment-overlap-conflict',
  'fragment-tiny',
  'fragment-too-large',
  'fragment-df',
  'fragments-lost-retried',
  'encap-overhead',
  'ptb-to-tunnel-endpoint',
  'capture-caveat',
  'tables-evicted',
] as const satisfies readonly FindingKind[];

type Unlisted = Exclude<FindingKind, (typeof FINDING_KINDS)[number]>;
const EVERY_KIND_LISTED: [Unlisted] extends [never] ? true : false = true;
void EVERY_KIND_LISTED;

const KINDS: ReadonlySet<string> = new Set(FINDING_KINDS);

export function isFindingKind(text: string): text is FindingKind {
  return KINDS.has(text);
}

/** The longest kind name: the width of the kind column of the text output. */
export const KIND_WIDTH = Math.max(...FINDING_KINDS.map((k) => k.length));

export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { error: 0, warning: 1, info: 2 };
