import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIpText } from '../../src/packet/address.js';
import { emitIcmpv6, Icmpv6Packet, type Icmpv6Repr, parseIcmpv6 } from '../../src/packet/icmpv6.js';
import { neighborDiscovery } from '../../src/packet/neighbor-discovery.js';

function address(text: string): Uint8Array {
  const b = parseIpText(text);
  assert.ok(b);
  return b;
}

/** The ICMPv6 message as the decoder sees it after emit and parse. */
function message(type: number, rest: number, data: Uint8Array, code = 0): Icmpv6Repr {
  const bytes = emitIcmpv6({ kind: 'other', type, code, rest, data }, 'fe80::1', 'ff02::1');
  const v = Icmpv6Packet.check(bytes, bytes.length);
  assert.ok(v.ok);
  return parseIcmpv6(v.value);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A source/target link-layer address option, which follows the fixed part and is not read. */
const LINK_LAYER_OPTION = Uint8Array.from([1, 1, 2, 0, 0, 0, 0, 1]);

describe('neighbor discovery', () => {
  it('names the five messages and reads their fixed fields', () => {
    assert.deepEqual(neighborDiscovery(message(133, 0, LINK_LAYER_OPTION)), { kind: 'router-solicitation' });
    assert.deepEqual(neighborDiscovery(message(134, (64 << 24) | 0x00c0_0000 | 1800, concat(new Uint8Array(8), LINK_LAYER_OPTION))), {
      kind: 'router-advertisement',
      curHopLimit: 64,
      managed: true,
      otherConfig: true,
      routerLifetime: 1800,
    });
    assert.deepEqual(neighborDiscovery(message(135, 0, concat(address('fd00:0:0:1::1'), LINK_LAYER_OPTION))), { kind: 'neighbor-solicitation', target: 'fd00:0:0:1::1' });
    assert.deepEqual(neighborDiscovery(message(136, 0x6000_0000, address('fe80::cc11:aeff:fed3:2c89'))), {
      kind: 'neighbor-advertisement',
      target: 'fe80::cc11:aeff:fed3:2c89',
      router: false,
      solicited: true,
      override: true,
    });
    assert.deepEqual(neighborDiscovery(message(137, 0, concat(address('fe80::2'), address('2001:db8::9')))), { kind: 'redirect', target: 'fe80::2', destination: '2001:db8::9' });
  });

  it('names nothing that is too short for its fixed fields, has a code, or is another message', () => {
    assert.equal(neighborDiscovery(message(135, 0, address('fd00::1').subarray(0, 15))), undefined);
    assert.equal(neighborDiscovery(message(136, 0, new Uint8Array(8))), undefined);
    assert.equal(neighborDiscovery(message(137, 0, address('fe80::2'))), undefined);
    assert.equal(neighborDiscovery(message(134, 0, new Uint8Array(7))), undefined);
    assert.equal(neighborDiscovery(message(135, 0, address('fd00::1'), 1)), undefined);
    assert.equal(neighborDiscovery(message(143, 0, new Uint8Array(20))), undefined);
    assert.equal(neighborDiscovery(message(130, 0, new Uint8Array(20))), undefined);
  });
});
