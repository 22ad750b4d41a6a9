import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type FragObservation, fragVerdict } from '../../src/checker/frag-verdict.js';

function seen(o: Partial<FragObservation>): FragObservation {
  return { fragmentsSent: 9, outcome: null, ...o };
}

describe('fragVerdict', () => {
  it('pass: the engine saw data acknowledged that reached the client only as fragments', () => {
    assert.equal(fragVerdict(seen({ outcome: 'pass' })), 'pass');
  });

  it('blocked: fragments sent and never acknowledged', () => {
    assert.equal(fragVerdict(seen({ outcome: 'blocked' })), 'blocked');
  });

  it('inconclusive, never blocked, when no fragment was sent: the rate limits held back every one', () => {
    assert.equal(fragVerdict(seen({ outcome: 'inconclusive', fragmentsSent: 0 })), 'inconclusive');
    // Even an engine that called it "blocked" is not believed without fragments sent.
    assert.equal(fragVerdict(seen({ outcome: 'blocked', fragmentsSent: 0 })), 'inconclusive');
  });

  it('inconclusive when the engine ran no /frag test on the connection, or gave no outcome', () => {
    assert.equal(fragVerdict(null), 'inconclusive');
    assert.equal(fragVerdict(seen({ outcome: null })), 'inconclusive');
  });
});
