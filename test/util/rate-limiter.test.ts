import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ClientRateLimiter, TokenBucket } from '../../src/util/rate-limiter.js';

function takes(bucket: TokenBucket, n: number, at: number): number {
  let granted = 0;
  for (let i = 0; i < n; i++) if (bucket.take(at)) granted++;
  return granted;
}

describe('TokenBucket', () => {
  it('starts full: a burst, then nothing until tokens accrue', () => {
    const b = new TokenBucket(10, 5, 1000);
    assert.equal(takes(b, 8, 1000), 5);
    assert.equal(b.take(1099), false, '0.99 tokens is not one');
    assert.equal(b.take(1100), true, '0.1 s at 10/s (with the 0.99 already accrued) is one token');
    assert.equal(b.take(1100), false);
  });

  it('accrues at the rate, never beyond the burst', () => {
    const b = new TokenBucket(2, 3, 0);
    assert.equal(takes(b, 3, 0), 3);
    assert.equal(takes(b, 10, 1000), 2, 'one second at 2/s');
    assert.equal(takes(b, 10, 100_000), 3, 'a long pause refills to the burst only');
  });

  it('a clock that goes back neither adds nor removes tokens', () => {
    const b = new TokenBucket(1, 1, 5000);
    assert.equal(b.take(5000), true);
    assert.equal(b.take(4000), false);
    assert.equal(b.take(4500), false, 'the half second after the jump back is not a full token');
  });

  it('take(count) takes that many tokens at once, or none; more than the burst never', () => {
    const b = new TokenBucket(3, 5, 0);
    assert.equal(b.take(0, 3), true);
    assert.equal(b.take(0, 3), false, 'two tokens left: a take of three gets none of them');
    assert.equal(b.take(0, 2), true);
    assert.equal(b.take(1000, 3), true, 'one second at 3/s');
    assert.equal(b.take(100_000, 6), false, 'six is more than the burst of five, however long the wait');
    assert.equal(b.take(100_000, 5), true);
  });

  it('has() says whether take() would succeed, and takes nothing however often it is asked', () => {
    const b = new TokenBucket(10, 2, 0);
    for (let i = 0; i < 5; i++) assert.equal(b.has(0), true);
    assert.equal(b.has(0, 2), true);
    assert.equal(b.has(0, 3), false, 'more than the burst');
    assert.equal(takes(b, 2, 0), 2, 'the asking took none of the two tokens');
    assert.equal(b.has(0), false);
    assert.equal(b.has(99), false, '0.99 tokens is not one');
    assert.equal(b.has(100), true);
    assert.equal(b.has(-500), false, 'a clock that went back adds nothing');
    assert.equal(b.take(100), true);
    assert.equal(b.take(100), false);
  });

  it('property: has(t, n) is exactly what take(t, n) returns next', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 10 }),
        fc.array(fc.tuple(fc.integer({ min: -50, max: 300 }), fc.integer({ min: 0, max: 4 })), { maxLength: 100, size: 'max' }),
        (rate, burst, steps) => {
          const b = new TokenBucket(rate, burst, 0);
          let now = 0;
          for (const [gap, count] of steps) {
            now += gap;
            const predicted = b.has(now, count);
            assert.equal(b.has(now, count), predicted, 'asking twice gives the same answer');
            assert.equal(b.take(now, count), predicted);
          }
        },
      ),
    );
  });

  it('idle() is true exactly when the bucket would be full again', () => {
    const b = new TokenBucket(10, 10, 0);
    assert.equal(b.idle(0), true);
    b.take(0);
    assert.equal(b.idle(50), false);
    assert.equal(b.idle(100), true);
  });

  it('property: over any schedule, grants never exceed burst + rate × elapsed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 300, size: 'max' }),
        (rate, burst, gaps) => {
          const b = new TokenBucket(rate, burst, 0);
          let now = 0;
          let granted = 0;
          for (const gap of gaps) {
            now += gap;
            if (b.take(now)) granted++;
            assert.ok(granted <= burst + (rate * now) / 1000 + 1e-9, `${granted} grants by ${now} ms`);
          }
        },
      ),
    );
  });
});

describe('ClientRateLimiter', () => {
  it('each client has its own bucket; all share the global one', () => {
    const l = new ClientRateLimiter({ perSecond: 1, burst: 2 }, { perSecond: 1, burst: 3 }, 0);
    assert.deepEqual([l.take('a', 0), l.take('a', 0), l.take('a', 0)], [true, true, false]);
    assert.deepEqual([l.take('b', 0), l.take('b', 0)], [true, false], 'b has tokens of its own but the global bucket is empty');
  });

  it('take(count) needs count tokens from the client\'s bucket and from the global one', () => {
    const l = new ClientRateLimiter({ perSecond: 1, burst: 4 }, { perSecond: 1, burst: 6 }, 0);
    assert.equal(l.take('a', 0, 3), true);
    assert.equal(l.take('a', 0, 3), false, 'a has one token left');
    assert.equal(l.take('b', 0, 3), true);
    assert.equal(l.take('c', 0, 1), false, 'the global bucket is empty: 3 + 3 of 6');
  });

  it('a client over its own limit does not drain the global budget', () => {
    const l = new ClientRateLimiter({ perSecond: 1, burst: 1 }, { perSecond: 1, burst: 2 }, 0);
    assert.equal(l.take('greedy', 0), true);
    for (let i = 0; i < 100; i++) assert.equal(l.take('greedy', 0), false);
    assert.equal(l.take('polite', 0), true, 'one global token is still there');
  });

  it('is bounded in clients: idle buckets are swept first, then the oldest forgotten', () => {
    const l = new ClientRateLimiter({ perSecond: 1, burst: 1 }, { perSecond: 1000, burst: 1000 }, 0, 2);
    assert.equal(l.take('a', 0), true);
    assert.equal(l.take('b', 0), true);
    // At capacity; neither is idle yet at 0 ms, so the oldest ('a') is forgotten and gets a fresh burst later.
    assert.equal(l.take('c', 0), true);
    assert.equal(l.take('b', 0), false, 'b is still remembered as empty');
    assert.equal(l.take('a', 0), true, 'a was forgotten (bounded memory), so it starts full');
  });

  it('sweep() keeps the buckets that are not full again', () => {
    const l = new ClientRateLimiter({ perSecond: 1, burst: 1 }, { perSecond: 1000, burst: 1000 }, 0);
    assert.equal(l.take('a', 0), true);
    l.sweep(500);
    assert.equal(l.take('a', 500), false, 'half a token: still remembered as spent');
    l.sweep(1500);
    assert.equal(l.take('a', 1500), true);
  });

  it('counts clients as clientOf says: addresses it maps to one key share one bucket', () => {
    const firstLetter = (address: string): string => address.slice(0, 1);
    const l = new ClientRateLimiter({ perSecond: 1, burst: 2 }, { perSecond: 1000, burst: 1000 }, 0, undefined, firstLetter);
    assert.deepEqual([l.take('a1', 0), l.take('a2', 0), l.take('a3', 0)], [true, true, false]);
    assert.equal(l.take('b1', 0), true, 'another key has its own bucket');
  });
});
