import type { PacketTimeline } from '../../src/engine/timeline-event.js';
import type { TestEvidence, TestResult } from '../../src/checker/test-result.js';

export type ResultChanges = Partial<Omit<TestResult, 'evidence'>> & { readonly evidence?: Partial<TestEvidence> };

/** A plausible /icmp pass from an IPv4 client; `changes` override any field, evidence fields one by one. */
export function sampleResult(changes: ResultChanges = {}): TestResult {
  const evidence: TestEvidence = {
    family: 'ipv4',
    clientAddress: '10.1.2.3',
    clientPort: 54321,
    serverAddress: '10.0.2.2',
    serverPort: 8080,
    clientMss: 1460,
    largestClientPacket: 1500,
    largestPacketAfterReaction: 905,
    testMtu: 905,
    oversizedPackets: 4,
    oversizedWithoutDf: 0,
    packetTooBigSent: 2,
    packetTooBigSuppressed: 0,
    segmentsFragmented: 0,
    fragmentsSent: 0,
    fragmentsSuppressed: 0,
    retransmissions: 3,
    reactionMs: 1.25,
    durationMs: 812,
    ...changes.evidence,
  };
  return {
    test: 'icmp',
    verdict: 'pass',
    explanation: 'Your host lowered its path MTU when told to, and re-sent the data in packets that fit.',
    advice: ['Nothing to change.'],
    startedAt: '2024-05-01T10:00:00.000Z',
    ...changes,
    evidence,
  };
}

/** A clock that starts at `start` and moves one second on each call, so that every run gets its own time. */
export function steppingClock(start = '2024-05-01T10:00:00.000Z'): () => Date {
  let t = Date.parse(start);
  return () => {
    const now = new Date(t);
    t += 1000;
    return now;
  };
}

/** The timeline of an /icmp pass: the request, two segments dropped with a Packet Too Big, their data again in 905-byte packets. */
export function sampleTimeline(): PacketTimeline {
  return {
    events: [
      { atMs: 1.5, direction: 'in', ipLength: 221, df: true, action: 'accepted', retransmission: false, offset: 0, length: 181 },
      { atMs: 2, direction: 'in', ipLength: 1500, df: true, action: 'dropped-ptb-sent', retransmission: false, offset: 181, length: 1460, mtu: 905 },
      { atMs: 2.25, direction: 'in', ipLength: 1500, df: true, action: 'dropped-ptb-sent', retransmission: false, offset: 1641, length: 1460, mtu: 905 },
      { atMs: 4, direction: 'in', ipLength: 905, df: true, action: 'accepted', retransmission: true, offset: 181, length: 865 },
      { atMs: 4.5, direction: 'in', ipLength: 905, df: true, action: 'accepted', retransmission: true, offset: 1046, length: 865 },
    ],
    omitted: 0,
    reactionAtMs: 4,
  };
}
