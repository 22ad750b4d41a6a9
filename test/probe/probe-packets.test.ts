import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ipBytes } from '../../src/packet/address.js';
import { Icmpv4Packet, parseIcmpv4 } from '../../src/packet/icmpv4.js';
import { Icmpv6Packet, parseIcmpv6 } from '../../src/packet/icmpv6.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { Ipv4Packet, parseIpv4 } from '../../src/packet/ipv4.js';
import { IPV6_HEADER, Ipv6Packet, parseIpv6 } from '../../src/packet/ipv6.js';
import { parseTcp, TcpFlag, TcpPacket } from '../../src/packet/tcp.js';
import { UdpPacket } from '../../src/packet/udp.js';
import {
  buildProbe,
  minimumProbeSize,
  type ProbeFlow,
  probeIdOfAck,
  probeIdOfSeq,
  tcpSeqOfProbe,
} from '../../src/probe/probe-packets.js';
import { FLOW4, FLOW6 } from './probe-flows.js';


function v4(packet: Uint8Array): Ipv4Packet {
  const c = Ipv4Packet.check(packet);
  assert.ok(c.ok);
  return c.value;
}

function v6(packet: Uint8Array): Ipv6Packet {
  const c = Ipv6Packet.check(packet);
  assert.ok(c.ok);
  return c.value;
}

describe('probe packets', () => {
  it('a UDP probe has exactly the asked size, DF, the TTL, and its probe number as a checksum that verifies', () => {
    for (const id of [1, 2, 300, 0x7fff, 0xfffe]) {
      for (const size of [30, 31, 576, 1500]) {
        const packet = buildProbe(FLOW4, { id, size, ttl: 7 });
        assert.equal(packet.length, size);
        const ip = v4(packet);
        const repr = parseIpv4(ip);
        assert.equal(repr.ttl, 7);
        assert.equal(repr.dontFragment, true);
        assert.equal(repr.ident, id);
        assert.equal(repr.protocol, IpProtocol.Udp);
        assert.ok(ip.checksumValid());
        const udp = UdpPacket.check(ip.payload());
        assert.ok(udp.ok);
        assert.equal(udp.value.checksum, id, `id ${id} size ${size}`);
        assert.equal(udp.value.checksumStatus(ip.src, ip.dst), 'good');
        assert.equal(udp.value.srcPort, 40001);
        assert.equal(udp.value.dstPort, 33434);
      }
    }
  });

  it('an IPv6 UDP probe carries traffic class and hop limit and its checksum verifies with the IPv6 pseudo-header', () => {
    const packet = buildProbe(FLOW6, { id: 513, size: 1280, ttl: 3, dscp: 46, ecn: 1 });
    assert.equal(packet.length, 1280);
    const ip = v6(packet);
    const repr = parseIpv6(ip);
    assert.equal(repr.hopLimit, 3);
    assert.equal(repr.trafficClass, (46 << 2) | 1);
    assert.equal(repr.payloadLength, 1240);
    const udp = UdpPacket.check(ip.payload());
    assert.ok(udp.ok);
    assert.equal(udp.value.checksum, 513);
    assert.equal(udp.value.checksumStatus(ipBytes(FLOW6.source, 6), ipBytes(FLOW6.destination, 6)), 'good');
  });

  it('an echo probe carries the run identifier and the probe number as sequence, in both families', () => {
    const p4 = buildProbe({ ...FLOW4, protocol: 'icmp' }, { id: 9, size: 100, ttl: 64 });
    const m4 = Icmpv4Packet.check(v4(p4).payload(), 80);
    assert.ok(m4.ok);
    assert.equal(m4.value.checksumStatus(), 'good');
    const e4 = parseIcmpv4(m4.value);
    assert.equal(e4.kind, 'echo-request');
    assert.ok(e4.kind === 'echo-request');
    assert.equal(e4.ident, 0x4d54);
    assert.equal(e4.seq, 9);
    const p6 = buildProbe({ ...FLOW6, protocol: 'icmp' }, { id: 10, size: 1300, ttl: 64 });
    assert.equal(p6.length, 1300);
    const ip6 = v6(p6);
    assert.equal(ip6.nextHeader, IpProtocol.Icmpv6);
    const m6 = Icmpv6Packet.check(ip6.payload(), 1260);
    assert.ok(m6.ok);
    assert.equal(m6.value.checksumStatus(ip6.src, ip6.dst), 'good');
    const e6 = parseIcmpv6(m6.value);
    assert.ok(e6.kind === 'echo-request');
    assert.equal(e6.seq, 10);
  });

  it('a TCP SYN probe carries the options asked for, the sequence number of its probe number, and data up to the size', () => {
    const flow: ProbeFlow = { ...FLOW4, protocol: 'tcp', dstPort: 443 };
    const tcp = { window: 1000, mss: 1460, windowScale: 7, sackPermitted: true, timestamps: { value: 1, echo: 0 } };
    const packet = buildProbe(flow, { id: 77, size: 1400, ttl: 5, tcp });
    assert.equal(packet.length, 1400);
    const ip = v4(packet);
    const seg = TcpPacket.check(ip.payload(), ip.payload().length);
    assert.ok(seg.ok);
    assert.equal(seg.value.checksumStatus(ip.src, ip.dst), 'good');
    const repr = parseTcp(seg.value);
    assert.ok(repr.ok);
    assert.equal(repr.value.flags, TcpFlag.Syn);
    assert.equal(repr.value.seq, tcpSeqOfProbe(77));
    assert.equal(repr.value.window, 1000);
    assert.deepEqual(
      repr.value.options.map((o) => o.kind),
      ['mss', 'sack-permitted', 'timestamps', 'nop', 'window-scale'],
    );
    assert.equal(repr.value.payloadLength, 1400 - 20 - 40);
    const bare = buildProbe(flow, { id: 78, size: 40, ttl: 5, tcp: {} });
    assert.equal(bare.length, 40);
  });

  it('the TCP sequence number and the acknowledgment of any data length give the probe number back; other numbers do not', () => {
    for (const id of [1, 2, 4000, 0xfffe]) {
      const seq = tcpSeqOfProbe(id);
      assert.equal(probeIdOfSeq(seq), id);
      assert.equal(probeIdOfAck((seq + 1) >>> 0), id);
      assert.equal(probeIdOfAck((seq + 1 + 1460) >>> 0), id);
      assert.equal(probeIdOfAck((seq + 1 + 65494) >>> 0), id);
    }
    assert.equal(probeIdOfSeq(0x12345), undefined);
    assert.equal(probeIdOfSeq(0), undefined);
    assert.equal(probeIdOfAck(1), undefined);
  });

  it('refuses sizes below the headers, above 65535, and probe numbers 0 and 65535', () => {
    assert.equal(minimumProbeSize(FLOW4), 30);
    assert.equal(minimumProbeSize(FLOW6), 50);
    assert.equal(minimumProbeSize({ ...FLOW4, protocol: 'tcp' }), 44);
    assert.throws(() => buildProbe(FLOW4, { id: 1, size: 29, ttl: 1 }), RangeError);
    assert.throws(() => buildProbe(FLOW4, { id: 1, size: 65536, ttl: 1 }), RangeError);
    assert.throws(() => buildProbe(FLOW4, { id: 0, size: 100, ttl: 1 }), RangeError);
    assert.throws(() => buildProbe(FLOW4, { id: 0xffff, size: 100, ttl: 1 }), RangeError);
    assert.equal(buildProbe(FLOW6, { id: 1, size: 65535 + IPV6_HEADER, ttl: 1 }).length, 65575);
  });
});
