import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedMap } from '../../src/analyze/bounded-map.js';

describe('BoundedMap', () => {
  it('never holds more than its capacity and counts and reports what it evicts, oldest first', () => {
    const evicted: string[] = [];
    const m = new BoundedMap<string, number>(3, (k) => evicted.push(k));
    for (const [i, k] of ['a', 'b', 'c', 'd', 'e'].entries()) m.set(k, i);
    assert.equal(m.size, 3);
    assert.equal(m.evicted, 2);
    assert.deepEqual(evicted, ['a', 'b']);
    assert.deepEqual([...m.entries()], [['c', 2], ['d', 3], ['e', 4]]);
    assert.deepEqual([...m.values()], [2, 3, 4]);
  });

  it('keeps an entry used since it was added over an older one that was not, and evicts it once unused again', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    assert.equal(m.get('a'), 1);
    m.set('c', 3);
    assert.deepEqual([...m.values()].sort(), [1, 3]);
    assert.equal(m.has('b'), false);
    m.set('d', 4);
    assert.equal(m.has('a'), false, 'a was not used again after its second chance');
  });

  it('does not count a touch without `touch`, and set of a known key keeps it and marks it used', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    assert.equal(m.get('a', false), 1);
    m.set('c', 3);
    assert.equal(m.has('a'), false);
    m.set('b', 20);
    m.set('d', 4);
    assert.equal(m.get('b', false), 20);
    assert.equal(m.has('c'), false);
  });

  it('refuses a capacity that is not a positive whole number', () => {
    assert.throws(() => new BoundedMap(0), RangeError);
    assert.throws(() => new BoundedMap(1.5), RangeError);
  });
});
