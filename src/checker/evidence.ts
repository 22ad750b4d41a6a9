import type { TrackedConnection } from '../engine/tracked-connection.js';
import type { TestEvidence } from './test-result.js';

function since(from: number | undefined, to: number | undefined): number | null {
  return from === undefined || to === undefined ? null : Math.round(to - from);
}

/** The evidence fields of the design brief, read off the engine's record of the connection at time `now`. */
export function connectionEvidence(c: TrackedConnection, testMtu: number, now: number): TestEvidence {
  const icmp = c.icmp;
  const frag = c.frag;
  return {
    family: c.family === 4 ? 'ipv4' : 'ipv6',
    clientAddress: c.clientAddress,
    clientPort: c.clientPort,
    serverAddress: c.serverAddress,
    serverPort: c.serverPort,
    clientMss: c.clientMss,
    largestClientPacket: c.largestClientPacket,
    largestPacketAfterReaction: icmp?.largestAfterReaction ?? null,
    testMtu,
    oversizedPackets: icmp?.oversized ?? 0,
    oversizedWithoutDf: icmp?.oversizedWithoutDf ?? 0,
    packetTooBigSent: icmp?.packetTooBigSent ?? 0,
    packetTooBigSuppressed: icmp?.packetTooBigSuppressed ?? 0,
    segmentsFragmented: frag?.segmentsFragmented ?? 0,
    fragmentsSent: frag?.fragmentsSent ?? 0,
    retransmissions: frag !== undefined ? frag.retransmissions : c.clientRetransmissions,
    reactionMs: icmp !== undefined ? since(icmp.firstInterventionAt, icmp.reactionAt) : since(frag?.firstInterventionAt, frag?.reactionAt),
    durationMs: Math.round(now - c.openedAt),
  };
}
