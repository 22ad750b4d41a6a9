import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressReach, pageTargets, type PageTargetsInput } from '../../src/checker/page-targets.js';

function input(over: Partial<PageTargetsInput> = {}): PageTargetsInput {
  return {
    configured: { 4: undefined, 6: undefined },
    listening: ['0.0.0.0', '::'],
    hostAddresses: ['127.0.0.1', '192.0.2.10', '::1', 'fe80::1', 'fd00:1::10', '2001:db8::10'],
    port: 8080,
    pageAddress: '192.0.2.10',
    hostHeader: 'checker.example:8080',
    ...over,
  };
}

describe('addressReach', () => {
  it('tells loopback, link-local, private, global and unusable addresses apart', () => {
    const cases: [string, string][] = [
      ['127.0.0.1', 'loopback'],
      ['127.255.0.9', 'loopback'],
      ['169.254.3.4', 'link-local'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['172.32.0.1', 'global'],
      ['192.168.1.1', 'private'],
      ['100.64.0.1', 'private'],
      ['192.0.2.1', 'global'],
      ['0.0.0.0', 'none'],
      ['224.0.0.1', 'none'],
      ['255.255.255.255', 'none'],
      ['::1', 'loopback'],
      ['fe80::1', 'link-local'],
      ['febf::1', 'link-local'],
      ['fec0::1', 'none'],
      ['fd00:0:0:2::2', 'private'],
      ['fc00::1', 'private'],
      ['2001:db8::1', 'global'],
      ['3fff::1', 'global'],
      ['4000::1', 'none'],
      ['::', 'none'],
      ['::ffff:10.0.0.1', 'none'],
      ['ff02::1', 'none'],
      ['not an address', 'none'],
    ];
    for (const [address, reach] of cases) assert.equal(addressReach(address), reach, address);
  });
});

describe('pageTargets', () => {
  it("tests the page's own family where the page came from, and the other at the host's global address under a wildcard listen", () => {
    const t = pageTargets(input());
    assert.deepEqual(t.targets, [
      { family: 4, label: 'IPv4', baseUrl: 'http://checker.example:8080' },
      { family: 6, label: 'IPv6', baseUrl: 'http://[2001:db8::10]:8080' },
    ]);
    assert.deepEqual(t.untested, []);
    assert.deepEqual(t.serverAddresses, { 4: ['192.0.2.10'], 6: ['2001:db8::10'] });
  });

  it('takes a ULA when the host has no global address, and the same the other way round (loaded over IPv6)', () => {
    const ula = pageTargets(input({ hostAddresses: ['::1', 'fe80::1', 'fd00:1::10', '10.0.0.5', '127.0.0.1'] }));
    assert.equal(ula.targets[1]?.baseUrl, 'http://[fd00:1::10]:8080');
    const overSix = pageTargets(input({ pageAddress: 'fd00:1::10', hostHeader: '[fd00:1::10]:8080', hostAddresses: ['127.0.0.1', '169.254.1.1', '10.0.0.5', 'fd00:1::10'] }));
    assert.deepEqual(
      overSix.targets.map((x) => x.baseUrl),
      ['http://10.0.0.5:8080', 'http://[fd00:1::10]:8080'],
    );
  });

  it('prefers a specific listen address of the other family, and needs no host address then', () => {
    const t = pageTargets(input({ listening: ['192.0.2.10', 'fd00:2::2'], hostAddresses: [] }));
    assert.equal(t.targets[1]?.baseUrl, 'http://[fd00:2::2]:8080');
    assert.deepEqual(t.serverAddresses, { 4: ['192.0.2.10'], 6: ['fd00:2::2'] });
  });

  it('uses a configured URL whatever the addresses', () => {
    const t = pageTargets(input({ configured: { 4: undefined, 6: 'https://v6.checker.example' }, hostAddresses: [] }));
    assert.deepEqual(t.targets.map((x) => x.baseUrl), ['http://checker.example:8080', 'https://v6.checker.example']);
    assert.deepEqual(t.untested, []);
  });

  it('says why the other family is not tested, and which flag changes that: no usable address, or no listen', () => {
    const onlyLocal = pageTargets(input({ hostAddresses: ['192.0.2.10', '::1', 'fe80::1'] }));
    assert.deepEqual(onlyLocal.targets.map((x) => x.family), [4]);
    assert.deepEqual(onlyLocal.untested, [
      {
        family: 6,
        reason:
          'IPv6 is not tested: this host has no IPv6 address that clients can reach (only loopback or link-local ones, or none). ' +
          'Set --ipv6-url to a URL of this server that clients reach over IPv6.',
      },
    ]);
    const loopbackListen = pageTargets(input({ listening: ['0.0.0.0', '::1'] }));
    assert.match(loopbackListen.untested[0]?.reason ?? '', /^IPv6 is not tested: the server listens on IPv6 only at ::1, which clients cannot reach\. Set --ipv6-url /);
    const noListen = pageTargets(input({ listening: ['0.0.0.0'] }));
    assert.match(noListen.untested[0]?.reason ?? '', /^IPv6 is not tested: the server does not listen on IPv6\. Set --ipv6-url /);
    const overSix = pageTargets(input({ listening: ['::'], pageAddress: '2001:db8::10', hostHeader: undefined }));
    assert.deepEqual(overSix.targets, [{ family: 6, label: 'IPv6', baseUrl: 'http://[2001:db8::10]:8080' }]);
    assert.match(overSix.untested[0]?.reason ?? '', /^IPv4 is not tested: .* Set --ipv4-url /);
  });

  it('takes loopback for the other family only when the page itself came over loopback; IPv6 link-local never', () => {
    const local = pageTargets(input({ pageAddress: '127.0.0.1', hostHeader: '127.0.0.1:8080', hostAddresses: ['127.0.0.1', '::1', 'fe80::1'] }));
    assert.equal(local.targets[1]?.baseUrl, 'http://[::1]:8080');
    const global = pageTargets(input({ pageAddress: '127.0.0.1', hostHeader: '127.0.0.1:8080' }));
    assert.equal(global.targets[1]?.baseUrl, 'http://[2001:db8::10]:8080', 'a global address is better still');
    const linkLocal = pageTargets(input({ listening: ['::', '0.0.0.0'], pageAddress: 'fe80::1', hostHeader: undefined, hostAddresses: ['fe80::1', '169.254.7.7'] }));
    assert.equal(linkLocal.targets.find((x) => x.family === 4)?.baseUrl, 'http://169.254.7.7:8080');
    const v6LinkLocal = pageTargets(input({ pageAddress: '169.254.7.7', hostHeader: undefined, hostAddresses: ['fe80::1', '169.254.7.7'] }));
    assert.equal(v6LinkLocal.untested[0]?.family, 6);
  });
});
