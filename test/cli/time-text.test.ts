import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { epochText } from '../../src/cli/time-text.js';
import { prng } from '../support/prng.js';

/** The plain definition: whole seconds, a point, nine digits of nanoseconds. */
function byDivision(ns: bigint): string {
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
}

describe('epochText', () => {
  it('prints seconds with all nine digits of nanoseconds, at the edges too', () => {
    assert.equal(epochText(0n), '0.000000000');
    assert.equal(epochText(999_999_999n), '0.999999999');
    assert.equal(epochText(1_000_000_000n), '1.000000000');
    assert.equal(epochText(1_700_000_000_000_000_001n), '1700000000.000000001');
    assert.equal(epochText(18_446_744_073_709_551_615n), '18446744073.709551615');
  });

  it('agrees with the definition on random timestamps of every magnitude', () => {
    const random = prng(3);
    for (let i = 0; i < 20_000; i++) {
      const ns = BigInt(Math.floor(random() * 2 ** 32)) * BigInt(Math.floor(random() * 2 ** (i % 33)));
      assert.equal(epochText(ns), byDivision(ns), String(ns));
    }
  });
});
