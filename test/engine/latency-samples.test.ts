import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LatencySamples } from '../../src/engine/latency-samples.js';

describe('LatencySamples', () => {
  it('null without samples', () => {
    assert.equal(new LatencySamples().percentile(50), null);
  });

  it('nearest-rank percentiles, sorted numerically', () => {
    const l = new LatencySamples();
    for (const v of [10, 9, 100, 1, 2, 3, 4, 5, 6, 7]) l.add(v);
    assert.deepEqual([l.percentile(10), l.percentile(50), l.percentile(90), l.percentile(100), l.size], [1, 5, 10, 100, 10]);
    assert.equal(l.percentile(0.001), 1);
  });

  it('keeps only the most recent `capacity` samples; clear() empties', () => {
    const l = new LatencySamples(3);
    for (const v of [1000, 1, 2, 3]) l.add(v);
    assert.deepEqual([l.size, l.percentile(100)], [3, 3]);
    l.clear();
    assert.deepEqual([l.size, l.percentile(50)], [0, null]);
  });
});
