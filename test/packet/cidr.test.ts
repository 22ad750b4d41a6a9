import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { maskAddress } from '../../src/packet/address.js';
import { cidrContains, formatCidr, isLabSpace, parseAddress, parseCidr, parseCidrOrAddress, prefixText, type Cidr } from '../../src/packet/cidr.js';

function cidr(text: string): Cidr {
  const c = parseCidrOrAddress(text);
  assert.ok(c, `${text} should parse`);
  return c;
}

function address(text: string): Uint8Array {
  const a = parseAddress(text);
  assert.ok(a, `${text} should parse`);
  return a.address;
}

describe('cidr helpers', () => {
  it('parse, normalise, contain', () => {
    assert.equal(prefixText(parseCidr('10.1.2.3/20')!), '10.1.0.0/20');
    assert.equal(prefixText(parseCidr('FD00:0:0:1::7/64')!), 'fd00:0:0:1::/64');
    assert.equal(parseCidr('10.1.2.3'), undefined);
    assert.equal(parseCidr('10.1.2.3/024'), undefined);
    assert.ok(cidrContains(parseCidr('10.1.0.0/20')!, parseAddress('10.1.15.255')!.address));
    assert.ok(!cidrContains(parseCidr('10.1.0.0/20')!, parseAddress('10.1.16.0')!.address));
    assert.ok(isLabSpace(parseCidr('10.0.0.0/8')!) && !isLabSpace(parseCidr('10.0.0.0/7')!) && !isLabSpace(parseCidr('11.0.0.1/32')!));
    assert.ok(isLabSpace(parseCidr('fdff::1/128')!) && !isLabSpace(parseCidr('fc00::1/128')!));
  });
});

describe('cidrContains', () => {
  it('an address lies in a prefix when its first prefix-length bits are the prefix\'s, whatever the host bits of either', () => {
    assert.equal(cidrContains(cidr('10.99.0.7/24'), address('10.99.0.200')), true);
    assert.equal(cidrContains(cidr('10.99.0.7/24'), address('10.99.1.0')), false);
    assert.equal(cidrContains(cidr('10.99.0.0/23'), address('10.99.1.255')), true, 'the 23rd bit is the last one compared');
    assert.equal(cidrContains(cidr('10.99.0.0/23'), address('10.99.2.0')), false);
    assert.equal(cidrContains(cidr('2001:db8:0:1::/64'), address('2001:db8:0:1:ffff:ffff:ffff:ffff')), true);
    assert.equal(cidrContains(cidr('2001:db8:0:1::/64'), address('2001:db8:0:2::')), false);
    assert.equal(cidrContains(cidr('2001:db8::/33'), address('2001:db8:7fff::1')), true);
    assert.equal(cidrContains(cidr('2001:db8::/33'), address('2001:db8:8000::1')), false);
  });

  it('a /0 holds every address of its family; a /32 or /128 holds the one address only', () => {
    assert.equal(cidrContains(cidr('0.0.0.0/0'), address('255.255.255.255')), true);
    assert.equal(cidrContains(cidr('::/0'), address('ffff::1')), true);
    assert.equal(cidrContains(cidr('10.99.0.1'), address('10.99.0.1')), true);
    assert.equal(cidrContains(cidr('10.99.0.1'), address('10.99.0.0')), false);
    assert.equal(cidrContains(cidr('2001:db8::1'), address('2001:db8::1')), true);
    assert.equal(cidrContains(cidr('2001:db8::1'), address('2001:db8::1:1')), false);
  });

  it('the byte length decides the family: an IPv4 address is never in an IPv6 prefix, not even as ::ffff:a.b.c.d, nor the reverse', () => {
    assert.equal(cidrContains(cidr('::/0'), address('10.99.0.1')), false);
    assert.equal(cidrContains(cidr('0.0.0.0/0'), address('::ffff:10.99.0.1')), false);
    assert.equal(cidrContains(cidr('10.99.0.0/24'), address('::ffff:10.99.0.1')), false);
    assert.equal(cidrContains(cidr('::ffff:10.99.0.0/120'), address('10.99.0.1')), false);
    assert.equal(cidrContains(cidr('::ffff:10.99.0.0/120'), address('::ffff:10.99.0.1')), true);
    assert.equal(cidrContains(cidr('10.0.0.0/8'), new Uint8Array(0)), false, 'no address at all');
  });

  it('property: agrees with comparing the masked prefix and the masked address, for both families', () => {
    const arbCase = fc.constantFrom(4, 16).chain((n) =>
      fc.tuple(
        fc.uint8Array({ minLength: n, maxLength: n }),
        fc.uint8Array({ minLength: n, maxLength: n }),
        fc.integer({ min: 0, max: n * 8 }),
      ),
    );
    fc.assert(
      fc.property(arbCase, fc.boolean(), ([net, other, prefixLength], near) => {
        // Half of the cases share the prefix's first bits, so that "inside" is not a rare event.
        const candidate = near ? Uint8Array.from(net.map((v, i) => (i * 8 + 8 <= prefixLength ? v : other[i]!))) : other;
        const prefix: Cidr = { family: net.length === 4 ? 4 : 6, address: net, prefixLength };
        const expected = maskAddress(net, prefixLength).every((v, i) => v === maskAddress(candidate, prefixLength)[i]);
        assert.equal(cidrContains(prefix, candidate), expected, `${formatCidr(prefix)}`);
      }),
    );
  });
});

describe('parseCidrOrAddress', () => {
  it('a bare address stands for itself: /32 for IPv4, /128 for IPv6', () => {
    assert.deepEqual(parseCidrOrAddress('10.99.0.1'), { family: 4, address: Uint8Array.of(10, 99, 0, 1), prefixLength: 32 });
    const v6 = parseCidrOrAddress('2001:db8::1');
    assert.equal(v6?.family, 6);
    assert.equal(v6?.prefixLength, 128);
    assert.equal(formatCidr(v6), '2001:db8::1/128');
  });

  it('a prefix parses as parseCidr parses it', () => {
    for (const text of ['10.99.0.0/24', '10.99.0.7/24', '0.0.0.0/0', '2001:db8::/32', '::/0', 'fd00::1/128']) {
      assert.deepEqual(parseCidrOrAddress(text), parseCidr(text), text);
    }
  });

  it('refuses what is neither: empty text, a bad address, a bad or too long prefix length, a trailing slash, spaces', () => {
    for (const text of ['', '10.99.0', '10.99.0.256', '10.99.0.1/33', '10.99.0.1/', '10.99.0.1/-1', '2001:db8::1/129', 'fd00:::1', ' 10.99.0.1', 'served']) {
      assert.equal(parseCidrOrAddress(text), undefined, JSON.stringify(text));
    }
  });
});
