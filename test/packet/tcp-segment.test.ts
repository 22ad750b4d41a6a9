import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTcpSegment, type TcpSegment } from '../../src/packet/tcp-segment.js';
import { bytesEqual, put16 } from '../../src/packet/bytes.js';
import { internetChecksum } from '../../src/packet/checksum.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { emitIpv4 } from '../../src/packet/ipv4.js';
import { emitIpv6 } from '../../src/packet/ipv6.js';
import type { Ipv6ExtHeaderRepr } from '../../src/packet/ipv6-ext.js';
import type { DecodeError } from '../../src/packet/result.js';
import { ACK, ascii, filler, PSH, SYN, tcpPacket, type TcpPacketSpec } from '../engine/engine-packets.js';

const V4 = { src: '10.0.0.2', dst: '10.0.0.1', srcPort: 40_000, dstPort: 8080 };
const V6 = { src: 'fd00::2', dst: 'fd00::1', srcPort: 40_000, dstPort: 8080 };

function parsed(spec: TcpPacketSpec): TcpSegment {
  const r = parseTcpSegment(tcpPacket(spec));
  assert.ok(r.ok, r.ok ? '' : `${r.error.protocol}.${r.error.field}: ${r.error.reason}`);
  return r.value;
}

function error(bytes: Uint8Array): DecodeError {
  const r = parseTcpSegment(bytes);
  assert.ok(!r.ok, 'expected an error value');
  return r.error;
}

/** Rewrites an IPv4 header field and fixes the header checksum, so only that field is wrong. */
function patch4(bytes: Uint8Array, edit: (b: Uint8Array) => void): Uint8Array {
  const b = bytes.slice();
  edit(b);
  put16(b, 10, 0);
  put16(b, 10, internetChecksum(b, 0, (b[0]! & 0x0f) * 4));
  return b;
}

const hbh: Ipv6ExtHeaderRepr = { kind: 'hop-by-hop', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] };
const dstOpts: Ipv6ExtHeaderRepr = { kind: 'destination-options', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(12) }] };
const firstFragment: Ipv6ExtHeaderRepr = { kind: 'fragment', nextHeader: 0, fragmentOffset: 0, moreFragments: true, ident: 9, reserved1: 0, reserved2: 0 };

describe('parseTcpSegment: what the engine reads', () => {
  it('IPv4 SYN with MSS: addresses, ports, sequence numbers, flags, sizes, DF, MSS', () => {
    const s = parsed({ ...V4, seq: 0xdead_beef, ack: 0, flags: SYN, options: [{ kind: 'mss', value: 1460 }, { kind: 'sack-permitted' }, { kind: 'nop' }, { kind: 'nop' }] });
    assert.deepEqual(
      [s.family, s.src, s.dst, s.srcPort, s.dstPort, s.seq, s.ack, s.flags, s.ipLength, s.payloadLength, s.dontFragment, s.mss],
      [4, '10.0.0.2', '10.0.0.1', 40_000, 8080, 0xdead_beef, 0, SYN, 48, 0, true, 1460],
    );
  });

  it('IPv4 data: the payload view, and DF as sent', () => {
    const payload = ascii('POST /icmp HTTP/1.1\r\n');
    const s = parsed({ ...V4, seq: 1, ack: 2, flags: ACK | PSH, payload, dontFragment: false });
    assert.deepEqual([s.ipLength, s.payloadLength, s.dontFragment, s.mss], [40 + payload.length, payload.length, false, undefined]);
    assert.ok(bytesEqual(s.payload, payload));
  });

  it('the MSS is read from SYNs only, and the first of two counts', () => {
    assert.equal(parsed({ ...V4, seq: 1, flags: ACK, options: [{ kind: 'mss', value: 1400 }] }).mss, undefined);
    assert.equal(parsed({ ...V4, seq: 1, flags: SYN | ACK, options: [{ kind: 'mss', value: 1400 }, { kind: 'mss', value: 500 }] }).mss, 1400);
  });

  it('bytes the queue holds beyond the IPv4 total length are not payload', () => {
    const bytes = tcpPacket({ ...V4, seq: 1, flags: ACK, payload: filler(10) });
    const padded = new Uint8Array(bytes.length + 6);
    padded.set(bytes);
    padded.fill(0xff, bytes.length);
    const r = parseTcpSegment(padded);
    assert.ok(r.ok);
    assert.deepEqual([r.value.ipLength, r.value.payloadLength], [50, 10]);
    assert.ok(bytesEqual(r.value.payload, filler(10)));
  });

  it('IPv6: always "DF", sizes from the payload length', () => {
    const s = parsed({ ...V6, seq: 7, ack: 8, flags: ACK, payload: filler(1440) });
    assert.deepEqual([s.family, s.src, s.dst, s.ipLength, s.payloadLength, s.dontFragment], [6, 'fd00::2', 'fd00::1', 1500, 1440, true]);
  });

  it('IPv6 with Hop-by-Hop and Destination Options headers before TCP', () => {
    const payload = filler(100);
    const s = parsed({ ...V6, seq: 7, flags: SYN, payload, options: [{ kind: 'mss', value: 1220 }], extensions: [hbh, dstOpts] });
    assert.deepEqual([s.srcPort, s.dstPort, s.seq, s.mss, s.ipLength, s.payloadLength], [40_000, 8080, 7, 1220, 40 + 8 + 16 + 24 + 100, 100]);
    assert.ok(bytesEqual(s.payload, payload));
  });
});

describe('parseTcpSegment: what the engine leaves alone, as error values with field and offset', () => {
  it('an empty packet and unknown IP versions', () => {
    assert.deepEqual(pick(error(new Uint8Array(0))), ['ip', 'version', 0]);
    assert.deepEqual(pick(error(Uint8Array.of(0x50, 0, 0, 0))), ['ip', 'version', 0]);
  });

  it('IPv4 fragments: MF set, or a non-zero offset', () => {
    const whole = tcpPacket({ ...V4, seq: 1, flags: ACK, payload: filler(100) });
    const mf = patch4(whole, (b) => {
      b[6] = 0x20;
    });
    const later = patch4(whole, (b) => {
      put16(b, 6, 0x0010);
    });
    assert.deepEqual(pick(error(mf)), ['ipv4', 'fragment_offset', 6]);
    assert.deepEqual(pick(error(later)), ['ipv4', 'fragment_offset', 6]);
  });

  it('IPv6 fragments: the offset is where the Fragment header starts', () => {
    assert.deepEqual(pick(error(tcpPacket({ ...V6, seq: 1, flags: ACK, payload: filler(100), extensions: [firstFragment] }))), ['ipv6', 'fragment', 40]);
    assert.deepEqual(pick(error(tcpPacket({ ...V6, seq: 1, flags: ACK, payload: filler(100), extensions: [hbh, firstFragment] }))), ['ipv6', 'fragment', 48]);
    const later: Ipv6ExtHeaderRepr = { ...firstFragment, fragmentOffset: 1448, moreFragments: false };
    assert.deepEqual(pick(error(tcpPacket({ ...V6, seq: 1, flags: ACK, payload: filler(100), extensions: [hbh, dstOpts, later] }))), ['ipv6', 'fragment', 64]);
  });

  it('not TCP', () => {
    const udp4 = patch4(tcpPacket({ ...V4, seq: 1, flags: ACK }), (b) => {
      b[9] = IpProtocol.Udp;
    });
    assert.deepEqual(pick(error(udp4)), ['ipv4', 'protocol', 9]);
    const udp6 = emitIpv6({ src: V6.src, dst: V6.dst, nextHeader: IpProtocol.Udp, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLength: 8 }, new Uint8Array(8));
    assert.deepEqual(pick(error(udp6)), ['ipv6', 'next_header', 6]);
    const noNext = emitIpv6({ src: V6.src, dst: V6.dst, nextHeader: IpProtocol.Ipv6NoNext, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLength: 0 }, new Uint8Array(0));
    assert.deepEqual(pick(error(noNext)), ['ipv6', 'next_header', 6]);
  });

  it('cut packets: the IP length beyond the bytes queued', () => {
    assert.deepEqual(pick(error(tcpPacket({ ...V4, seq: 1, flags: ACK, payload: filler(100) }).subarray(0, 100))), ['ipv4', 'total_length', 2]);
    assert.deepEqual(pick(error(tcpPacket({ ...V6, seq: 1, flags: ACK, payload: filler(100) }).subarray(0, 100))), ['ipv6', 'payload_length', 4]);
    assert.deepEqual(pick(error(tcpPacket({ ...V4, seq: 1, flags: ACK }).subarray(0, 19))), ['ipv4', 'header', 0]);
    assert.deepEqual(pick(error(tcpPacket({ ...V6, seq: 1, flags: ACK }).subarray(0, 39))), ['ipv6', 'header', 0]);
  });

  it('a TCP header the IP length cuts short, offsets counted from the IP header', () => {
    const tcp = new Uint8Array(10);
    const short4 = emitIpv4(
      { src: V4.src, dst: V4.dst, protocol: IpProtocol.Tcp, ttl: 64, dscp: 0, ecn: 0, ident: 1, reservedFlag: false, dontFragment: true, moreFragments: false, fragmentOffset: 0, options: new Uint8Array(0), payloadLength: 10 },
      tcp,
    );
    assert.deepEqual(pick(error(short4)), ['tcp', 'header', 20]);
    // A data offset of 15 words (60 bytes) in a 30-byte segment.
    const whole6 = tcpPacket({ ...V6, seq: 1, flags: ACK, payload: filler(10), extensions: [hbh] });
    const bad6 = whole6.slice();
    bad6[48 + 12] = 0xf0;
    assert.deepEqual(pick(error(bad6)), ['tcp', 'data_offset', 48 + 12]);
  });

  it('malformed options on a SYN (where the MSS is read); ignored on other segments', () => {
    const syn = tcpPacket({ ...V4, seq: 1, flags: SYN, options: [{ kind: 'mss', value: 1460 }] });
    const bad = syn.slice();
    bad[20 + 21] = 3; // MSS length 3
    assert.deepEqual(pick(error(bad)), ['tcp', 'option.length', 20 + 21]);
    const ack = bad.slice();
    ack[20 + 13] = ACK;
    assert.ok(parseTcpSegment(ack).ok);
  });
});

function pick(e: DecodeError): [string, string, number] {
  return [e.protocol, e.field, e.offset];
}
