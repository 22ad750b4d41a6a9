/**
 * A set of [start, end) ranges of a byte stream, merged as they are added and bounded in count, for "did this
 * segment carry bytes we dropped earlier?" questions.
 */
export class ByteRanges {
  private readonly ranges: [number, number][] = [];

  constructor(private readonly maxRanges = 64) {}

  add(start: number, end: number): void {
    if (end <= start) return;
    const r = this.ranges;
    let i = 0;
    while (i < r.length && r[i]![1] < start) i++;
    let s = start;
    let e = end;
    let j = i;
    while (j < r.length && r[j]![0] <= e) {
      s = Math.min(s, r[j]![0]);
      e = Math.max(e, r[j]![1]);
      j++;
    }
    r.splice(i, j - i, [s, e]);
    // Past the bound, join the closest neighbours: the set may then claim a few bytes too many, never too few.
    while (r.length > this.maxRanges) {
      let best = 0;
      for (let k = 1; k < r.length - 1; k++) if (r[k + 1]![0] - r[k]![1] < r[best + 1]![0] - r[best]![1]) best = k;
      r.splice(best, 2, [r[best]![0], r[best + 1]![1]]);
    }
  }

  overlaps(start: number, end: number): boolean {
    for (const [s, e] of this.ranges) if (s < end && start < e) return true;
    return false;
  }

  get empty(): boolean {
    return this.ranges.length === 0;
  }
}
