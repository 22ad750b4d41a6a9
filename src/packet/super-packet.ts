import type { DecodedFrame, Layer } from './frame.js';

/**
 * The largest MTU in common use on Ethernet: jumbo frames are mostly configured at 9000 bytes, and 9216 is the largest
 * MTU most switch vendors accept on a port.
 */
export const LARGEST_COMMON_MTU = 9216;

/** ARPHRD_LOOPBACK, the device type of `lo` in a cooked (SLL, SLL2) header. */
export const ARPHRD_LOOPBACK = 772;
const NO_MAC = '00:00:00:00:00:00';

export interface SuperPacket {
  /** The IP packet's length as its header gives it. */
  readonly ipLength: number;
  /** The length it exceeds: the link MTU given, or LARGEST_COMMON_MTU. */
  readonly limit: number;
}

/**
 * An IP packet longer than the MTU of the link it was captured on never crossed that link as one packet: the capture
 * saw it before the kernel or the NIC cut it into segments (GSO and TSO, on the sender; tcpdump there sees TCP
 * segments of up to 64 KiB) or after they merged received segments (GRO, on the receiver).
 *
 * Capture files do not record the MTU of a link. Given `linkMtu` (the largest MTU of the links captured), packets
 * longer than it count; without it only packets longer than LARGEST_COMMON_MTU do, which no link in common use
 * carries whole, so that the mark is never a false alarm (at the price of missing smaller super-packets, e.g. two
 * 1448-byte segments merged). Loopback carries packets up to 65536 bytes, so its packets never count: `lo` is known by
 * its cooked header's device type or, in an Ethernet capture, by its all-zero MAC addresses. Only the outermost IP
 * packet is looked at: an inner (tunnelled) one is shorter, a quoted one did not cross this link.
 */
export function superPacket(frame: DecodedFrame, linkMtu?: number): SuperPacket | undefined {
  const first = frame.layers[0];
  if (first === undefined || isLoopback(first)) return undefined;
  for (const ip of frame.layers) {
    if (ip.protocol !== 'ipv4' && ip.protocol !== 'ipv6') continue;
    if (ip.quoted) return undefined;
    const ipLength = ip.protocol === 'ipv4' ? 20 + ip.repr.options.length + ip.repr.payloadLength : 40 + ip.repr.payloadLength;
    const limit = linkMtu ?? LARGEST_COMMON_MTU;
    return ipLength > limit ? { ipLength, limit } : undefined;
  }
  return undefined;
}

function isLoopback(link: Layer): boolean {
  switch (link.protocol) {
    case 'sll':
    case 'sll2':
      return link.repr.arphrdType === ARPHRD_LOOPBACK;
    case 'ethernet':
      return link.repr.src === NO_MAC && link.repr.dst === NO_MAC;
    case 'null':
      return true;
    default:
      return false;
  }
}
