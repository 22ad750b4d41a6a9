import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { seqBefore, seqOffset } from '../../src/engine/sequence.js';

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });

describe('sequence numbers', () => {
  it('seqOffset counts from the ISN across the wrap', () => {
    assert.equal(seqOffset(5, 0xffff_fffb), 10);
    assert.equal(seqOffset(0, 2 ** 32), 0, 'ISN + 1 past 2^32 as the engine computes it');
    assert.equal(seqOffset(0xffff_ffff, 0xffff_ffff), 0);
  });

  it('property: seqOffset inverts adding an offset below 2^32', () => {
    fc.assert(fc.property(u32, u32, (isn, offset) => seqOffset((isn + offset) >>> 0, isn) === offset));
  });

  it('seqBefore is the RFC 793 modular comparison', () => {
    assert.equal(seqBefore(1, 2), true);
    assert.equal(seqBefore(2, 1), false);
    assert.equal(seqBefore(1, 1), false);
    assert.equal(seqBefore(0xffff_fff0, 0x10), true, 'across the wrap');
    assert.equal(seqBefore(0x10, 0xffff_fff0), false);
  });
});
