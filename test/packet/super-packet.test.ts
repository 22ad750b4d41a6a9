import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emitEthernet } from '../../src/packet/ethernet.js';
import { decodeFrame } from '../../src/packet/frame.js';
import { EtherType, IpProtocol } from '../../src/packet/ip-protocol.js';
import { LinkType } from '../../src/packet/link-type.js';
import { emitSll2 } from '../../src/packet/sll2.js';
import { LARGEST_COMMON_MTU, superPacket } from '../../src/packet/super-packet.js';
import { emitIcmpv4 } from '../../src/packet/icmpv4.js';
import { eth, ipv4, ipv6, tcp, V4, V6 } from '../support/sample-frames.js';

const ARPHRD_ETHER = 1;
const ARPHRD_LOOPBACK = 772;

function ipv4Tcp(ipLength: number): Uint8Array {
  return ipv4({ protocol: IpProtocol.Tcp }, tcp({}, new Uint8Array(ipLength - 40), V4.client, V4.server));
}

function sll2(arphrdType: number, packet: Uint8Array): Uint8Array {
  return emitSll2({ protocol: EtherType.Ipv4, reserved: 0, interfaceIndex: 1, arphrdType, packetType: 4, addressLength: 6, address: new Uint8Array(8) }, packet);
}

describe('GSO/GRO super-packets', () => {
  it('are IP packets longer than the link MTU given, or than the largest common MTU', () => {
    const big = decodeFrame(LinkType.Ethernet, eth(EtherType.Ipv4, ipv4Tcp(LARGEST_COMMON_MTU + 1)));
    assert.deepEqual(superPacket(big), { ipLength: LARGEST_COMMON_MTU + 1, limit: LARGEST_COMMON_MTU });
    const jumbo = decodeFrame(LinkType.Ethernet, eth(EtherType.Ipv4, ipv4Tcp(LARGEST_COMMON_MTU)));
    assert.equal(superPacket(jumbo), undefined);
    const segment = decodeFrame(LinkType.Ethernet, eth(EtherType.Ipv4, ipv4Tcp(2960)));
    assert.equal(superPacket(segment), undefined, 'without the link MTU, 2960 bytes may be a jumbo frame');
    assert.deepEqual(superPacket(segment, 1500), { ipLength: 2960, limit: 1500 });
    assert.equal(superPacket(decodeFrame(LinkType.Ethernet, eth(EtherType.Ipv4, ipv4Tcp(1500))), 1500), undefined);
    const v6 = decodeFrame(LinkType.Raw, ipv6({ nextHeader: IpProtocol.Tcp }, tcp({}, new Uint8Array(20000), V6.client, V6.server)));
    assert.deepEqual(superPacket(v6), { ipLength: 40 + 20020, limit: LARGEST_COMMON_MTU });
  });

  it('never are loopback packets: lo carries up to 65536 bytes', () => {
    const packet = ipv4Tcp(60000);
    assert.ok(superPacket(decodeFrame(LinkType.LinuxSll2, sll2(ARPHRD_ETHER, packet))));
    assert.equal(superPacket(decodeFrame(LinkType.LinuxSll2, sll2(ARPHRD_LOOPBACK, packet))), undefined);
    const lo = emitEthernet({ dst: '00:00:00:00:00:00', src: '00:00:00:00:00:00', vlans: [], etherType: EtherType.Ipv4 }, packet);
    assert.equal(superPacket(decodeFrame(LinkType.Ethernet, lo)), undefined);
  });

  it('are judged by the outer packet only, not by a quoted one that claims more than it holds', () => {
    const quote = ipv4Tcp(LARGEST_COMMON_MTU + 100).subarray(0, 548);
    const error = emitIcmpv4({ kind: 'destination-unreachable', code: 4, unused: 0, nextHopMtu: 1400, quoted: quote });
    const f = decodeFrame(LinkType.Ethernet, eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Icmp, src: V4.router, dst: V4.client }, error)));
    assert.equal(f.layers.filter((l) => l.protocol === 'ipv4').length, 2);
    assert.equal(superPacket(f, 1500), undefined);
  });
});
