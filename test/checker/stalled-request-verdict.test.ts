import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IcmpObservation } from '../../src/checker/icmp-verdict.js';
import { stalledFragVerdict, stalledIcmpVerdict, testOfStalledRequest } from '../../src/checker/stalled-request-verdict.js';
import type { RequestStall } from '../../src/checker/test-result.js';

const REACTION_WINDOW = 2000;
const MIN_UPLOAD = 4096;

function seen(o: Partial<IcmpObservation>): IcmpObservation {
  return { oversized: 0, oversizedWithoutDf: 0, packetTooBigSent: 0, reactionMs: null, ...o };
}

function stall(s: Partial<RequestStall>): RequestStall {
  return { bytesReceived: 0, bytesSeen: 0, requestLineSeen: false, ...s };
}

describe('testOfStalledRequest', () => {
  it('is the test the engine read from the request line, however little arrived', () => {
    assert.equal(testOfStalledRequest('icmp', 0, MIN_UPLOAD), 'icmp');
    assert.equal(testOfStalledRequest('frag', 90, MIN_UPLOAD), 'frag');
  });

  it('is /icmp for an unread request whose bytes reach at least the smallest upload, bounds included', () => {
    assert.equal(testOfStalledRequest('unread', 8253, MIN_UPLOAD), 'icmp');
    assert.equal(testOfStalledRequest('unread', MIN_UPLOAD, MIN_UPLOAD), 'icmp');
  });

  it('is no test for a shorter unread request, nothing at all, or a request line that asked for none', () => {
    assert.equal(testOfStalledRequest('unread', MIN_UPLOAD - 1, MIN_UPLOAD), undefined);
    assert.equal(testOfStalledRequest('unread', 0, MIN_UPLOAD), undefined);
    assert.equal(testOfStalledRequest('other', 100_000, MIN_UPLOAD), undefined);
  });
});

describe('stalledIcmpVerdict', () => {
  it('blackhole: nothing dropped by the server, and later bytes arrived while earlier ones never did', () => {
    assert.equal(stalledIcmpVerdict(seen({}), stall({ bytesReceived: 0, bytesSeen: 8253 }), REACTION_WINDOW), 'blackhole');
    assert.equal(stalledIcmpVerdict(seen({}), stall({ bytesReceived: 1448, bytesSeen: 1449, requestLineSeen: true }), REACTION_WINDOW), 'blackhole');
  });

  it('inconclusive, not blackhole, when nothing arrived past the stall: a client that stopped sending looks the same', () => {
    assert.equal(stalledIcmpVerdict(seen({}), stall({ bytesReceived: 2000, bytesSeen: 2000, requestLineSeen: true }), REACTION_WINDOW), 'inconclusive');
    assert.equal(stalledIcmpVerdict(seen({}), stall({}), REACTION_WINDOW), 'inconclusive');
  });

  it("packets the server dropped decide as for a complete upload, whatever the stall's bytes say", () => {
    const gap = stall({ bytesReceived: 100, bytesSeen: 8000, requestLineSeen: true });
    assert.equal(stalledIcmpVerdict(seen({ oversized: 9, packetTooBigSent: 9 }), gap, REACTION_WINDOW), 'blackhole');
    assert.equal(stalledIcmpVerdict(seen({ oversized: 9, packetTooBigSent: 9, reactionMs: 40 }), gap, REACTION_WINDOW), 'pass');
    assert.equal(stalledIcmpVerdict(seen({ oversized: 9, packetTooBigSent: 9, reactionMs: 13_100 }), gap, REACTION_WINDOW), 'pass-probing');
    // Every Packet Too Big held back by the rate limits: nothing was tested, gap or not.
    assert.equal(stalledIcmpVerdict(seen({ oversized: 9, packetTooBigSent: 0 }), gap, REACTION_WINDOW), 'inconclusive');
    assert.equal(stalledIcmpVerdict(seen({ oversizedWithoutDf: 3 }), gap, REACTION_WINDOW), 'no-df');
  });
});

describe('stalledFragVerdict', () => {
  it('is inconclusive: the response, the only thing /frag sends as fragments, never went out', () => {
    assert.equal(stalledFragVerdict(), 'inconclusive');
  });
});
