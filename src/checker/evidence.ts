import type { ConnectionReport } from '../engine/connection-report.js';
import type { TestEvidence } from './test-result.js';
import { familyName } from '../packet/ip-family.js';

/** The evidence fields of docs/verdicts.md, from the engine's report of the connection. */
export function connectionEvidence(r: ConnectionReport, testMtu: number): TestEvidence {
  const { icmp, frag, download } = r;
  if (download !== null) {
    const { reactionMs, retransmissions } = download;
    return {
      ...commonEvidence(r, download.fullSize ?? download.largestBeforeSignal),
      retransmissions,
      reactionMs,
      download: {
        fullSize: download.fullSize,
        dataSegments: download.dataSegments,
        fullSizeSegments: download.fullSizeSegments,
        fullSizeAcknowledged: download.fullSizeAcknowledged,
        largestAcknowledged: download.largestAcknowledged,
        fullSizeRetransmissions: download.fullSizeRetransmissions,
        largestBeforeSignal: download.largestBeforeSignal,
        packetTooBigReceived: download.packetTooBigReceived,
        router: download.router,
        reportedMtu: download.reportedMtu,
        largestAfterSignal: download.largestAfterSignal,
        rescueMtu: download.rescueMtu,
        flushedBeforeStart: download.flushedBeforeStart,
      },
    };
  }
  return {
    family: familyName(r.family),
    clientAddress: r.clientAddress,
    clientPort: r.clientPort,
    serverAddress: r.serverAddress,
    serverPort: r.serverPort,
    clientMss: r.clientMss,
    largestClientPacket: r.largestClientPacket,
    largestPacketAfterReaction: icmp?.largestAfterReaction ?? null,
    testMtu,
    oversizedPackets: icmp?.oversized ?? 0,
    oversizedWithoutDf: icmp?.oversizedWithoutDf ?? 0,
    packetTooBigSent: icmp?.packetTooBigSent ?? 0,
    packetTooBigSuppressed: icmp?.packetTooBigSuppressed ?? 0,
    segmentsFragmented: frag?.segmentsFragmented ?? 0,
    fragmentsSent: frag?.fragmentsSent ?? 0,
    fragmentsSuppressed: frag?.fragmentsSuppressed ?? 0,
    retransmissions: frag !== null ? frag.retransmissions : r.clientRetransmissions,
    reactionMs: icmp !== null ? icmp.reactionMs : (frag?.reactionMs ?? null),
    durationMs: r.ageMs,
  };
}

/** /download: what the client did is not the point; the server's segments are. */
function commonEvidence(r: ConnectionReport, testMtu: number): TestEvidence {
  return {
    family: familyName(r.family),
    clientAddress: r.clientAddress,
    clientPort: r.clientPort,
    serverAddress: r.serverAddress,
    serverPort: r.serverPort,
    clientMss: r.clientMss,
    largestClientPacket: r.largestClientPacket,
    largestPacketAfterReaction: null,
    testMtu,
    oversizedPackets: 0,
    oversizedWithoutDf: 0,
    packetTooBigSent: 0,
    packetTooBigSuppressed: 0,
    segmentsFragmented: 0,
    fragmentsSent: 0,
    fragmentsSuppressed: 0,
    retransmissions: 0,
    reactionMs: null,
    durationMs: r.ageMs,
  };
}
