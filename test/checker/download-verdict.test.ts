import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DownloadObservation, downloadVerdict } from '../../src/checker/download-verdict.js';

const RETRANSMISSIONS = 3;

function seen(o: Partial<DownloadObservation>): DownloadObservation {
  return {
    fullSize: 1500,
    fullSizeSegments: 0,
    fullSizeAcknowledged: 0,
    fullSizeRetransmissions: 0,
    packetTooBigReceived: 0,
    reportedMtu: null,
    reactionMs: null,
    ...o,
  };
}

describe('downloadVerdict', () => {
  it('pass: a Packet Too Big announcing less than a full-size segment, and the server re-sent the data in packets that fit', () => {
    assert.equal(downloadVerdict(seen({ fullSizeSegments: 10, packetTooBigReceived: 1, reportedMtu: 1400, reactionMs: 0 }), RETRANSMISSIONS), 'pass');
    assert.equal(downloadVerdict(seen({ fullSizeSegments: 10, packetTooBigReceived: 6, reportedMtu: 1499, reactionMs: 35 }), RETRANSMISSIONS), 'pass');
  });

  it('not pass: a Packet Too Big arrived but the segments did not shrink', () => {
    assert.equal(downloadVerdict(seen({ fullSizeSegments: 10, packetTooBigReceived: 1, reportedMtu: 1400 }), RETRANSMISSIONS), 'inconclusive');
  });

  it('not pass: a Packet Too Big that announces no smaller MTU than a full-size segment', () => {
    for (const reportedMtu of [1500, 9000]) {
      assert.equal(downloadVerdict(seen({ fullSizeSegments: 10, packetTooBigReceived: 1, reportedMtu, reactionMs: 5 }), RETRANSMISSIONS), 'inconclusive', String(reportedMtu));
    }
    assert.equal(downloadVerdict(seen({ fullSize: null, fullSizeSegments: 0, packetTooBigReceived: 1, reportedMtu: 1400, reactionMs: 5 }), RETRANSMISSIONS), 'inconclusive');
  });

  it('not clear: a Packet Too Big arrived, even with full-size segments acknowledged', () => {
    assert.equal(downloadVerdict(seen({ fullSizeSegments: 10, fullSizeAcknowledged: 3, packetTooBigReceived: 1, reportedMtu: 1400 }), RETRANSMISSIONS), 'inconclusive');
  });

  it('clear: a full-size segment was acknowledged and no Packet Too Big arrived', () => {
    assert.equal(downloadVerdict(seen({ fullSizeSegments: 10, fullSizeAcknowledged: 1 }), RETRANSMISSIONS), 'clear');
    assert.equal(downloadVerdict(seen({ fullSizeSegments: 44, fullSizeAcknowledged: 40, fullSizeRetransmissions: 4 }), RETRANSMISSIONS), 'clear');
  });

  it('blackhole: full-size segments retransmitted the set number of times, none acknowledged, no Packet Too Big', () => {
    for (const fullSizeRetransmissions of [RETRANSMISSIONS, RETRANSMISSIONS + 5]) {
      assert.equal(downloadVerdict(seen({ fullSizeSegments: 13, fullSizeRetransmissions }), RETRANSMISSIONS), 'blackhole', String(fullSizeRetransmissions));
    }
  });

  it('inconclusive: too few retransmissions to call a black hole', () => {
    for (const fullSizeRetransmissions of [0, RETRANSMISSIONS - 1]) {
      assert.equal(downloadVerdict(seen({ fullSizeSegments: 10, fullSizeRetransmissions }), RETRANSMISSIONS), 'inconclusive', String(fullSizeRetransmissions));
    }
  });

  it('inconclusive: no full-size segment was sent (the segments started small), whatever was acknowledged', () => {
    assert.equal(downloadVerdict(seen({ fullSizeSegments: 0 }), RETRANSMISSIONS), 'inconclusive');
    assert.equal(downloadVerdict(seen({ fullSize: null, fullSizeSegments: 0 }), RETRANSMISSIONS), 'inconclusive');
  });

  it('inconclusive: the engine did not run the test', () => {
    assert.equal(downloadVerdict(null, RETRANSMISSIONS), 'inconclusive');
  });
});
