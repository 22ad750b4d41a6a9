/**
 * Checksums left to the NIC (checksum offload), built the way Linux builds them: a TCP/UDP checksum field holding the
 * folded pseudo-header sum (the seed the NIC completes), and a VXLAN outer UDP checksum computed for the packet as it
 * will be once the inner checksum is complete (local checksum offload). Real kernel captures of the same are in
 * kernel-oracle.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIpText } from '../../src/packet/address.js';
import { put16, u16 } from '../../src/packet/bytes.js';
import { finishChecksum, foldSum, pseudoHeaderSum, sum16 } from '../../src/packet/checksum.js';
import { decodeFrame, type DecodedFrame } from '../../src/packet/frame.js';
import { EtherType, IpProtocol } from '../../src/packet/ip-protocol.js';
import { LinkType } from '../../src/packet/link-type.js';
import { TcpPacket } from '../../src/packet/tcp.js';
import { UdpPacket } from '../../src/packet/udp.js';
import { emitVxlan } from '../../src/packet/vxlan.js';
import { eth, ipv4, ipv6, tcp, udp, V4, V6 } from '../support/sample-frames.js';

const INNER = { src: '10.9.0.1', dst: '10.9.0.2' };

function address(text: string): Uint8Array {
  const b = parseIpText(text);
  assert.ok(b);
  return b;
}

function payload(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);
}

/** Replaces the checksum at `at` of a segment by the offload seed, as the sending kernel leaves it. */
function seeded(segment: Uint8Array, at: number, src: string, dst: string, protocol: number): Uint8Array {
  const out = segment.slice();
  put16(out, at, foldSum(pseudoHeaderSum(address(src), address(dst), protocol, out.length)));
  return out;
}

function statuses(f: DecodedFrame): string[] {
  assert.equal(f.error, undefined, JSON.stringify(f.error));
  return f.layers.flatMap((l) => ('checksum' in l && l.protocol !== 'ipv4' ? [`${l.protocol}:${l.checksum}`] : []));
}

/**
 * A VXLAN frame carrying TCP whose inner checksum is the seed, the outer UDP checksum computed as Linux's lco_csum
 * does: right for the packet once the NIC has completed the inner checksum. Also returns the offset of the inner TCP.
 */
function lcoFrame(): { frame: Uint8Array; innerTcp: number; outerUdp: number } {
  const innerSegment = tcp({}, payload(300), INNER.src, INNER.dst);
  const innerFrame = eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Tcp, ...INNER }, innerSegment));
  const complete = udp(49152, 4789, emitVxlan({ flags: 0x08, vni: 42, reserved1: 0, reserved2: 0 }, innerFrame), V4.client, V4.server);
  const innerTcpInUdp = 8 + 8 + 14 + 20;
  const outer = seeded(complete.subarray(innerTcpInUdp), 16, INNER.src, INNER.dst, IpProtocol.Tcp);
  const datagram = complete.slice();
  datagram.set(outer, innerTcpInUdp);
  const frame = eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Udp }, datagram));
  return { frame, innerTcp: 14 + 20 + innerTcpInUdp, outerUdp: 14 + 20 };
}

describe('checksums left to the NIC (offload)', () => {
  for (const [family, src, dst] of [
    ['IPv4', V4.client, V4.server],
    ['IPv6', V6.client, V6.server],
  ] as const) {
    it(`calls a TCP checksum holding the pseudo-header sum partial, a damaged one bad (${family})`, () => {
      const segment = seeded(tcp({}, payload(500), src, dst), 16, src, dst, IpProtocol.Tcp);
      const view = TcpPacket.check(segment, segment.length);
      assert.ok(view.ok);
      assert.equal(view.value.checksumStatus(address(src), address(dst)), 'partial');
      const frame = (s: Uint8Array): Uint8Array =>
        family === 'IPv4' ? eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Tcp }, s)) : eth(EtherType.Ipv6, ipv6({ nextHeader: IpProtocol.Tcp }, s));
      assert.deepEqual(statuses(decodeFrame(LinkType.Ethernet, frame(segment))), ['tcp:partial']);
      for (const bit of [0x0001, 0x0100, 0x8000]) {
        const damaged = segment.slice();
        put16(damaged, 16, u16(segment, 16) ^ bit);
        assert.deepEqual(statuses(decodeFrame(LinkType.Ethernet, frame(damaged))), ['tcp:bad'], `checksum bit 0x${bit.toString(16)} flipped`);
      }
      // The complemented seed is what a correct checksum is when the segment sums to zero, so it counts as bad.
      const complemented = segment.slice();
      put16(complemented, 16, ~u16(segment, 16) & 0xffff);
      assert.deepEqual(statuses(decodeFrame(LinkType.Ethernet, frame(complemented))), ['tcp:bad']);
    });

    it(`calls a UDP checksum holding the pseudo-header sum partial (${family})`, () => {
      const datagram = seeded(udp(5000, 6000, payload(100), src, dst), 6, src, dst, IpProtocol.Udp);
      const view = UdpPacket.check(datagram);
      assert.ok(view.ok);
      assert.equal(view.value.checksumStatus(address(src), address(dst)), 'partial');
      datagram[20]! ^= 0x40;
      // The seed does not cover the payload, so damage there cannot be seen: that is what "not verifiable" means.
      assert.equal(view.value.checksumStatus(address(src), address(dst)), 'partial');
      datagram[6]! ^= 0x40;
      assert.equal(view.value.checksumStatus(address(src), address(dst)), 'bad');
    });
  }

  it('calls a VXLAN outer checksum partial when it is right for the packet once the inner offload completes', () => {
    const { frame } = lcoFrame();
    assert.deepEqual(statuses(decodeFrame(LinkType.Ethernet, frame)), ['udp:partial', 'tcp:partial']);
  });

  it('still calls that outer checksum bad when what it covers was damaged', () => {
    const { frame, innerTcp, outerUdp } = lcoFrame();
    const innerMac = frame.slice();
    innerMac[outerUdp + 8 + 8 + 3]! ^= 0x10;
    assert.deepEqual(statuses(decodeFrame(LinkType.Ethernet, innerMac)), ['udp:bad', 'tcp:partial']);
    const checksumDamaged = frame.slice();
    checksumDamaged[outerUdp + 7]! ^= 0x01;
    assert.deepEqual(statuses(decodeFrame(LinkType.Ethernet, checksumDamaged)), ['udp:bad', 'tcp:partial']);
    // The inner segment's data is covered by neither as captured (the NIC has yet to sum it): not verifiable.
    const payloadDamaged = frame.slice();
    payloadDamaged[innerTcp + 20 + 7]! ^= 0x10;
    assert.deepEqual(statuses(decodeFrame(LinkType.Ethernet, payloadDamaged)), ['udp:partial', 'tcp:partial']);
  });

  it('once the NIC completes the inner checksum, the LCO outer checksum verifies', () => {
    const { frame, innerTcp } = lcoFrame();
    const sent = frame.slice();
    const length = sent.length - innerTcp;
    put16(sent, innerTcp + 16, 0);
    const pseudo = pseudoHeaderSum(address(INNER.src), address(INNER.dst), IpProtocol.Tcp, length);
    put16(sent, innerTcp + 16, finishChecksum(sum16(sent, innerTcp, sent.length, pseudo)));
    assert.deepEqual(statuses(decodeFrame(LinkType.Ethernet, sent)), ['udp:good', 'tcp:good']);
  });

  it('calls both checksums of a GSO VXLAN packet (outer and inner seeds) partial', () => {
    const innerSegment = seeded(tcp({}, payload(3000), INNER.src, INNER.dst), 16, INNER.src, INNER.dst, IpProtocol.Tcp);
    const innerFrame = eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Tcp, ...INNER }, innerSegment));
    const datagram = seeded(udp(49152, 4789, emitVxlan({ flags: 0x08, vni: 42, reserved1: 0, reserved2: 0 }, innerFrame), V4.client, V4.server), 6, V4.client, V4.server, IpProtocol.Udp);
    assert.deepEqual(statuses(decodeFrame(LinkType.Ethernet, eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Udp }, datagram)))), ['udp:partial', 'tcp:partial']);
  });

  it('does not excuse a bad outer checksum when nothing inside was offloaded', () => {
    const innerFrame = eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Tcp, ...INNER }, tcp({}, payload(40), INNER.src, INNER.dst)));
    const datagram = udp(49152, 4789, emitVxlan({ flags: 0x08, vni: 42, reserved1: 0, reserved2: 0 }, innerFrame), V4.client, V4.server);
    datagram[7]! ^= 0x01;
    assert.deepEqual(statuses(decodeFrame(LinkType.Ethernet, eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Udp }, datagram)))), ['udp:bad', 'tcp:good']);
  });

  it("sums, with checksums: 'offload', only what may be partial, and finds every partial checksum that 'all' finds", () => {
    const { frame, innerTcp, outerUdp } = lcoFrame();
    const damaged = (at: number, bits: number): Uint8Array => {
      const copy = frame.slice();
      copy[at]! ^= bits;
      return copy;
    };
    const plainInner = eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Tcp, ...INNER }, tcp({}, payload(40), INNER.src, INNER.dst)));
    const plainTunnel = eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Udp }, udp(49152, 4789, emitVxlan({ flags: 0x08, vni: 42, reserved1: 0, reserved2: 0 }, plainInner), V4.client, V4.server)));
    const cases: [string, Uint8Array, string[]][] = [
      // The outer checksum is deferred until the seed inside is found, then summed as 'all' would.
      ['LCO VXLAN', frame, ['udp:partial', 'tcp:partial']],
      ['LCO VXLAN, inner MAC damaged', damaged(outerUdp + 8 + 8 + 3, 0x10), ['udp:bad', 'tcp:partial']],
      ['LCO VXLAN, inner payload damaged', damaged(innerTcp + 20 + 7, 0x10), ['udp:partial', 'tcp:partial']],
      // Nothing offloaded: nothing summed.
      ['plain VXLAN', plainTunnel, ['udp:unverified', 'tcp:unverified']],
      ['plain TCP', eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Tcp }, tcp({}, payload(40), V4.client, V4.server))), ['tcp:unverified']],
      ['TCP seed', eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Tcp }, seeded(tcp({}, payload(40), V4.client, V4.server), 16, V4.client, V4.server, IpProtocol.Tcp))), ['tcp:partial']],
      ['IPv6 UDP seed', eth(EtherType.Ipv6, ipv6({ nextHeader: IpProtocol.Udp }, seeded(udp(5000, 53, payload(30), V6.client, V6.server), 6, V6.client, V6.server, IpProtocol.Udp))), ['udp:partial']],
    ];
    for (const [name, bytes, expected] of cases) {
      const all = statuses(decodeFrame(LinkType.Ethernet, bytes));
      const offload = statuses(decodeFrame(LinkType.Ethernet, bytes, bytes.length, { checksums: 'offload' }));
      assert.deepEqual(offload, expected, name);
      assert.equal(offload.length, all.length, name);
      offload.forEach((s, i) => assert.ok(s === all[i] || s.endsWith(':unverified'), `${name}: ${s} where 'all' says ${all[i]!}`));
      assert.deepEqual(all.map((s) => s.endsWith(':partial')), offload.map((s) => s.endsWith(':partial')), name);
    }
  });
});
