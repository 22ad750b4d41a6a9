/**
 * The de-duplication key's stand-in for a quote: the same bytes give the same digest wherever they sit, quotes that
 * differ in one byte (in a word or in the tail) or in length never share one, a quarter of a million distinct quotes
 * of one flow (a relay's second at full rate, each differing from the others only in a sequence number and an IP
 * identification, as copies of one stream's segments do) share none, and another process digests with another seed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { quoteDigest } from '../../src/relay/quote-digest.js';
import { put16 } from '../../src/packet/bytes.js';

const QUOTE = Uint8Array.from({ length: 1232 }, (_, i) => (i * 7 + 3) & 0xff);

describe('quoteDigest', () => {
  it('depends on the bytes only, not on where they sit in a buffer', () => {
    const buffer = new Uint8Array(QUOTE.length + 5);
    buffer.set(QUOTE, 3);
    assert.equal(quoteDigest(buffer.subarray(3, 3 + QUOTE.length)), quoteDigest(QUOTE));
    assert.equal(quoteDigest(QUOTE.slice()), quoteDigest(QUOTE));
  });

  it('differs for quotes that differ in one byte, anywhere, or in length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 1300, size: 'max' }), fc.nat(), fc.integer({ min: 1, max: 255 }), (bytes, at, flip) => {
        const other = bytes.slice();
        const i = at % bytes.length;
        other[i] = other[i]! ^ flip;
        assert.notEqual(quoteDigest(other), quoteDigest(bytes));
        assert.notEqual(quoteDigest(bytes.subarray(0, bytes.length - 1)), quoteDigest(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('no two of 250,000 quotes of one flow that differ in sequence number and IP identification share a digest', () => {
    const seen = new Set<string>();
    const q = QUOTE.slice();
    for (let i = 0; i < 250_000; i++) {
      put16(q, 4, i & 0xffff);
      put16(q, 44, (i * 1448) >>> 16);
      put16(q, 46, (i * 1448) & 0xffff);
      seen.add(quoteDigest(q));
    }
    assert.equal(seen.size, 250_000);
  });

  it('is seeded per process: another process digests the same quote differently', () => {
    const script = `import('${new URL('../../src/relay/quote-digest.js', import.meta.url).href}').then((m) => console.log(m.quoteDigest(new Uint8Array(64))))`;
    const run = (): string => spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' }).stdout.trim();
    const digests = new Set([run(), run(), run()]);
    assert.ok(![...digests].includes(''), 'the child printed a digest');
    assert.ok(digests.size >= 2, `three processes gave ${[...digests].join(', ')}`);
  });
});
