import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseIpText } from '../../src/packet/address.js';
import { foldSum, pseudoHeaderSum } from '../../src/packet/checksum.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { emitUdp, parseUdp, UdpPacket, type UdpRepr } from '../../src/packet/udp.js';
import { arbIpv4Address, arbIpv6Address } from '../support/arbitraries.js';

const arbPorts = fc.record({ srcPort: fc.integer({ min: 0, max: 0xffff }), dstPort: fc.integer({ min: 0, max: 0xffff }) }, { noNullPrototype: true });
const arbAddresses = fc.oneof(fc.tuple(arbIpv4Address, arbIpv4Address), fc.tuple(arbIpv6Address, arbIpv6Address));

function ip(text: string): Uint8Array {
  const b = parseIpText(text);
  assert.ok(b);
  return b;
}

function check(bytes: Uint8Array): UdpPacket {
  const v = UdpPacket.check(bytes);
  assert.ok(v.ok, !v.ok ? JSON.stringify(v.error) : '');
  return v.value;
}

const V4 = ['192.0.2.1', '198.51.100.7'] as const;
const V6 = ['2001:db8::1', 'fe80::2'] as const;

describe('udp', () => {
  it('round-trips over IPv4 and IPv6 with a checksum that verifies and catches a flipped byte', () => {
    fc.assert(
      fc.property(arbPorts, fc.uint8Array({ minLength: 0, maxLength: 300, size: 'max' }), arbAddresses, fc.nat(), (ports, payload, [src, dst], pick) => {
        const repr: UdpRepr = { ...ports, payloadLength: payload.length };
        const bytes = emitUdp(repr, payload, src, dst);
        const u = check(bytes);
        assert.deepEqual(parseUdp(u), repr);
        assert.deepEqual(u.payload(), payload);
        assert.equal(u.truncated, false);
        assert.notEqual(u.checksum, 0);
        assert.equal(u.checksumStatus(ip(src), ip(dst)), 'good');
        const flipped = bytes.slice();
        const at = 8 + (payload.length ? pick % payload.length : 0);
        if (payload.length) {
          flipped[at]! ^= 0x01;
          // Once in 65535 the checksum field is exactly the offload seed: then it is `partial`.
          const seed = foldSum(pseudoHeaderSum(ip(src), ip(dst), IpProtocol.Udp, bytes.length));
          assert.equal(check(flipped).checksumStatus(ip(src), ip(dst)), u.checksum === seed ? 'partial' : 'bad');
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('decodes a known datagram', () => {
    const bytes = Uint8Array.from([0x13, 0x88, 0x00, 0x35, 0x00, 0x0a, 0x00, 0x00, 0xab, 0xcd]);
    const u = check(bytes);
    assert.deepEqual([u.srcPort, u.dstPort, u.length, u.checksum], [5000, 53, 10, 0]);
    assert.deepEqual(parseUdp(u), { srcPort: 5000, dstPort: 53, payloadLength: 2 });
  });

  it('sends a computed zero checksum as 0xffff, which still verifies', () => {
    // Two payload bytes form one 16-bit word, so exactly one value of it makes the sum fold to 0xffff.
    let found = 0;
    for (let w = 0; w <= 0xffff; w++) {
      const bytes = emitUdp({ srcPort: 1, dstPort: 2, payloadLength: 2 }, Uint8Array.from([w >> 8, w & 0xff]), V4[0], V4[1]);
      const u = check(bytes);
      assert.notEqual(u.checksum, 0);
      if (u.checksum === 0xffff) {
        found++;
        assert.equal(u.checksumStatus(ip(V4[0]), ip(V4[1])), 'good');
      }
    }
    assert.equal(found, 1);
  });

  it('treats a zero checksum as absent over IPv4 and as bad over IPv6', () => {
    const v4 = emitUdp({ srcPort: 1, dstPort: 2, payloadLength: 3 }, Uint8Array.from([1, 2, 3]), V4[0], V4[1]);
    v4[6] = 0;
    v4[7] = 0;
    assert.equal(check(v4).checksumStatus(ip(V4[0]), ip(V4[1])), 'unverified');
    const v6 = emitUdp({ srcPort: 1, dstPort: 2, payloadLength: 3 }, Uint8Array.from([1, 2, 3]), V6[0], V6[1]);
    assert.equal(check(v6).checksumStatus(ip(V6[0]), ip(V6[1])), 'good');
    v6[6] = 0;
    v6[7] = 0;
    assert.equal(check(v6).checksumStatus(ip(V6[0]), ip(V6[1])), 'bad');
  });

  it('keeps a datagram longer than the buffer as truncated and unverified', () => {
    const full = emitUdp({ srcPort: 9, dstPort: 10, payloadLength: 100 }, new Uint8Array(100).fill(7), V6[0], V6[1]);
    const u = check(full.subarray(0, 50));
    assert.equal(u.truncated, true);
    assert.equal(u.length, 108);
    assert.equal(u.payload().length, 42);
    assert.deepEqual(parseUdp(u), { srcPort: 9, dstPort: 10, payloadLength: 100 });
    assert.equal(u.checksumStatus(ip(V6[0]), ip(V6[1])), 'unverified');
  });

  it('ignores bytes past the length field and still verifies', () => {
    const full = emitUdp({ srcPort: 9, dstPort: 10, payloadLength: 4 }, Uint8Array.from([1, 2, 3, 4]), V4[0], V4[1]);
    const padded = new Uint8Array(full.length + 6).fill(0xee);
    padded.set(full);
    const u = check(padded);
    assert.equal(u.truncated, false);
    assert.deepEqual(u.payload(), Uint8Array.from([1, 2, 3, 4]));
    assert.equal(u.checksumStatus(ip(V4[0]), ip(V4[1])), 'good');
  });

  it('reports fewer than 8 bytes as a short header', () => {
    const v = UdpPacket.check(new Uint8Array(7));
    assert.ok(!v.ok);
    assert.deepEqual([v.error.protocol, v.error.field, v.error.offset, v.error.short], ['udp', 'header', 0, true]);
  });

  it('rejects a length field smaller than the header', () => {
    for (const len of [0, 7]) {
      const b = Uint8Array.from([0, 1, 0, 2, 0, len, 0, 0, 0, 0]);
      const v = UdpPacket.check(b);
      assert.ok(!v.ok);
      assert.deepEqual([v.error.protocol, v.error.field, v.error.offset, v.error.short], ['udp', 'length', 4, undefined]);
    }
  });

  it('refuses a payload that disagrees with the repr or does not fit the length field', () => {
    assert.throws(() => emitUdp({ srcPort: 1, dstPort: 2, payloadLength: 5 }, new Uint8Array(4), V4[0], V4[1]), RangeError);
    assert.throws(() => emitUdp({ srcPort: 1, dstPort: 2, payloadLength: 65528 }, new Uint8Array(65528), V6[0], V6[1]), RangeError);
    assert.throws(() => emitUdp({ srcPort: 1, dstPort: 2, payloadLength: 0 }, new Uint8Array(0), V4[0], V6[1]), RangeError);
  });

  it('gives a value or a short error for every prefix of a valid datagram', () => {
    fc.assert(
      fc.property(arbPorts, fc.uint8Array({ maxLength: 40, size: 'max' }), arbAddresses, (ports, payload, [src, dst]) => {
        const full = emitUdp({ ...ports, payloadLength: payload.length }, payload, src, dst);
        for (let len = 0; len < full.length; len++) {
          const v = UdpPacket.check(full.subarray(0, len));
          if (v.ok) {
            assert.equal(v.value.truncated, true);
            assert.equal(v.value.checksumStatus(ip(src), ip(dst)), 'unverified');
          } else assert.equal(v.error.short, true);
        }
      }),
      { numRuns: 200 },
    );
  });
});
