import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ByteRanges } from '../../src/engine/byte-ranges.js';

/** The naive model: every byte in a Set. */
class ByteSet {
  readonly bytes = new Set<number>();
  add(start: number, end: number): void {
    for (let i = start; i < end; i++) this.bytes.add(i);
  }
  overlaps(start: number, end: number): boolean {
    for (let i = start; i < end; i++) if (this.bytes.has(i)) return true;
    return false;
  }
}

const range = fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 1, max: 40 })).map(([start, length]) => [start, start + length] as const);
/** Some empty or reversed ranges, which add nothing. */
const anyRange = fc.oneof(range, fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 400 })).map(([a, b]) => [a, b] as const));

/** How many disjoint ranges the structure holds, read through overlaps() on single bytes. */
function runs(r: ByteRanges, limit: number): number {
  let count = 0;
  let inside = false;
  for (let i = 0; i <= limit; i++) {
    const now = r.overlaps(i, i + 1);
    if (now && !inside) count++;
    inside = now;
  }
  return count;
}

describe('ByteRanges', () => {
  it('examples: half-open ranges, merging of touching ones, empty ones ignored', () => {
    const r = new ByteRanges();
    assert.equal(r.empty, true);
    r.add(10, 10);
    r.add(20, 5);
    assert.equal(r.empty, true);
    r.add(10, 20);
    assert.deepEqual([r.overlaps(0, 10), r.overlaps(9, 11), r.overlaps(19, 20), r.overlaps(20, 30)], [false, true, true, false]);
    r.add(20, 30);
    r.add(40, 50);
    assert.equal(runs(r, 100), 2, '[10,20) and [20,30) touch and merge');
    r.add(25, 45);
    assert.equal(runs(r, 100), 1);
    assert.equal(r.overlaps(0, 1000), true);
    assert.equal(r.overlaps(50, 1000), false);
  });

  it('property: without reaching the bound it answers exactly like a set of bytes', () => {
    fc.assert(
      fc.property(fc.array(anyRange, { maxLength: 40, size: 'max' }), fc.array(range, { maxLength: 40, size: 'max' }), (adds, queries) => {
        const r = new ByteRanges(1000);
        const model = new ByteSet();
        for (const [s, e] of adds) {
          r.add(s, e);
          model.add(s, e);
        }
        assert.equal(r.empty, model.bytes.size === 0);
        // Only non-empty queries: the engine never asks about an empty segment, and overlaps() answers an empty range
        // inside a stored one with true where the byte model says false.
        for (const [s, e] of [...queries, ...adds]) if (e > s) assert.equal(r.overlaps(s, e), model.overlaps(s, e), `overlaps(${s}, ${e})`);
      }),
    );
  });

  it('property: past the bound it keeps at most maxRanges ranges and never answers a false negative', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(range, { maxLength: 80, size: 'max' }), fc.array(range, { maxLength: 40, size: 'max' }), (max, adds, queries) => {
        const r = new ByteRanges(max);
        const model = new ByteSet();
        for (const [s, e] of adds) {
          r.add(s, e);
          model.add(s, e);
          assert.ok(runs(r, 450) <= max, `${runs(r, 450)} ranges kept, bound ${max}`);
        }
        for (const [s, e] of [...queries, ...adds]) if (model.overlaps(s, e)) assert.equal(r.overlaps(s, e), true, `overlaps(${s}, ${e})`);
        // Joined ranges only cover gaps between added bytes: nothing below the lowest or above the highest byte.
        if (model.bytes.size > 0) {
          const lo = Math.min(...model.bytes);
          const hi = Math.max(...model.bytes);
          assert.equal(r.overlaps(0, lo), false);
          assert.equal(r.overlaps(hi + 1, 10_000), false);
        }
      }),
    );
  });

  it('the bound joins the closest neighbours', () => {
    const r = new ByteRanges(2);
    r.add(0, 10);
    r.add(100, 110);
    r.add(112, 120);
    // Gaps 90 and 2: the close pair is joined, the far gap stays a gap.
    assert.equal(r.overlaps(110, 112), true);
    assert.equal(r.overlaps(10, 100), false);
  });
});
