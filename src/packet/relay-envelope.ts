/**
 * The relay envelope: the UDP payload in which one `mtuscope relay` hands a Packet Too Big to a peer relay.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      'M'      |      'T'      |      'U'      |      'R'      |  magic, bytes 0-3
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  version = 1  |  flags      |R|     hop count (reserved) = 0  |  bytes 4-7
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  the IP packet (IPv4 or IPv6) of the Packet Too Big, as the    |  byte 8 to the end of the payload
 * |  sending relay received it, outer IP header first ...          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * - magic: the ASCII bytes "MTUR" (0x4d 0x54 0x55 0x52).
 * - version: 1. A receiver refuses any other version: a later format may move fields.
 * - flags: bit 0 (R, 0x01) is "relayed": senders always set it. Whatever the flags say, a receiver never relays an
 *   enveloped message again, so a message crosses at most one relay hop and no loop can form between peers. The other
 *   bits are sent as 0 and kept as they came (parse then emit gives the same bytes).
 * - hop count: reserved, always 0; a receiver refuses any other value.
 * - the packet: at least one byte, running to the end of the UDP payload; the envelope carries no length of its own.
 *   Whether it is a Packet Too Big worth relaying is for the receiver's verdict (src/relay/relay-verdict.ts) to say.
 *
 * Like every codec of src/packet: RelayEnvelopePacket.check validates once and its accessors cannot fail afterwards;
 * malformed bytes are a DecodeError naming the field and its offset, never an exception. Emit then parse:
 *
 * ```ts
 * const bytes = emitRelayEnvelope({ flags: RelayEnvelopeFlag.Relayed, packet: ptb });
 * const view = RelayEnvelopePacket.check(bytes);          // { ok: true, value }
 * parseRelayEnvelope(view.value);                          // { flags: 1, packet: <the same bytes as ptb> }
 * ```
 */
import { put16, u16, u32 } from './bytes.js';
import { type Decoded, fail, ok, short } from './result.js';

export const RELAY_ENVELOPE_MAGIC = Uint8Array.of(0x4d, 0x54, 0x55, 0x52);
export const RELAY_ENVELOPE_VERSION = 1;
/** Magic, version, flags and hop count: the bytes before the packet. */
export const RELAY_ENVELOPE_HEADER = 8;

export const RelayEnvelopeFlag = {
  /** Set by every sender: the packet has already been relayed once. */
  Relayed: 0x01,
} as const;

/** Field offsets, named once for the view and the emitter. */
const field = { magic: 0, version: 4, flags: 5, hopCount: 6, packet: RELAY_ENVELOPE_HEADER } as const;

/** Checked view over a relay envelope. */
export class RelayEnvelopePacket {
  private constructor(readonly bytes: Uint8Array) {}

  static check(bytes: Uint8Array): Decoded<RelayEnvelopePacket> {
    if (bytes.length < RELAY_ENVELOPE_HEADER) {
      return short('relay-envelope', 'header', 0, `needs ${RELAY_ENVELOPE_HEADER} bytes, buffer has ${bytes.length}`);
    }
    for (let i = 0; i < RELAY_ENVELOPE_MAGIC.length; i++) {
      if (bytes[field.magic + i] !== RELAY_ENVELOPE_MAGIC[i]) {
        const magic = u32(bytes, field.magic).toString(16).padStart(8, '0');
        return fail('relay-envelope', 'magic', field.magic, `magic is 0x${magic}, not 0x4d545552 ("MTUR")`);
      }
    }
    const version = bytes[field.version]!;
    if (version !== RELAY_ENVELOPE_VERSION) {
      return fail('relay-envelope', 'version', field.version, `version ${version} is unknown; this relay speaks version ${RELAY_ENVELOPE_VERSION}`);
    }
    const hopCount = u16(bytes, field.hopCount);
    if (hopCount !== 0) return fail('relay-envelope', 'hop_count', field.hopCount, `hop count (reserved) is ${hopCount}, not 0`);
    if (bytes.length === RELAY_ENVELOPE_HEADER) {
      return fail('relay-envelope', 'packet', field.packet, `no IP packet after the ${RELAY_ENVELOPE_HEADER}-byte header`);
    }
    return ok(new RelayEnvelopePacket(bytes));
  }

  get version(): number {
    return this.bytes[field.version]!;
  }
  get flags(): number {
    return this.bytes[field.flags]!;
  }
  get relayed(): boolean {
    return (this.flags & RelayEnvelopeFlag.Relayed) !== 0;
  }
  /** The enveloped IP packet: every byte after the header. */
  packet(): Uint8Array {
    return this.bytes.subarray(field.packet);
  }
}

export interface RelayEnvelopeRepr {
  /** The whole flags byte: RelayEnvelopeFlag.Relayed, plus any other bits as received. */
  readonly flags: number;
  /** The Packet Too Big, outer IP header first (parse gives a view into the envelope's bytes, not a copy). */
  readonly packet: Uint8Array;
}

export function parseRelayEnvelope(view: RelayEnvelopePacket): RelayEnvelopeRepr {
  return { flags: view.flags, packet: view.packet() };
}

/** The envelope's bytes; throws RangeError for a repr that cannot be encoded (flags beyond a byte, no packet). */
export function emitRelayEnvelope(repr: RelayEnvelopeRepr): Uint8Array {
  if (!Number.isInteger(repr.flags) || repr.flags < 0 || repr.flags > 0xff) throw new RangeError(`relay envelope flags ${repr.flags} do not fit in a byte`);
  if (repr.packet.length === 0) throw new RangeError('a relay envelope carries a packet of at least one byte');
  const out = new Uint8Array(RELAY_ENVELOPE_HEADER + repr.packet.length);
  out.set(RELAY_ENVELOPE_MAGIC, field.magic);
  out[field.version] = RELAY_ENVELOPE_VERSION;
  out[field.flags] = repr.flags;
  put16(out, field.hopCount, 0);
  out.set(repr.packet, field.packet);
  return out;
}
