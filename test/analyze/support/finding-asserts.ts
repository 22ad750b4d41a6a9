/** Small assertions over findings that the detector tests share. */
import assert from 'node:assert/strict';
import type { Finding, FindingKind } from '../../../src/analyze/finding.js';

/** The kinds of `findings`, sorted. */
export function kinds(findings: readonly Finding[]): FindingKind[] {
  return findings.map((f) => f.kind).sort();
}

/** The one finding of `kind` (fails, listing them all, when there is none or more than one). */
export function only(findings: readonly Finding[], kind: FindingKind): Finding {
  const of = findings.filter((f) => f.kind === kind);
  assert.equal(of.length, 1, `one ${kind} among ${findings.map((f) => `${f.kind}: ${f.sentence}`).join(' / ')}`);
  return of[0]!;
}
