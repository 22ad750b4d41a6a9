import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientKey } from '../../src/engine/client-key.js';

describe('clientKey: who a per-client limit counts an address as', () => {
  it('IPv4: each address on its own, whatever the IPv6 prefix', () => {
    assert.equal(clientKey('10.1.2.3', 64), '10.1.2.3');
    assert.equal(clientKey('10.1.2.4', 32), '10.1.2.4');
  });

  it('IPv6: the /64 by default; addresses of one /64 are one client', () => {
    assert.equal(clientKey('fd00:1:2:3::4', 64), 'fd00:1:2:3::/64');
    assert.equal(clientKey('fd00:1:2:3:aaaa:bbbb:cccc:dddd', 64), 'fd00:1:2:3::/64');
    assert.equal(clientKey('FD00:0001:0002:0003:0:0:0:1', 64), 'fd00:1:2:3::/64', 'any spelling of the address');
  });

  it('IPv6: a different /64 is a different client, even the neighbouring one', () => {
    assert.notEqual(clientKey('fd00:1:2:3::1', 64), clientKey('fd00:1:2:4::1', 64));
    assert.equal(clientKey('fd00:1:2:4::1', 64), 'fd00:1:2:4::/64');
  });

  it('IPv6: the prefix length is the setting: /56 joins neighbouring /64s, /128 counts every address', () => {
    assert.equal(clientKey('fd00:1:2:3::1', 56), 'fd00:1:2::/56');
    assert.equal(clientKey('fd00:1:2:ff::1', 56), 'fd00:1:2::/56');
    assert.equal(clientKey('fd00:1:2:100::1', 56), 'fd00:1:2:100::/56');
    assert.equal(clientKey('fd00:1:2:3::1', 128), 'fd00:1:2:3::1/128');
    assert.notEqual(clientKey('fd00:1:2:3::1', 128), clientKey('fd00:1:2:3::2', 128));
    assert.equal(clientKey('fd00:1:2:3::1', 32), 'fd00:1::/32');
  });

  it('an IPv4-mapped address is the IPv4 client; text that is no address is its own key', () => {
    assert.equal(clientKey('::ffff:10.1.2.3', 64), '10.1.2.3');
    assert.equal(clientKey('not:an:address::x', 64), 'not:an:address::x');
    assert.equal(clientKey('', 64), '');
  });
});
