import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { percentile } from '../../src/util/percentile.js';

describe('percentile', () => {
  it('takes the nearest rank of the sorted samples', () => {
    const samples = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    assert.equal(percentile(samples, 50), 5);
    assert.equal(percentile(samples, 99), 10);
    assert.equal(percentile(samples, 10), 1);
    assert.equal(percentile(samples, 100), 10);
  });

  it('sorts numerically and leaves its input alone', () => {
    const samples = [100, 9, 20];
    assert.equal(percentile(samples, 34), 20);
    assert.deepEqual(samples, [100, 9, 20]);
  });

  it('has no value without samples and refuses a percentile outside (0, 100]', () => {
    assert.equal(percentile([], 50), null);
    assert.throws(() => percentile([1], 0), RangeError);
    assert.throws(() => percentile([1], 101), RangeError);
  });
});
