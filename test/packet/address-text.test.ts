import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIpv4, formatIpv6, formatMac } from '../../src/packet/address.js';
import { ipv4Text, ipv6Text, macText } from '../../src/packet/address-text.js';
import { prng } from '../support/prng.js';

/** Random bytes, often with long runs of zeros (the "::" of IPv6) and a few values repeated (cache hits). */
function addressBytes(random: () => number, length: number): Uint8Array {
  const b = new Uint8Array(length + 3);
  const zeros = random() < 0.5;
  for (let i = 0; i < b.length; i++) b[i] = zeros && random() < 0.6 ? 0 : Math.floor(random() * (random() < 0.3 ? 2 : 256));
  return b;
}

describe('cached address text', () => {
  it('is exactly what the formatters print, for 200,000 addresses that collide in the cache and repeat', () => {
    const random = prng(11);
    const seen: Uint8Array[] = [];
    for (let i = 0; i < 200_000; i++) {
      // Half new addresses, half ones seen before (whose slot may since have been taken by another).
      const b = i > 0 && random() < 0.5 ? seen[Math.floor(random() * seen.length)]! : addressBytes(random, 16);
      if (seen.length < 50_000) seen.push(b);
      const o = Math.floor(random() * 3);
      assert.equal(ipv4Text(b, o), formatIpv4(b, o));
      assert.equal(macText(b, o), formatMac(b, o));
      assert.equal(ipv6Text(b, o), formatIpv6(b, o));
    }
  });

  it('tells apart addresses that differ in one bit anywhere', () => {
    const base = new Uint8Array(16);
    const first = ipv6Text(base);
    for (let bit = 0; bit < 128; bit++) {
      const b = base.slice();
      b[bit >> 3]! ^= 0x80 >> (bit & 7);
      assert.equal(ipv6Text(b), formatIpv6(b));
      if (bit < 48) assert.equal(macText(b), formatMac(b));
      if (bit < 32) assert.equal(ipv4Text(b), formatIpv4(b));
    }
    assert.equal(ipv6Text(base), first);
    assert.equal(macText(base), '00:00:00:00:00:00');
    assert.equal(ipv4Text(base), '0.0.0.0');
  });
});
