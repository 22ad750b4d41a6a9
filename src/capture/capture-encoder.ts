/**
 * What an encoder needs of a packet. A CapturedPacket fits: packets read from one capture can be written
 * to another (capturedLength is ignored; data.length is what gets written, cut to the snaplen).
 */
export interface PacketToWrite {
  readonly timestampNs: bigint;
  readonly data: Uint8Array;
  /** Defaults to data.length. */
  readonly originalLength?: number;
  /** pcapng interface index; defaults to 0. pcap has a single link type and ignores it. */
  readonly interfaceId?: number;
  /** When present it must match the file's (pcap) or the interface's (pcapng) link type. */
  readonly linkType?: number;
  /** pcapng only: the packet's opt_comment (UTF-8, at most 65535 bytes); pcap has nowhere to put it and ignores it. */
  readonly comment?: string;
}

/**
 * A pure capture-format encoder: bytes in, bytes out, no I/O. Throws RangeError for a packet or option
 * the format cannot represent (a programming error, like the packet emitters).
 */
export interface CaptureEncoder {
  /** The bytes that start the file (pcap file header; pcapng section header and interfaces). */
  fileHeader(): Uint8Array;
  /** How many bytes encodePacket will write for this packet. */
  encodedLength(packet: PacketToWrite): number;
  /** Writes the packet's record at out[offset] and returns the offset after it. */
  encodePacket(packet: PacketToWrite, out: Uint8Array, offset: number): number;
}

export function put32(b: Uint8Array, o: number, v: number, littleEndian: boolean): void {
  if (littleEndian) {
    b[o] = v & 0xff;
    b[o + 1] = (v >>> 8) & 0xff;
    b[o + 2] = (v >>> 16) & 0xff;
    b[o + 3] = (v >>> 24) & 0xff;
  } else {
    b[o] = (v >>> 24) & 0xff;
    b[o + 1] = (v >>> 16) & 0xff;
    b[o + 2] = (v >>> 8) & 0xff;
    b[o + 3] = v & 0xff;
  }
}

export function put16(b: Uint8Array, o: number, v: number, littleEndian: boolean): void {
  if (littleEndian) {
    b[o] = v & 0xff;
    b[o + 1] = (v >>> 8) & 0xff;
  } else {
    b[o] = (v >>> 8) & 0xff;
    b[o + 1] = v & 0xff;
  }
}

export function checkU32(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${what} ${v} is not a 32-bit unsigned integer`);
}

export function checkU16(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${what} ${v} is not a 16-bit unsigned integer`);
}

/** Bytes of `packet` that fit the snaplen (0 = unlimited). */
export function capturedBytes(packet: PacketToWrite, snaplen: number): Uint8Array {
  return snaplen !== 0 && packet.data.length > snaplen ? packet.data.subarray(0, snaplen) : packet.data;
}
