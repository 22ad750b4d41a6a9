import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { finishChecksum, foldSum, sum16, sumVerifies } from '../../src/packet/checksum.js';

/** RFC 1071 word by word: the reference the fast sum must agree with once folded. */
function reference(b: Uint8Array, start: number, end: number, initial: number): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < end) sum += b[i]! << 8;
  return sum;
}

describe('sum16', () => {
  it('folds to the word-by-word sum for any bytes, range, alignment and initial value', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 3000, size: 'max' }), fc.nat(), fc.nat(), fc.nat({ max: 0x3ffff }), fc.nat({ max: 7 }), (bytes, a, c, initial, shift) => {
        const buffer = new Uint8Array(bytes.length + shift);
        buffer.set(bytes, shift);
        const view = buffer.subarray(shift);
        const start = bytes.length === 0 ? 0 : a % bytes.length;
        const end = start + (bytes.length === 0 ? 0 : c % (bytes.length - start + 1));
        const got = sum16(view, start, end, initial);
        const want = reference(view, start, end, initial);
        assert.equal(foldSum(got), foldSum(want));
        assert.equal(finishChecksum(got), finishChecksum(want));
        assert.equal(sumVerifies(got), sumVerifies(want));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps 0 apart from a non-zero multiple of 0xffff (all-zero bytes against 0xff bytes)', () => {
    assert.equal(foldSum(sum16(new Uint8Array(200), 0, 200)), 0);
    assert.equal(foldSum(sum16(new Uint8Array(200).fill(0xff), 0, 200)), 0xffff);
  });
});
