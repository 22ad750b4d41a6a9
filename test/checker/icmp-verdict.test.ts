import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type IcmpObservation, icmpVerdict } from '../../src/checker/icmp-verdict.js';

const WINDOW = 2000;

function seen(o: Partial<IcmpObservation>): IcmpObservation {
  return { oversized: 0, oversizedWithoutDf: 0, packetTooBigSent: 0, reactionMs: null, ...o };
}

describe('icmpVerdict', () => {
  it('inconclusive: nothing larger than the test MTU was sent', () => {
    assert.equal(icmpVerdict(seen({}), WINDOW), 'inconclusive');
  });

  it('no-df: oversized packets came only without DF', () => {
    assert.equal(icmpVerdict(seen({ oversizedWithoutDf: 5 }), WINDOW), 'no-df');
  });

  it('blackhole: oversized DF packets and no reaction', () => {
    assert.equal(icmpVerdict(seen({ oversized: 12, packetTooBigSent: 12 }), WINDOW), 'blackhole');
  });

  it('pass: a reaction within the reaction window, its end included', () => {
    for (const reactionMs of [0, 1, WINDOW - 1, WINDOW]) {
      assert.equal(icmpVerdict(seen({ oversized: 1, packetTooBigSent: 1, reactionMs }), WINDOW), 'pass', `${reactionMs} ms`);
    }
  });

  it('pass-probing: a reaction after the reaction window', () => {
    for (const reactionMs of [WINDOW + 1, 9000]) {
      assert.equal(icmpVerdict(seen({ oversized: 4, packetTooBigSent: 4, reactionMs }), WINDOW), 'pass-probing', `${reactionMs} ms`);
    }
  });

  it('DF packets decide over non-DF ones', () => {
    assert.equal(icmpVerdict(seen({ oversized: 1, oversizedWithoutDf: 3, packetTooBigSent: 1, reactionMs: 10 }), WINDOW), 'pass');
    assert.equal(icmpVerdict(seen({ oversized: 1, oversizedWithoutDf: 3, packetTooBigSent: 1 }), WINDOW), 'blackhole');
  });

  it('is inconclusive, not blackhole, when the rate limit held back every Packet Too Big', () => {
    assert.equal(icmpVerdict(seen({ oversized: 9, packetTooBigSent: 0 }), WINDOW), 'inconclusive');
    assert.equal(icmpVerdict(seen({ oversized: 9, packetTooBigSent: 1 }), WINDOW), 'blackhole');
  });
});
