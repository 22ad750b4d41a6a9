import type { Eviction } from './detector.js';
import type { FindingKind } from './finding.js';

/**
 * At most `limit` findings per kind (AnalyzerLimits.maxFindingsPerKind): a flood of one kind must not make the
 * report as large as the capture. The findings refused are counted and reported as evictions.
 */
export class FindingQuota {
  private readonly taken = new Map<FindingKind, number>();
  private readonly refused = new Map<FindingKind, number>();

  constructor(readonly limit: number) {}

  /** True when one more finding of `kind` may be kept. */
  admit(kind: FindingKind): boolean {
    const n = this.taken.get(kind) ?? 0;
    if (n >= this.limit) {
      this.refused.set(kind, (this.refused.get(kind) ?? 0) + 1);
      return false;
    }
    this.taken.set(kind, n + 1);
    return true;
  }

  evictions(): Eviction[] {
    return [...this.refused].map(([kind, evicted]) => ({ table: `${kind} findings beyond the limit`, evicted, capacity: this.limit }));
  }
}
