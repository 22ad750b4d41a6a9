import type { ConnectionReport } from '../engine/connection-report.js';
import type { TestEvidence } from './test-result.js';
import { familyName } from '../packet/ip-family.js';

/** The evidence fields of docs/verdicts.md, from the engine's report of the connection. */
export function connectionEvidence(r: ConnectionReport, testMtu: number): TestEvidence {
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
