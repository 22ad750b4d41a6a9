import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  emitRelayEnvelope,
  parseRelayEnvelope,
  RELAY_ENVELOPE_HEADER,
  RelayEnvelopeFlag,
  RelayEnvelopePacket,
  type RelayEnvelopeRepr,
} from '../../src/packet/relay-envelope.js';
import type { Decoded, DecodeError } from '../../src/packet/result.js';
import { judgePacketTooBig } from '../../src/relay/relay-verdict.js';
import { parseCidrOrAddress } from '../../src/packet/cidr.js';
import { offendingTcp, packetTooBig } from '../relay/relay-packets.js';

function value<T>(d: Decoded<T>): T {
  assert.ok(d.ok, d.ok ? '' : `${d.error.field} at ${d.error.offset}: ${d.error.reason}`);
  return d.value;
}

function error<T>(d: Decoded<T>): DecodeError {
  assert.ok(!d.ok, 'decoded');
  return d.error;
}

const PTB = packetTooBig({ offending: offendingTcp(4, 1500), mtu: 1400 });

describe('relay envelope', () => {
  it('is "MTUR", version 1, the flags, a zero hop count, then the packet: exact bytes', () => {
    const bytes = emitRelayEnvelope({ flags: RelayEnvelopeFlag.Relayed, packet: Uint8Array.of(0x45, 0xaa, 0xbb) });
    assert.deepEqual([...bytes], [0x4d, 0x54, 0x55, 0x52, 1, 1, 0, 0, 0x45, 0xaa, 0xbb]);
    assert.equal(Buffer.from(bytes.subarray(0, 4)).toString('latin1'), 'MTUR');
  });

  it('round-trips a Packet Too Big: the view reads version, flags and the packet, which the relay verdict still relays', () => {
    const bytes = emitRelayEnvelope({ flags: RelayEnvelopeFlag.Relayed, packet: PTB });
    assert.equal(bytes.length, RELAY_ENVELOPE_HEADER + PTB.length);
    const view = value(RelayEnvelopePacket.check(bytes));
    assert.deepEqual([view.version, view.flags, view.relayed], [1, 1, true]);
    assert.deepEqual(view.packet(), PTB);
    const repr = parseRelayEnvelope(view);
    assert.deepEqual(repr, { flags: 1, packet: PTB });
    const served = parseCidrOrAddress('10.99.0.1');
    assert.ok(served);
    assert.equal(judgePacketTooBig(repr.packet, { served: [served] }).ok, true);
  });

  it('a view and its repr read the packet in place, not a copy', () => {
    const bytes = emitRelayEnvelope({ flags: RelayEnvelopeFlag.Relayed, packet: PTB });
    const packet = parseRelayEnvelope(value(RelayEnvelopePacket.check(bytes))).packet;
    assert.equal(packet.buffer, bytes.buffer);
    assert.equal(packet.byteOffset, bytes.byteOffset + RELAY_ENVELOPE_HEADER);
  });

  it('keeps flag bits it does not know, and reads an envelope whose relayed bit is clear (its receiver still never relays it)', () => {
    const bytes = emitRelayEnvelope({ flags: 0x80, packet: PTB });
    const view = value(RelayEnvelopePacket.check(bytes));
    assert.deepEqual([view.flags, view.relayed], [0x80, false]);
    assert.deepEqual(emitRelayEnvelope(parseRelayEnvelope(view)), bytes);
  });

  it('refuses fewer than 8 bytes as short, naming the header', () => {
    for (const n of [0, 1, 7]) {
      assert.deepEqual(error(RelayEnvelopePacket.check(emitRelayEnvelope({ flags: 1, packet: PTB }).subarray(0, n))), {
        protocol: 'relay-envelope',
        field: 'header',
        offset: 0,
        reason: `needs 8 bytes, buffer has ${n}`,
        short: true,
      });
    }
  });

  it('refuses a wrong magic at offset 0, an unknown version at 4, a non-zero hop count at 6, no packet at 8', () => {
    const good = emitRelayEnvelope({ flags: 1, packet: PTB });
    const patched = (offset: number, v: number): Uint8Array => {
      const b = good.slice();
      b[offset] = v;
      return b;
    };
    assert.deepEqual(error(RelayEnvelopePacket.check(patched(3, 0x53))), {
      protocol: 'relay-envelope',
      field: 'magic',
      offset: 0,
      reason: 'magic is 0x4d545553, not 0x4d545552 ("MTUR")',
    });
    assert.deepEqual(error(RelayEnvelopePacket.check(patched(4, 2))), {
      protocol: 'relay-envelope',
      field: 'version',
      offset: 4,
      reason: 'version 2 is unknown; this relay speaks version 1',
    });
    assert.deepEqual(error(RelayEnvelopePacket.check(patched(4, 0))).field, 'version');
    assert.deepEqual(error(RelayEnvelopePacket.check(patched(7, 1))), { protocol: 'relay-envelope', field: 'hop_count', offset: 6, reason: 'hop count (reserved) is 1, not 0' });
    assert.deepEqual(error(RelayEnvelopePacket.check(patched(6, 0x80))).reason, 'hop count (reserved) is 32768, not 0');
    assert.deepEqual(error(RelayEnvelopePacket.check(good.subarray(0, 8))), {
      protocol: 'relay-envelope',
      field: 'packet',
      offset: 8,
      reason: 'no IP packet after the 8-byte header',
    });
    assert.equal(RelayEnvelopePacket.check(good.subarray(0, 9)).ok, true, 'one byte of packet is a packet to the envelope');
  });

  it('the emitter refuses what it cannot encode: flags beyond a byte, an empty packet', () => {
    assert.throws(() => emitRelayEnvelope({ flags: 256, packet: PTB }), RangeError);
    assert.throws(() => emitRelayEnvelope({ flags: -1, packet: PTB }), RangeError);
    assert.throws(() => emitRelayEnvelope({ flags: 1.5, packet: PTB }), RangeError);
    assert.throws(() => emitRelayEnvelope({ flags: 1, packet: new Uint8Array(0) }), /at least one byte/);
  });

  it('property: parse(check(emit(repr))) is repr, and emit(parse(check(bytes))) gives the bytes back', () => {
    const arbRepr: fc.Arbitrary<RelayEnvelopeRepr> = fc.record(
      { flags: fc.integer({ min: 0, max: 255 }), packet: fc.uint8Array({ minLength: 1, maxLength: 1500, size: 'max' }) },
      { noNullPrototype: true },
    );
    fc.assert(
      fc.property(arbRepr, (repr) => {
        const bytes = emitRelayEnvelope(repr);
        const back = parseRelayEnvelope(value(RelayEnvelopePacket.check(bytes)));
        assert.deepEqual({ flags: back.flags, packet: back.packet.slice() }, repr);
        assert.deepEqual(emitRelayEnvelope(back), bytes);
      }),
    );
  });

  it('property: any bytes get a view or an error naming a field of the header, never an exception', () => {
    const arbBytes = fc.oneof(
      fc.uint8Array({ maxLength: 64, size: 'max' }),
      fc.uint8Array({ maxLength: 64, size: 'max' }).map((tail) => Uint8Array.from([0x4d, 0x54, 0x55, 0x52, ...tail])),
      fc.uint8Array({ maxLength: 64, size: 'max' }).map((tail) => Uint8Array.from([0x4d, 0x54, 0x55, 0x52, 1, ...tail])),
    );
    fc.assert(
      fc.property(arbBytes, (bytes) => {
        const d = RelayEnvelopePacket.check(bytes);
        if (d.ok) {
          assert.ok(bytes.length > RELAY_ENVELOPE_HEADER && d.value.version === 1);
          assert.equal(d.value.packet().length, bytes.length - RELAY_ENVELOPE_HEADER);
        } else {
          assert.ok(['header', 'magic', 'version', 'hop_count', 'packet'].includes(d.error.field), d.error.field);
          assert.ok(d.error.offset >= 0 && d.error.offset <= RELAY_ENVELOPE_HEADER);
        }
      }),
    );
  });
});
