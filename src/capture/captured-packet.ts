/** One packet record of a capture file, as the reader hands it out. */
export interface CapturedPacket {
  /** LINKTYPE_* of the packet's interface (pcap: low 16 bits of the header's network field). */
  readonly linkType: number;
  /** Index of the pcapng Interface Description Block within its section; 0 for pcap. */
  readonly interfaceId: number;
  /** Nanoseconds since the Unix epoch. */
  readonly timestampNs: bigint;
  /**
   * The same instant in whole microseconds (rounded down), as a number: what the analyzer works in, which would
   * otherwise divide a BigInt per packet (3% of its time, profiled). Set with timestampNs (capturedPacket); a copy that
   * changes one must change both.
   */
  readonly timeUs: number;
  /** Bytes present in the file, equal to data.length. */
  readonly capturedLength: number;
  /** Length of the packet on the wire, as the capture claims it. */
  readonly originalLength: number;
  /** May be a view into the chunk the reader was handed: copy it to keep it past the batch. */
  readonly data: Uint8Array;
  /** The if_name of the pcapng Interface Description Block (e.g. "eth0", or "any" for tcpdump -i any); pcap has none. */
  readonly interfaceName: string | undefined;
}

/**
 * Every packet object is built here so that all of them share one hidden class: the decode loop that reads >1 million
 * of them stays monomorphic. `timeUs` is given by a parser that has the seconds as a number already.
 */
export function capturedPacket(
  linkType: number,
  interfaceId: number,
  timestampNs: bigint,
  originalLength: number,
  data: Uint8Array,
  interfaceName?: string,
  timeUs: number = Number(timestampNs / 1000n),
): CapturedPacket {
  return { linkType, interfaceId, timestampNs, timeUs, capturedLength: data.length, originalLength, data, interfaceName };
}

/**
 * Where the parsers put the packets they read: an array (a batch), or a consumer that handles each packet as it is
 * parsed (readCapturePackets), so that the packet is garbage before the next one is read.
 */
export interface PacketSink {
  push(packet: CapturedPacket): unknown;
}
