import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explain } from '../../src/checker/explain.js';
import { renderTextReport } from '../../src/checker/report-text.js';
import type { RequestStall, TestEvidence } from '../../src/checker/test-result.js';
import { sampleResult } from './results-fixtures.js';

function stalledEvidence(stall: RequestStall, changes: Partial<TestEvidence> = {}): TestEvidence {
  return {
    ...sampleResult().evidence,
    largestClientPacket: 1065,
    largestPacketAfterReaction: null,
    oversizedPackets: 0,
    packetTooBigSent: 0,
    retransmissions: 0,
    reactionMs: null,
    durationMs: 11_026,
    requestStall: stall,
    ...changes,
  };
}

describe('explanations of a stalled request', () => {
  it('blackhole without a request line: what arrived, what did not, and that the server dropped nothing', () => {
    const e = stalledEvidence({ bytesReceived: 0, bytesSeen: 8253, requestLineSeen: false });
    const { explanation, advice } = explain('icmp', 'blackhole', e, 10_000);
    assert.equal(
      explanation,
      'In 11 s not even the start of your request reached the server (it took the upload for this test, the only one that takes a body), although later bytes of it (up to byte 8253) did arrive, in packets of at most 1065 bytes: your larger packets (the MSS you announced allows 1500 bytes) are lost before they reach the server, and your host did not switch to smaller ones, so its large uploads stall: a PMTU black hole on your side of the path. The server dropped nothing and sent no Packet Too Big itself.',
    );
    assert.match(advice[0] ?? '', /^`ping -M do -s 1472 -c 3 10\.0\.2\.2`/);
  });

  it('inconclusive when nothing arrived past the stall: it says the server cannot tell', () => {
    const e = stalledEvidence({ bytesReceived: 2000, bytesSeen: 2000, requestLineSeen: true }, { family: 'ipv6', serverAddress: 'fd00::2' });
    const { explanation, advice } = explain('icmp', 'inconclusive', e, 10_000);
    assert.match(explanation, /^In 11 s only the first 2000 bytes of your request reached the server in order and nothing after them .*cannot tell which/);
    assert.match(advice[0] ?? '', /^`ping -6 -M do -s 1452 -c 3 fd00::2`/);
  });

  it('/frag: nothing was tested, because the server never answered', () => {
    const e = stalledEvidence({ bytesReceived: 1448, bytesSeen: 2100, requestLineSeen: true }, { testMtu: 576 });
    assert.match(explain('frag', 'inconclusive', e, 10_000).explanation, /up to byte 2100.*nothing was sent as fragments and nothing was tested\.$/);
  });

  it('/download: the stalled request is told, not the download rows it never had', () => {
    const e = stalledEvidence({ bytesReceived: 1448, bytesSeen: 2100, requestLineSeen: true }, { testMtu: 0 });
    const said = explain('download', 'inconclusive', e, 10_000).explanation;
    assert.match(said, /up to byte 2100.*no full-size response was sent and nothing was tested\.$/);
    assert.doesNotMatch(said, /fragments/);
  });

  it('packets the server dropped keep the usual explanation, and the report shows the stall rows', () => {
    const e = stalledEvidence({ bytesReceived: 150, bytesSeen: 8253, requestLineSeen: true }, { oversizedPackets: 6, packetTooBigSent: 6 });
    const { explanation, advice } = explain('icmp', 'blackhole', e, 10_000);
    assert.match(explanation, /^Your host kept sending packets larger than 905 bytes/);
    const text = renderTextReport({ ...sampleResult(), verdict: 'blackhole', explanation, advice, evidence: e });
    assert.match(text, /\n {2}request line seen +yes\n {2}request bytes received in order +150\n {2}highest request byte that arrived +8253\n/);
    assert.match(text, /\nRESULT: blackhole\n$/);
  });

  it('a complete request has no stall rows', () => {
    assert.doesNotMatch(renderTextReport(sampleResult()), /request line seen/);
  });
});
