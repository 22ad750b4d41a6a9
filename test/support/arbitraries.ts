import fc from 'fast-check';
import { formatIpv4, formatIpv6, formatMac } from '../../src/packet/address.js';

export const arbIpv4Address: fc.Arbitrary<string> = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => formatIpv4(b));

/** Biased towards zero groups so that "::" compression is exercised. */
export const arbIpv6Address: fc.Arbitrary<string> = fc
  .array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 })
  .map((groups) => {
    const b = new Uint8Array(16);
    groups.forEach((g, i) => {
      b[2 * i] = g >> 8;
      b[2 * i + 1] = g & 0xff;
    });
    return formatIpv6(b);
  });

export const arbMac: fc.Arbitrary<string> = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => formatMac(b));
