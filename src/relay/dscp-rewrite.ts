import { finishChecksum, sum16 } from '../packet/checksum.js';

/**
 * A copy of an IP packet (IPv4 or IPv6, by its version nibble) with its DSCP set to `dscp` and its ECN bits kept; an
 * IPv4 header checksum is computed again. Undefined for bytes too short for the fixed header or of another version.
 */
export function withDscp(packet: Uint8Array, dscp: number): Uint8Array | undefined {
  const version = packet.length === 0 ? 0 : packet[0]! >> 4;
  const copy = packet.slice();
  if (version === 4) {
    const headerLength = (copy[0]! & 0x0f) * 4;
    if (headerLength < 20 || copy.length < headerLength) return undefined;
    copy[1] = ((dscp & 0x3f) << 2) | (copy[1]! & 0x03);
    copy[10] = 0;
    copy[11] = 0;
    const sum = finishChecksum(sum16(copy, 0, headerLength));
    copy[10] = sum >> 8;
    copy[11] = sum & 0xff;
    return copy;
  }
  if (version === 6) {
    if (copy.length < 40) return undefined;
    const trafficClass = ((copy[0]! & 0x0f) << 4) | (copy[1]! >> 4);
    const next = ((dscp & 0x3f) << 2) | (trafficClass & 0x03);
    copy[0] = 0x60 | (next >> 4);
    copy[1] = ((next & 0x0f) << 4) | (copy[1]! & 0x0f);
    return copy;
  }
  return undefined;
}
