import { type CapturedPacket, capturedPacket } from './captured-packet.js';

/**
 * Captured packets packed into two transferable buffers, so that a run of them can be handed to a worker thread
 * without structured cloning of a thousand objects: the packets' bytes back to back, and a table of their record
 * fields. Interface names, few and repeated, travel as a table of their own.
 */
export interface PackedPackets {
  /** The data of every packet, back to back. */
  readonly bytes: ArrayBuffer;
  /** FIELDS numbers per packet (see the F_ constants). */
  readonly table: Float64Array;
  readonly count: number;
  /** The distinct interface names of these packets; the table gives an index into it, -1 for none. */
  readonly names: readonly string[];
}

const F_LINK_TYPE = 0;
const F_INTERFACE = 1;
const F_ORIGINAL_LENGTH = 2;
const F_START = 3;
const F_LENGTH = 4;
/** Timestamps are split so that each part is exact in a double: whole seconds, then nanoseconds. */
const F_SECONDS = 5;
const F_NANOSECONDS = 6;
const F_NAME = 7;
const FIELDS = 8;
const NS_PER_S = 1_000_000_000n;

/** Copies `packets` into a PackedPackets; its buffers may then be transferred. */
export function packPackets(packets: readonly CapturedPacket[]): PackedPackets {
  let total = 0;
  for (const p of packets) total += p.data.length;
  const bytes = new Uint8Array(total);
  const table = new Float64Array(packets.length * FIELDS);
  const names: string[] = [];
  let at = 0;
  for (let i = 0; i < packets.length; i++) {
    const p = packets[i]!;
    const row = i * FIELDS;
    bytes.set(p.data, at);
    table[row + F_LINK_TYPE] = p.linkType;
    table[row + F_INTERFACE] = p.interfaceId;
    table[row + F_ORIGINAL_LENGTH] = p.originalLength;
    table[row + F_START] = at;
    table[row + F_LENGTH] = p.data.length;
    table[row + F_SECONDS] = Number(p.timestampNs / NS_PER_S);
    table[row + F_NANOSECONDS] = Number(p.timestampNs % NS_PER_S);
    let name = -1;
    if (p.interfaceName !== undefined) {
      name = names.indexOf(p.interfaceName);
      if (name < 0) name = names.push(p.interfaceName) - 1;
    }
    table[row + F_NAME] = name;
    at += p.data.length;
  }
  return { bytes: bytes.buffer, table, count: packets.length, names };
}

/** The packets of a PackedPackets, as the reader handed them out (data views the packed bytes). */
export function unpackPackets(packed: PackedPackets): CapturedPacket[] {
  const out: CapturedPacket[] = new Array<CapturedPacket>(packed.count);
  const t = packed.table;
  for (let i = 0; i < packed.count; i++) {
    const row = i * FIELDS;
    const name = t[row + F_NAME]!;
    out[i] = capturedPacket(
      t[row + F_LINK_TYPE]!,
      t[row + F_INTERFACE]!,
      BigInt(t[row + F_SECONDS]!) * NS_PER_S + BigInt(t[row + F_NANOSECONDS]!),
      t[row + F_ORIGINAL_LENGTH]!,
      new Uint8Array(packed.bytes, t[row + F_START], t[row + F_LENGTH]),
      name < 0 ? undefined : packed.names[name],
    );
  }
  return out;
}
