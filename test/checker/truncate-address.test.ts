import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatIpv4, formatIpv6, parseIpv6Text } from '../../src/packet/address.js';
import { truncateAddress } from '../../src/checker/truncate-address.js';

describe('truncateAddress', () => {
  it('keeps the /24 of an IPv4 address', () => {
    assert.equal(truncateAddress('10.1.2.3', 4), '10.1.2.0/24');
    assert.equal(truncateAddress('192.0.2.255', 4), '192.0.2.0/24');
    assert.equal(truncateAddress('10.1.2.0', 4), '10.1.2.0/24');
  });

  it('keeps the /48 of an IPv6 address, in canonical text whatever the spelling', () => {
    assert.equal(truncateAddress('fd00:1:2:3::4', 6), 'fd00:1:2::/48');
    assert.equal(truncateAddress('2001:db8:abcd:12::1', 6), '2001:db8:abcd::/48');
    assert.equal(truncateAddress('FD00:0001:0002:0003:0000:0000:0000:0004', 6), 'fd00:1:2::/48');
    assert.equal(truncateAddress('fd00:1:2ff:ffff:ffff:ffff:ffff:ffff', 6), 'fd00:1:2ff::/48');
    assert.equal(truncateAddress('::1', 6), '::/48');
  });

  it('drops the zone of a link-local address', () => {
    assert.equal(truncateAddress('fe80::1:2:3:4%eth0', 6), 'fe80::/48');
  });

  it('treats IPv4-mapped IPv6 addresses (dual-stack sockets) as IPv4, whichever family the caller says', () => {
    assert.equal(truncateAddress('::ffff:10.1.2.3', 4), '10.1.2.0/24');
    assert.equal(truncateAddress('::ffff:10.1.2.3', 6), '10.1.2.0/24');
    assert.equal(truncateAddress('::FFFF:10.1.2.3', 4), '10.1.2.0/24');
    assert.equal(truncateAddress('::ffff:a01:203', 4), '10.1.2.0/24', 'the mapped address in hex groups');
    assert.equal(truncateAddress('0:0:0:0:0:ffff:10.1.2.3', 4), '10.1.2.0/24');
  });

  it('does not take look-alikes of mapped addresses for IPv4', () => {
    // 0:0:0:0:0:0:ffff:5 and 64:ff9b::/96 (NAT64) are IPv6 addresses of their own.
    assert.equal(truncateAddress('::ffff:5', 6), '::/48');
    assert.equal(truncateAddress('64:ff9b::10.1.2.3', 6), '64:ff9b::/48');
    assert.throws(() => truncateAddress('::ffff:5', 4), RangeError);
  });

  it('rejects text that is no address, naming it', () => {
    for (const bad of ['', 'client', '10.1.2', '10.1.2.256', '10.1.2.3/24', 'fd00::1::2', 'fd00:1:2:3:4:5:6:7:8', '<script>']) {
      assert.throws(
        () => truncateAddress(bad, bad.includes(':') ? 6 : 4),
        (e: unknown) => e instanceof RangeError && e.message.includes(JSON.stringify(bad)) && /not an IPv4 or IPv6 address/.test(e.message),
        bad,
      );
    }
  });

  it('rejects an address of the other family than the caller says', () => {
    assert.throws(() => truncateAddress('10.1.2.3', 6), /"10\.1\.2\.3": not an ipv6 address/);
    assert.throws(() => truncateAddress('fd00::1', 4), /"fd00::1": not an ipv4 address/);
  });

  it('keeps exactly the first 24 bits of any IPv4 address', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (bytes) => {
        const expected = `${bytes[0]}.${bytes[1]}.${bytes[2]}.0/24`;
        assert.equal(truncateAddress(formatIpv4(bytes), 4), expected);
        assert.equal(truncateAddress(`::ffff:${formatIpv4(bytes)}`, 6), expected);
      }),
    );
  });

  it('keeps exactly the first 48 bits of any IPv6 address that is not IPv4-mapped', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        fc.pre(!(bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff));
        const truncated = truncateAddress(formatIpv6(bytes), 6);
        assert.match(truncated, /\/48$/);
        const network = parseIpv6Text(truncated.slice(0, -3));
        assert.ok(network, truncated);
        assert.deepEqual([...network.subarray(0, 6)], [...bytes.subarray(0, 6)]);
        assert.ok(network.subarray(6).every((b) => b === 0), truncated);
      }),
    );
  });
});
