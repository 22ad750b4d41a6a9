import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { emitEthernet, EthernetFrame, type EthernetRepr, parseEthernet, type VlanTag } from '../../src/packet/ethernet.js';
import type { Decoded, DecodeError } from '../../src/packet/result.js';
import { emitSll, parseSll, SllPacket, type SllRepr } from '../../src/packet/sll.js';
import { emitSll2, parseSll2, Sll2Packet, type Sll2Repr } from '../../src/packet/sll2.js';
import { arbMac } from '../support/arbitraries.js';

const TPIDS = [0x8100, 0x88a8, 0x9100];

const arbVlan: fc.Arbitrary<VlanTag> = fc.record(
  {
    tpid: fc.constantFrom(...TPIDS),
    pcp: fc.integer({ min: 0, max: 7 }),
    dei: fc.boolean(),
    vid: fc.integer({ min: 0, max: 0xfff }),
  },
  { noNullPrototype: true },
);

const arbEthernet: fc.Arbitrary<EthernetRepr> = fc.record(
  {
    dst: arbMac,
    src: arbMac,
    vlans: fc.array(arbVlan, { minLength: 0, maxLength: 3 }),
    etherType: fc.integer({ min: 0, max: 0xffff }).filter((t) => !TPIDS.includes(t)),
  },
  { noNullPrototype: true },
);

const arbSll: fc.Arbitrary<SllRepr> = fc.record(
  {
    packetType: fc.integer({ min: 0, max: 0xffff }),
    arphrdType: fc.integer({ min: 0, max: 0xffff }),
    addressLength: fc.integer({ min: 0, max: 0xffff }),
    address: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    protocol: fc.integer({ min: 0, max: 0xffff }),
  },
  { noNullPrototype: true },
);

const arbSll2: fc.Arbitrary<Sll2Repr> = fc.record(
  {
    protocol: fc.integer({ min: 0, max: 0xffff }),
    reserved: fc.integer({ min: 0, max: 0xffff }),
    interfaceIndex: fc.integer({ min: 0, max: 0xffffffff }),
    arphrdType: fc.integer({ min: 0, max: 0xffff }),
    packetType: fc.integer({ min: 0, max: 255 }),
    addressLength: fc.integer({ min: 0, max: 255 }),
    address: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  },
  { noNullPrototype: true },
);

const arbPayload = fc.uint8Array({ minLength: 0, maxLength: 64, size: 'max' });

function errorOf<T>(r: Decoded<T>): DecodeError {
  assert.ok(!r.ok, 'expected a decode error');
  return r.error;
}

/** Every strict prefix must give a value or a `short` error, never a throw or a hard failure. */
function assertPrefixesShortOrOk<T>(full: Uint8Array, check: (b: Uint8Array) => Decoded<T>): void {
  for (let len = 0; len < full.length; len++) {
    const r = check(full.subarray(0, len));
    if (!r.ok) {
      assert.equal(r.error.short, true, `prefix ${len}: ${JSON.stringify(r.error)}`);
      assert.ok(r.error.offset >= 0 && r.error.offset <= len);
    }
  }
}

describe('ethernet', () => {
  it('round-trips frames with 0-3 VLAN tags', () => {
    fc.assert(
      fc.property(arbEthernet, arbPayload, (repr, payload) => {
        const bytes = emitEthernet(repr, payload);
        const v = EthernetFrame.check(bytes);
        assert.ok(v.ok);
        assert.equal(v.value.headerLength, 14 + 4 * repr.vlans.length);
        assert.equal(v.value.etherType, repr.etherType);
        assert.deepEqual(v.value.payload(), payload);
        const parsed = parseEthernet(v.value);
        assert.deepEqual(parsed, repr);
        assert.deepEqual(emitEthernet(parsed, v.value.payload()), bytes);
      }),
      { numRuns: 1000 },
    );
  });

  it('decodes the fields of a known tagged frame', () => {
    const bytes = Uint8Array.from([
      ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
      ...[0x02, 0, 0, 0, 0, 0x0a],
      ...[0x88, 0xa8, 0xb0, 0x64], // S-tag: pcp 5, dei, vid 100
      ...[0x81, 0x00, 0x00, 0x2a], // C-tag: vid 42
      ...[0x86, 0xdd],
      0x60,
    ]);
    const v = EthernetFrame.check(bytes);
    assert.ok(v.ok);
    assert.deepEqual(parseEthernet(v.value), {
      dst: 'ff:ff:ff:ff:ff:ff',
      src: '02:00:00:00:00:0a',
      vlans: [
        { tpid: 0x88a8, pcp: 5, dei: true, vid: 100 },
        { tpid: 0x8100, pcp: 0, dei: false, vid: 42 },
      ],
      etherType: 0x86dd,
    });
    assert.deepEqual(v.value.dst, Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    assert.deepEqual(v.value.src, Uint8Array.from([2, 0, 0, 0, 0, 0x0a]));
    assert.equal(v.value.headerLength, 22);
    assert.deepEqual(v.value.payload(), Uint8Array.from([0x60]));
  });

  it('reports fewer than 14 bytes as a short header', () => {
    const e = errorOf(EthernetFrame.check(new Uint8Array(13)));
    assert.deepEqual([e.protocol, e.field, e.offset, e.short], ['ethernet', 'header', 0, true]);
  });

  it('reports a VLAN tag cut by the buffer as short at the tag', () => {
    const full = emitEthernet({ dst: '02:00:00:00:00:01', src: '02:00:00:00:00:02', vlans: [{ tpid: 0x8100, pcp: 0, dei: false, vid: 1 }, { tpid: 0x9100, pcp: 0, dei: false, vid: 2 }], etherType: 0x0800 }, new Uint8Array(0));
    assert.equal(full.length, 22);
    for (const [len, offset] of [[14, 12], [17, 12], [18, 16], [21, 16]] as const) {
      const e = errorOf(EthernetFrame.check(full.subarray(0, len)));
      assert.deepEqual([e.protocol, e.field, e.offset, e.short], ['ethernet', 'vlan', offset, true], `length ${len}`);
    }
  });

  it('stacks any number of tags, bounded only by the buffer', () => {
    const bytes = new Uint8Array(12 + 4 * 200 + 2);
    for (let o = 12; o < 12 + 4 * 200; o += 4) bytes[o] = 0x81;
    bytes[12 + 800] = 0x08;
    const v = EthernetFrame.check(bytes);
    assert.ok(v.ok);
    assert.equal(v.value.vlans.length, 200);
    assert.equal(v.value.etherType, 0x0800);
    assert.equal(v.value.payload().length, 0);
    const e = errorOf(EthernetFrame.check(bytes.subarray(0, bytes.length - 1)));
    assert.deepEqual([e.field, e.offset, e.short], ['vlan', 12 + 4 * 199, true]);
  });

  it('keeps an 802.3 length field as the ether type', () => {
    const bytes = emitEthernet({ dst: '01:80:c2:00:00:00', src: '02:00:00:00:00:02', vlans: [], etherType: 38 }, new Uint8Array(46));
    const v = EthernetFrame.check(bytes);
    assert.ok(v.ok);
    assert.equal(v.value.etherType, 38);
    assert.equal(v.value.payload().length, 46);
  });

  it('refuses to emit a repr that would not parse back', () => {
    const base: EthernetRepr = { dst: '02:00:00:00:00:01', src: '02:00:00:00:00:02', vlans: [], etherType: 0x0800 };
    assert.throws(() => emitEthernet({ ...base, etherType: 0x8100 }, new Uint8Array(0)), RangeError);
    assert.throws(() => emitEthernet({ ...base, vlans: [{ tpid: 0x0800, pcp: 0, dei: false, vid: 1 }] }, new Uint8Array(0)), RangeError);
    assert.throws(() => emitEthernet({ ...base, vlans: [{ tpid: 0x8100, pcp: 8, dei: false, vid: 1 }] }, new Uint8Array(0)), RangeError);
    assert.throws(() => emitEthernet({ ...base, dst: '02:00:00:00:00' }, new Uint8Array(0)), RangeError);
  });

  it('gives a value or a short error for every prefix of a valid frame', () => {
    fc.assert(
      fc.property(arbEthernet, arbPayload, (repr, payload) => assertPrefixesShortOrOk(emitEthernet(repr, payload), (b) => EthernetFrame.check(b))),
      { numRuns: 200 },
    );
  });
});

describe('linux cooked capture (SLL)', () => {
  it('round-trips every representation', () => {
    fc.assert(
      fc.property(arbSll, arbPayload, (repr, payload) => {
        const bytes = emitSll(repr, payload);
        const v = SllPacket.check(bytes);
        assert.ok(v.ok);
        assert.equal(v.value.headerLength, 16);
        assert.equal(v.value.protocol, repr.protocol);
        assert.deepEqual(v.value.payload(), payload);
        const parsed = parseSll(v.value);
        assert.deepEqual(parsed, repr);
        assert.deepEqual(emitSll(parsed, v.value.payload()), bytes);
      }),
      { numRuns: 500 },
    );
  });

  it('decodes a known header', () => {
    const bytes = Uint8Array.from([0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0x0a, 0xee, 0xee, 0x08, 0x00, 0x45]);
    const v = SllPacket.check(bytes);
    assert.ok(v.ok);
    assert.deepEqual(parseSll(v.value), { packetType: 4, arphrdType: 1, addressLength: 6, address: Uint8Array.from([2, 0, 0, 0, 0, 0x0a, 0xee, 0xee]), protocol: 0x0800 });
  });

  it('reports fewer than 16 bytes as a short header; every prefix is short', () => {
    const e = errorOf(SllPacket.check(new Uint8Array(15)));
    assert.deepEqual([e.protocol, e.field, e.offset, e.short], ['sll', 'header', 0, true]);
    assertPrefixesShortOrOk(emitSll({ packetType: 0, arphrdType: 1, addressLength: 6, address: new Uint8Array(8), protocol: 0x86dd }, new Uint8Array(4)), (b) => SllPacket.check(b));
  });

  it('refuses an address field that is not 8 bytes', () => {
    assert.throws(() => emitSll({ packetType: 0, arphrdType: 1, addressLength: 6, address: new Uint8Array(6), protocol: 0x0800 }, new Uint8Array(0)), RangeError);
  });
});

describe('linux cooked capture v2 (SLL2)', () => {
  it('round-trips every representation', () => {
    fc.assert(
      fc.property(arbSll2, arbPayload, (repr, payload) => {
        const bytes = emitSll2(repr, payload);
        const v = Sll2Packet.check(bytes);
        assert.ok(v.ok);
        assert.equal(v.value.headerLength, 20);
        assert.equal(v.value.protocol, repr.protocol);
        assert.deepEqual(v.value.payload(), payload);
        const parsed = parseSll2(v.value);
        assert.deepEqual(parsed, repr);
        assert.deepEqual(emitSll2(parsed, v.value.payload()), bytes);
      }),
      { numRuns: 500 },
    );
  });

  it('decodes a known header', () => {
    const bytes = Uint8Array.from([0x86, 0xdd, 0, 0, 0, 0, 0, 7, 0, 1, 3, 6, 2, 0, 0, 0, 0, 0x0b, 0, 0]);
    const v = Sll2Packet.check(bytes);
    assert.ok(v.ok);
    assert.deepEqual(parseSll2(v.value), {
      protocol: 0x86dd,
      reserved: 0,
      interfaceIndex: 7,
      arphrdType: 1,
      packetType: 3,
      addressLength: 6,
      address: Uint8Array.from([2, 0, 0, 0, 0, 0x0b, 0, 0]),
    });
    assert.equal(v.value.payload().length, 0);
  });

  it('reports fewer than 20 bytes as a short header; every prefix is short', () => {
    const e = errorOf(Sll2Packet.check(new Uint8Array(19)));
    assert.deepEqual([e.protocol, e.field, e.offset, e.short], ['sll2', 'header', 0, true]);
    const full = emitSll2({ protocol: 0x0800, reserved: 0, interfaceIndex: 3, arphrdType: 1, packetType: 0, addressLength: 6, address: new Uint8Array(8) }, new Uint8Array(4));
    assertPrefixesShortOrOk(full, (b) => Sll2Packet.check(b));
  });

  it('refuses an address field that is not 8 bytes', () => {
    const repr: Sll2Repr = { protocol: 0x0800, reserved: 0, interfaceIndex: 3, arphrdType: 1, packetType: 0, addressLength: 6, address: new Uint8Array(9) };
    assert.throws(() => emitSll2(repr, new Uint8Array(0)), RangeError);
  });
});
