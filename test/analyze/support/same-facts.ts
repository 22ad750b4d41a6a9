/** Both ways of reading a packet's facts (the fast path and the full decoder) compared, for tests. */
import assert from 'node:assert/strict';
import { decodedPacketFacts, type FactsOptions, fastPacketFacts, type PacketFacts } from '../../../src/analyze/packet-facts.js';
import type { CapturedPacket } from '../../../src/capture/captured-packet.js';

/** The public facts without `decoded` (decoded lazily by one path, eagerly by the other). */
export function plainFacts(f: PacketFacts): Record<string, unknown> {
  const { frame, timeUs, interface: iface, direction, wireLength, capturedLength, snapped, superPacket, zeroIpLength, checksumOffload, outer, inner, tunnel, tcp, udp, icmp, malformed } = f;
  return { frame, timeUs, iface, direction, wireLength, capturedLength, snapped, superPacket, zeroIpLength, checksumOffload, outer, inner, tunnel, tcp, udp, icmp, malformed };
}

/** Whether the fast path answered; throws (assert) when its facts differ from the decoder's. */
export function assertSameFacts(packet: CapturedPacket, frame: number, options: FactsOptions = {}): boolean {
  const fast = fastPacketFacts(packet, frame, options);
  if (fast === undefined) return false;
  const slow = decodedPacketFacts(packet, frame, options);
  assert.deepEqual(plainFacts(fast), plainFacts(slow));
  if (fast.tunnel === undefined) assert.equal(fast.outer, fast.inner);
  else assert.notEqual(fast.outer, fast.inner);
  assert.deepEqual(fast.decoded, slow.decoded);
  return true;
}

