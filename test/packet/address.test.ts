import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatIpv4, formatIpv6, formatMac, parseIpv4Text, parseIpv6Text, parseMac } from '../../src/packet/address.js';

/** Groups biased towards zero, so that runs of zero groups (and ties between runs) are common. */
const arbIpv6Bytes = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }).map((groups) => {
  const b = new Uint8Array(16);
  groups.forEach((g, i) => {
    b[2 * i] = g >> 8;
    b[2 * i + 1] = g & 0xff;
  });
  return b;
});

function isV4Mapped(b: Uint8Array): boolean {
  return b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}

describe('addresses', () => {
  it('formats IPv6 as RFC 5952 text, like the WHATWG URL serializer (an independent implementation)', () => {
    fc.assert(
      fc.property(arbIpv6Bytes, (b) => {
        fc.pre(!isV4Mapped(b));
        const full = Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16)).join(':');
        assert.equal(formatIpv6(b), new URL(`http://[${full}]/`).hostname.slice(1, -1));
      }),
      { numRuns: 5000 },
    );
  });

  it('round-trips IPv6 text and bytes, keeping the dotted tail of IPv4-mapped addresses', () => {
    fc.assert(
      fc.property(arbIpv6Bytes, (b) => {
        assert.deepEqual(parseIpv6Text(formatIpv6(b)), b);
      }),
      { numRuns: 5000 },
    );
    assert.equal(formatIpv6(parseIpv6Text('::ffff:10.0.0.1')!), '::ffff:10.0.0.1');
    assert.equal(formatIpv6(parseIpv6Text('FD00:0:0:1:0:0:0:2')!), 'fd00:0:0:1::2');
  });

  it('rejects malformed text', () => {
    for (const bad of ['1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '12345::', 'g::', ':::', '::ffff:1.2.3']) assert.equal(parseIpv6Text(bad), undefined, bad);
    for (const bad of ['1.2.3', '1.2.3.256', '01.2.3.4', '1.2.3.4.5', '']) assert.equal(parseIpv4Text(bad), undefined, bad);
    for (const bad of ['02:00:00:00:00', '02:00:00:00:00:0g']) assert.equal(parseMac(bad), undefined, bad);
  });

  it('round-trips IPv4 and MAC text', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (b) => {
        assert.deepEqual(parseIpv4Text(formatIpv4(b)), b.subarray(0, 4));
        assert.deepEqual(parseMac(formatMac(b)), b);
      }),
    );
  });
});
