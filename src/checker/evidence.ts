import type { ConnectionReport } from '../engine/connection-report.js';
import type { TestEvidence } from './test-result.js';
import { familyName } from '../packet/ip-family.js';

/** The evidence fields of docs/verdicts.md, from the engine's report of the connection. */
export function connectionEvidence(r: ConnectionReport, testMtu: number): TestEvidence {
  const { download } = r;
  if (download === null) return clientEvidence(r, testMtu);
  // /download: what the client did is not the point (a connection runs one test, so it has no /icmp or /frag part);
  // the server's segments are, and the test MTU is their full size.
  const { reactionMs, retransmissions } = download;
  return {
    ...clientEvidence(r, download.fullSize ?? download.largestBeforeSignal),
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

/** The evidence of what the client sent and how it reacted (/icmp, /frag). */
function clientEvidence(r: ConnectionReport, testMtu: number): TestEvidence {
  const { icmp, frag } = r;
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
