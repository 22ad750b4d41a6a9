import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ArpPacket, type ArpRepr, emitArp, parseArp } from '../../src/packet/arp.js';
import { emitEthernet } from '../../src/packet/ethernet.js';
import { decodeFrame } from '../../src/packet/frame.js';
import { EtherType } from '../../src/packet/ip-protocol.js';
import { LinkType } from '../../src/packet/link-type.js';
import { emitSll2 } from '../../src/packet/sll2.js';
import { arbIpv4Address, arbMac } from '../support/arbitraries.js';

const hexAddress = (min: number, max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max });
const hexText = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');

/** Ethernet/IPv4 as on every LAN, and odd lengths (InfiniBand's 20-byte hardware addresses, empty ones). */
const arbArp: fc.Arbitrary<ArpRepr> = fc.oneof(
  fc.record(
    {
      hardwareType: fc.constant(1),
      protocolType: fc.constant(EtherType.Ipv4),
      operation: fc.integer({ min: 1, max: 4 }),
      senderHardwareAddress: arbMac,
      senderProtocolAddress: arbIpv4Address,
      targetHardwareAddress: arbMac,
      targetProtocolAddress: arbIpv4Address,
    },
    { noNullPrototype: true },
  ),
  fc
    .tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 20 }), fc.constantFrom(0, 2, 16))
    .chain(([hardwareType, protocolType, operation, hlen, plen]) =>
      fc.record(
        {
          hardwareType: fc.constant(hardwareType),
          protocolType: fc.constant(protocolType),
          operation: fc.constant(operation),
          senderHardwareAddress: hexAddress(hlen, hlen).map(hexText),
          senderProtocolAddress: hexAddress(plen, plen).map(hexText),
          targetHardwareAddress: hexAddress(hlen, hlen).map(hexText),
          targetProtocolAddress: hexAddress(plen, plen).map(hexText),
        },
        { noNullPrototype: true },
      ),
    ),
);

/** `tcpdump -i any` on a router: "ARP, Request who-has 10.0.1.1 tell 10.0.1.2" (the 28 bytes after the SLL2 header). */
const REQUEST = Uint8Array.from([
  0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0xfa, 0x0c, 0x40, 0xa7, 0x12, 0x56, 10, 0, 1, 2, 0, 0, 0, 0, 0, 0, 10, 0, 1, 1,
]);

describe('arp', () => {
  it('round-trips every operation and address length', () => {
    fc.assert(
      fc.property(arbArp, (repr) => {
        const bytes = emitArp(repr);
        const v = ArpPacket.check(bytes);
        assert.ok(v.ok);
        assert.deepEqual(parseArp(v.value), repr);
      }),
      { numRuns: 500 },
    );
  });

  it('decodes a known request', () => {
    const v = ArpPacket.check(REQUEST);
    assert.ok(v.ok);
    assert.deepEqual(parseArp(v.value), {
      hardwareType: 1,
      protocolType: 0x0800,
      operation: 1,
      senderHardwareAddress: 'fa:0c:40:a7:12:56',
      senderProtocolAddress: '10.0.1.2',
      targetHardwareAddress: '00:00:00:00:00:00',
      targetProtocolAddress: '10.0.1.1',
    });
  });

  it('says how many bytes the addresses need when the buffer ends before them', () => {
    for (let n = 0; n < REQUEST.length; n++) {
      const v = ArpPacket.check(REQUEST.subarray(0, n));
      assert.ok(!v.ok && v.error.short === true, `cut at ${n}`);
      assert.equal(v.error.protocol, 'arp');
      if (n >= 8) assert.match(v.error.reason, /need 28 bytes/);
    }
  });

  it('is a layer of Ethernet and SLL2 frames, padding ignored, and truncation when cut', () => {
    const padded = new Uint8Array(46);
    padded.set(REQUEST);
    const frame = emitEthernet({ dst: 'ff:ff:ff:ff:ff:ff', src: 'fa:0c:40:a7:12:56', vlans: [], etherType: EtherType.Arp }, padded);
    const f = decodeFrame(LinkType.Ethernet, frame);
    assert.deepEqual(f.layers.map((l) => l.protocol), ['ethernet', 'arp']);
    const arp = f.layers[1];
    assert.ok(arp?.protocol === 'arp' && arp.offset === 14 && arp.repr.targetProtocolAddress === '10.0.1.1');
    const sll2 = emitSll2({ protocol: EtherType.Arp, reserved: 0, interfaceIndex: 2, arphrdType: 1, packetType: 1, addressLength: 6, address: new Uint8Array(8) }, REQUEST);
    assert.deepEqual(decodeFrame(LinkType.LinuxSll2, sll2).layers.map((l) => l.protocol), ['sll2', 'arp']);
    const cut = decodeFrame(LinkType.Ethernet, frame.subarray(0, 30), frame.length);
    assert.deepEqual([cut.layers.map((l) => l.protocol), cut.truncated, cut.error], [['ethernet'], true, undefined]);
  });

  it('refuses a repr whose addresses cannot be encoded', () => {
    const good: ArpRepr = { hardwareType: 1, protocolType: 0x0800, operation: 1, senderHardwareAddress: '02:00:00:00:00:01', senderProtocolAddress: '10.0.0.1', targetHardwareAddress: '00:00:00:00:00:00', targetProtocolAddress: '10.0.0.2' };
    assert.throws(() => emitArp({ ...good, targetHardwareAddress: '00:00' }), RangeError);
    assert.throws(() => emitArp({ ...good, senderProtocolAddress: '10.0.0.300' }), RangeError);
    assert.throws(() => emitArp({ ...good, senderHardwareAddress: 'zz:00:00:00:00:01' }), RangeError);
  });
});
