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

  it('counts every duration in its bucket (upper bounds inclusive), beyond the samples kept and across clear()', () => {
    const l = new LatencySamples(2);
    for (const v of [0.01, 0.011, 1, 999, 1000.5]) l.add(v);
    l.clear();
    const h = l.histogram();
    assert.equal(h.boundsMs.length + 1, h.counts.length);
    const inBucket = (boundMs: number): number => h.counts[h.boundsMs.indexOf(boundMs)] ?? -1;
    assert.deepEqual([inBucket(0.01), inBucket(0.025), inBucket(1), inBucket(1000), h.counts.at(-1)], [1, 1, 1, 1, 1]);
    assert.equal(h.count, 5);
    assert.ok(Math.abs(h.sumMs - 2000.521) < 1e-9);
    assert.equal(h.counts.reduce((a, b) => a + b, 0), 5);
  });
});
