import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ipBytes } from '../../src/packet/address.js';
import { emitIcmpv4, ICMPV4_FRAG_NEEDED_CODE, Icmpv4Packet, type Icmpv4Repr, Icmpv4Type, parseIcmpv4 } from '../../src/packet/icmpv4.js';
import { emitIcmpv6, Icmpv6Packet, type Icmpv6Repr, Icmpv6Type, parseIcmpv6 } from '../../src/packet/icmpv6.js';
import type { Decoded } from '../../src/packet/result.js';
import { arbIpv6Address } from '../support/arbitraries.js';

const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const body = fc.uint8Array({ maxLength: 96, size: 'max' });

const arbIcmpv4: fc.Arbitrary<Icmpv4Repr> = fc.oneof(
  fc.record({ kind: fc.constantFrom('echo-request' as const, 'echo-reply' as const), ident: u16, seq: u16, data: body }, { noNullPrototype: true }),
  fc.record(
    { kind: fc.constant('destination-unreachable' as const), code: u8, unused: u16, nextHopMtu: u16, quoted: body },
    { noNullPrototype: true },
  ),
  fc.record({ kind: fc.constant('time-exceeded' as const), code: u8, unused: u32, quoted: body }, { noNullPrototype: true }),
  fc
    .record({ kind: fc.constant('other' as const), type: u8, code: u8, rest: u32, data: body }, { noNullPrototype: true })
    .filter(
      (r) =>
        r.type !== Icmpv4Type.DestinationUnreachable &&
        r.type !== Icmpv4Type.TimeExceeded &&
        !((r.type === Icmpv4Type.EchoRequest || r.type === Icmpv4Type.EchoReply) && r.code === 0),
    ),
);

const arbIcmpv6: fc.Arbitrary<Icmpv6Repr> = fc.oneof(
  fc.record({ kind: fc.constant('destination-unreachable' as const), code: u8, unused: u32, quoted: body }, { noNullPrototype: true }),
  fc.record({ kind: fc.constant('packet-too-big' as const), code: u8, mtu: u32, quoted: body }, { noNullPrototype: true }),
  fc.record({ kind: fc.constant('time-exceeded' as const), code: u8, unused: u32, quoted: body }, { noNullPrototype: true }),
  fc.record({ kind: fc.constant('parameter-problem' as const), code: u8, pointer: u32, quoted: body }, { noNullPrototype: true }),
  fc.record({ kind: fc.constantFrom('echo-request' as const, 'echo-reply' as const), ident: u16, seq: u16, data: body }, { noNullPrototype: true }),
  fc
    .record({ kind: fc.constant('other' as const), type: u8, code: u8, rest: u32, data: body }, { noNullPrototype: true })
    .filter((r) => (r.type < 1 || r.type > 4) && !((r.type === Icmpv6Type.EchoRequest || r.type === Icmpv6Type.EchoReply) && r.code === 0)),
);

function value<T>(d: Decoded<T>): T {
  assert.ok(d.ok, d.ok ? '' : d.error.reason);
  return d.value;
}

function flip(b: Uint8Array, index: number, mask: number): Uint8Array {
  const c = b.slice();
  c[index] = c[index]! ^ mask;
  return c;
}

function padded(b: Uint8Array, extra: number): Uint8Array {
  const out = new Uint8Array(b.length + extra).fill(0x5a);
  out.set(b);
  return out;
}

describe('icmpv4', () => {
  it('round-trips every kind with a good checksum, bad after any flipped byte', () => {
    fc.assert(
      fc.property(arbIcmpv4, fc.nat(), fc.integer({ min: 1, max: 255 }), (repr, at, mask) => {
        const bytes = emitIcmpv4(repr);
        const v = value(Icmpv4Packet.check(bytes, bytes.length));
        assert.deepEqual(parseIcmpv4(v), repr);
        assert.equal(v.checksumStatus(), 'good');
        assert.deepEqual(emitIcmpv4(parseIcmpv4(v)), bytes);
        const bad = flip(bytes, at % bytes.length, mask);
        assert.equal(value(Icmpv4Packet.check(bad, bad.length)).checksumStatus(), 'bad');
      }),
      { numRuns: 1500 },
    );
  });

  it('ignores padding beyond the claimed length and cannot verify fewer bytes than claimed', () => {
    fc.assert(
      fc.property(arbIcmpv4, fc.integer({ min: 1, max: 20 }), (repr, extra) => {
        const bytes = emitIcmpv4(repr);
        const p = value(Icmpv4Packet.check(padded(bytes, extra), bytes.length));
        assert.equal(p.checksumStatus(), 'good');
        assert.deepEqual(parseIcmpv4(p), repr);
        const claimedMore = value(Icmpv4Packet.check(bytes, bytes.length + extra));
        assert.equal(claimedMore.truncated, true);
        assert.equal(claimedMore.checksumStatus(), 'unverified');
      }),
      { numRuns: 300 },
    );
  });

  it('gives a value or a short result for every prefix, never a throw', () => {
    fc.assert(
      fc.property(arbIcmpv4, (repr) => {
        const bytes = emitIcmpv4(repr);
        for (let n = 0; n <= bytes.length; n++) {
          const r = Icmpv4Packet.check(bytes.subarray(0, n), bytes.length);
          if (!r.ok) {
            assert.deepEqual([r.error.protocol, r.error.field, r.error.offset, r.error.short, n < 8], ['icmpv4', 'header', 0, true, true]);
            continue;
          }
          assert.equal(r.value.checksumStatus(), n < bytes.length ? 'unverified' : 'good');
          const parsed = parseIcmpv4(r.value);
          assert.equal(parsed.kind, repr.kind);
          assert.equal(('quoted' in parsed ? parsed.quoted : parsed.data).length, n - 8);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('lays out a fragmentation-needed error as RFC 1191 says, with a known checksum', () => {
    const quoted = Uint8Array.from([0x45, 0, 0x05, 0xdc]);
    const b = emitIcmpv4({ kind: 'destination-unreachable', code: ICMPV4_FRAG_NEEDED_CODE, unused: 0, nextHopMtu: 1400, quoted });
    // 0x0304 (type, code) + 0x0578 (MTU) + 0x4500 + 0x05dc (quote) = 0x5358, complemented 0xaca7.
    assert.deepEqual([...b.subarray(0, 8)], [3, 4, 0xac, 0xa7, 0, 0, 0x05, 0x78]);
    assert.deepEqual([...b.subarray(8)], [...quoted]);
    const echo = emitIcmpv4({ kind: 'echo-request', ident: 1, seq: 1, data: new Uint8Array(0) });
    assert.deepEqual([...echo], [8, 0, 0xf7, 0xfd, 0, 1, 0, 1]);
  });

  it('treats echo with a non-zero code as other', () => {
    const b = emitIcmpv4({ kind: 'other', type: Icmpv4Type.EchoRequest, code: 3, rest: 0x00010002, data: Uint8Array.from([9]) });
    assert.deepEqual(parseIcmpv4(value(Icmpv4Packet.check(b, b.length))), { kind: 'other', type: 8, code: 3, rest: 0x00010002, data: Uint8Array.from([9]) });
  });

  it('rejects fewer than 8 bytes as short and a claimed length under 8 as malformed', () => {
    const s = Icmpv4Packet.check(new Uint8Array(7), 20);
    assert.ok(!s.ok);
    assert.deepEqual([s.error.protocol, s.error.field, s.error.offset, s.error.short], ['icmpv4', 'header', 0, true]);
    const f = Icmpv4Packet.check(new Uint8Array(12), 6);
    assert.ok(!f.ok);
    assert.deepEqual([f.error.protocol, f.error.field, f.error.offset, f.error.short], ['icmpv4', 'length', 0, undefined]);
  });

  it('refuses an other repr that would parse back as a specific kind', () => {
    assert.throws(() => emitIcmpv4({ kind: 'other', type: 3, code: 1, rest: 0, data: new Uint8Array(0) }), RangeError);
    assert.throws(() => emitIcmpv4({ kind: 'other', type: 11, code: 0, rest: 0, data: new Uint8Array(0) }), RangeError);
    assert.throws(() => emitIcmpv4({ kind: 'other', type: 0, code: 0, rest: 0, data: new Uint8Array(0) }), RangeError);
  });
});

describe('icmpv6', () => {
  it('round-trips every kind with a good pseudo-header checksum, bad after any flipped byte or another address', () => {
    fc.assert(
      fc.property(arbIcmpv6, arbIpv6Address, arbIpv6Address, fc.nat(), fc.integer({ min: 1, max: 255 }), (repr, src, dst, at, mask) => {
        const bytes = emitIcmpv6(repr, src, dst);
        const s = ipBytes(src, 6);
        const d = ipBytes(dst, 6);
        const v = value(Icmpv6Packet.check(bytes, bytes.length));
        assert.deepEqual(parseIcmpv6(v), repr);
        assert.equal(v.checksumStatus(s, d), 'good');
        assert.deepEqual(emitIcmpv6(parseIcmpv6(v), src, dst), bytes);
        const bad = flip(bytes, at % bytes.length, mask);
        assert.equal(value(Icmpv6Packet.check(bad, bad.length)).checksumStatus(s, d), 'bad');
        assert.equal(v.checksumStatus(s, flip(d, at % 16, mask)), 'bad');
      }),
      { numRuns: 1500 },
    );
  });

  it('ignores padding beyond the claimed length and cannot verify fewer bytes than claimed', () => {
    fc.assert(
      fc.property(arbIcmpv6, arbIpv6Address, arbIpv6Address, fc.integer({ min: 1, max: 20 }), (repr, src, dst, extra) => {
        const bytes = emitIcmpv6(repr, src, dst);
        const s = ipBytes(src, 6);
        const d = ipBytes(dst, 6);
        const p = value(Icmpv6Packet.check(padded(bytes, extra), bytes.length));
        assert.equal(p.checksumStatus(s, d), 'good');
        assert.deepEqual(parseIcmpv6(p), repr);
        assert.equal(value(Icmpv6Packet.check(bytes, bytes.length + extra)).checksumStatus(s, d), 'unverified');
      }),
      { numRuns: 300 },
    );
  });

  it('gives a value or a short result for every prefix, never a throw', () => {
    fc.assert(
      fc.property(arbIcmpv6, (repr) => {
        const bytes = emitIcmpv6(repr, 'fe80::1', 'ff02::1');
        for (let n = 0; n <= bytes.length; n++) {
          const r = Icmpv6Packet.check(bytes.subarray(0, n), bytes.length);
          if (!r.ok) {
            assert.deepEqual([r.error.protocol, r.error.field, r.error.offset, r.error.short, n < 8], ['icmpv6', 'header', 0, true, true]);
            continue;
          }
          assert.equal(r.value.checksumStatus(ipBytes('fe80::1', 6), ipBytes('ff02::1', 6)), n < bytes.length ? 'unverified' : 'good');
          assert.equal(parseIcmpv6(r.value).kind, repr.kind);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('lays out a Packet Too Big with its 32-bit MTU, and an echo with a known checksum', () => {
    const quoted = Uint8Array.from([0x60, 0, 0, 0]);
    const b = emitIcmpv6({ kind: 'packet-too-big', code: 0, mtu: 1280, quoted }, 'fd00:1::1', 'fd00:1::2');
    assert.deepEqual([...b.subarray(4, 8)], [0, 0, 0x05, 0x00]);
    assert.equal(b[0], Icmpv6Type.PacketTooBig);
    // ::1 to ::1, empty echo: 1 + 1 + length 8 + next header 58 + 0x8000 = 0x8044, complemented 0x7fbb.
    assert.deepEqual([...emitIcmpv6({ kind: 'echo-request', ident: 0, seq: 0, data: new Uint8Array(0) }, '::1', '::1')], [128, 0, 0x7f, 0xbb, 0, 0, 0, 0]);
  });

  it('rejects fewer than 8 bytes as short and a claimed length under 8 as malformed', () => {
    const s = Icmpv6Packet.check(new Uint8Array(4), 8);
    assert.ok(!s.ok);
    assert.deepEqual([s.error.protocol, s.error.field, s.error.offset, s.error.short], ['icmpv6', 'header', 0, true]);
    const f = Icmpv6Packet.check(new Uint8Array(8), 7);
    assert.ok(!f.ok);
    assert.deepEqual([f.error.protocol, f.error.field, f.error.offset, f.error.short], ['icmpv6', 'length', 0, undefined]);
  });

  it('refuses an other repr that would parse back as a specific kind', () => {
    for (const type of [1, 2, 3, 4]) {
      assert.throws(() => emitIcmpv6({ kind: 'other', type, code: 0, rest: 0, data: new Uint8Array(0) }, '::1', '::1'), RangeError);
    }
    assert.throws(() => emitIcmpv6({ kind: 'other', type: 129, code: 0, rest: 0, data: new Uint8Array(0) }, '::1', '::1'), RangeError);
    const ns = emitIcmpv6({ kind: 'other', type: Icmpv6Type.NeighborSolicitation, code: 0, rest: 0, data: new Uint8Array(16) }, 'fe80::1', 'ff02::1:ff00:2');
    assert.equal(parseIcmpv6(value(Icmpv6Packet.check(ns, ns.length))).kind, 'other');
  });
});
