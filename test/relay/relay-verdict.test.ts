/**
 * judgePacketTooBig with real messages: built with the emitters of src/packet (test/relay/relay-packets.ts), one case
 * where the verdict must say "reject" for each of its reasons and both families, the boundaries of every limit, and
 * tshark as the oracle for the MTU and the ICMP checksum.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { openCaptureWriter } from '../../src/capture/writer.js';
import { put16, u16 } from '../../src/packet/bytes.js';
import { finishChecksum, sum16 } from '../../src/packet/checksum.js';
import { type Cidr, parseCidrOrAddress } from '../../src/packet/cidr.js';
import { emitIcmpv6 } from '../../src/packet/icmpv6.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { LinkType } from '../../src/packet/link-type.js';
import {
  judgePacketTooBig,
  type PacketTooBigMessage,
  RELAY_REJECT_REASONS,
  type RelayPolicy,
  type RelayRejectReason,
  type RelayVerdict,
} from '../../src/relay/relay-verdict.js';
import { quoteDigest } from '../../src/relay/quote-digest.js';
import { ACK, filler, tcpPacket } from '../engine/engine-packets.js';
import { tsharkFields } from '../support/tshark.js';
import {
  ipPacket,
  offendingTcp,
  offendingUdp,
  PEER4,
  PEER6,
  PEER_PORT,
  packetTooBig,
  QUOTE4,
  QUOTE6,
  ROUTER4,
  ROUTER6,
  SERVED4,
  SERVED6,
  SERVED_PORT,
} from './relay-packets.js';

function cidr(text: string): Cidr {
  const c = parseCidrOrAddress(text);
  assert.ok(c, text);
  return c;
}

const POLICY: RelayPolicy = { served: [cidr('10.99.0.0/24'), cidr('2001:db8:99::/64')] };

function accepted(bytes: Uint8Array, policy: RelayPolicy = POLICY): PacketTooBigMessage {
  const v = judgePacketTooBig(bytes, policy);
  assert.ok(v.ok, v.ok ? '' : `rejected as ${v.reason}: ${v.detail}`);
  return v.message;
}

function rejected(bytes: Uint8Array, policy: RelayPolicy = POLICY): { reason: RelayRejectReason; detail: string } {
  const v = judgePacketTooBig(bytes, policy);
  assert.ok(!v.ok, v.ok ? `relayed: ${JSON.stringify({ ...v.message, messageKey: '…' })}` : '');
  return { reason: v.reason, detail: v.detail };
}

/** A copy with the 16-bit field at `offset` set to `value`. */
function with16(b: Uint8Array, offset: number, value: number): Uint8Array {
  const c = b.slice();
  put16(c, offset, value);
  return c;
}

/** A copy with byte `offset` set to `value`, and the IPv4 header checksum made right again. */
function withIpv4Byte(b: Uint8Array, offset: number, value: number): Uint8Array {
  const c = b.slice();
  c[offset] = value;
  const hl = (c[0]! & 0x0f) * 4;
  put16(c, 10, 0);
  put16(c, 10, finishChecksum(sum16(c, 0, hl)));
  return c;
}

const TCP4 = offendingTcp(4, 1500);
const TCP6 = offendingTcp(6, 1500);
const PTB4 = packetTooBig({ offending: TCP4, mtu: 1400 });
const PTB6 = packetTooBig({ offending: TCP6, mtu: 1280 });

describe('judgePacketTooBig relays', () => {
  it('an IPv4 "fragmentation needed" about a served TCP segment, quoted as far as RFC 1812 allows: every field of the message', () => {
    assert.equal(PTB4.length, 576);
    assert.deepEqual(accepted(PTB4), {
      family: 4,
      router: ROUTER4,
      target: SERVED4,
      mtu: 1400,
      flow: { protocol: IpProtocol.Tcp, served: SERVED4, servedPort: SERVED_PORT, peer: PEER4, peerPort: PEER_PORT },
      flowKey: '6 10.99.0.1 443 192.0.2.7 51000',
      quotedLength: 1500,
      quoteBytes: QUOTE4,
      partialQuote: false,
      dscp: 0,
      messageKey: `198.51.100.1 3 4 1400 ${quoteDigest(TCP4.subarray(0, QUOTE4))}`,
    });
  });

  it('an ICMPv6 Packet Too Big about a served TCP segment, quoted as far as RFC 4443 allows: every field of the message', () => {
    assert.equal(PTB6.length, 1280);
    assert.deepEqual(accepted(PTB6), {
      family: 6,
      router: ROUTER6,
      target: SERVED6,
      mtu: 1280,
      flow: { protocol: IpProtocol.Tcp, served: SERVED6, servedPort: SERVED_PORT, peer: PEER6, peerPort: PEER_PORT },
      flowKey: '6 2001:db8:99::1 443 2001:db8:1::7 51000',
      quotedLength: 1500,
      quoteBytes: QUOTE6,
      partialQuote: false,
      dscp: 0,
      messageKey: `2001:db8:ff::1 2 0 1280 ${quoteDigest(TCP6.subarray(0, QUOTE6))}`,
    });
  });

  it("RFC 792's 8 bytes after the quoted IP header are enough: the ports are read and partialQuote says the TCP header is cut", () => {
    const m4 = accepted(packetTooBig({ offending: TCP4, mtu: 1400, quote: 28 }));
    assert.deepEqual([m4.flow.servedPort, m4.flow.peerPort, m4.quoteBytes, m4.partialQuote, m4.quotedLength], [SERVED_PORT, PEER_PORT, 28, true, 1500]);
    const m6 = accepted(packetTooBig({ offending: TCP6, mtu: 1280, quote: 48 }));
    assert.deepEqual([m6.flow.servedPort, m6.flow.peerPort, m6.quoteBytes, m6.partialQuote], [SERVED_PORT, PEER_PORT, 48, true]);
  });

  it('a quote of 4 transport bytes still gives the ports; of 3, or of the IP header alone, none, and the flow key says so', () => {
    const four = accepted(packetTooBig({ offending: TCP4, mtu: 1400, quote: 24 }));
    assert.deepEqual([four.flow.servedPort, four.flow.peerPort, four.partialQuote], [SERVED_PORT, PEER_PORT, true]);
    const three = accepted(packetTooBig({ offending: TCP4, mtu: 1400, quote: 23 }));
    assert.deepEqual(three.flow, { protocol: 6, served: SERVED4, peer: PEER4 });
    assert.equal(three.flowKey, '6 10.99.0.1 - 192.0.2.7 -');
    assert.equal(three.partialQuote, true);
    const bare = accepted(packetTooBig({ offending: TCP6, mtu: 1280, quote: 40 }));
    assert.deepEqual([bare.flow.servedPort, bare.quoteBytes, bare.partialQuote], [undefined, 40, true]);
  });

  it('a quote that ends inside the TCP options is partial; one that holds the whole 20-byte header is not', () => {
    const withTimestamps = tcpPacket({
      src: SERVED4,
      dst: PEER4,
      srcPort: SERVED_PORT,
      dstPort: PEER_PORT,
      seq: 1,
      flags: ACK,
      payload: filler(1448),
      options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamps', value: 1, echo: 2 }],
    });
    assert.equal(accepted(packetTooBig({ offending: withTimestamps, mtu: 1400, quote: 20 + 24 })).partialQuote, true);
    assert.equal(accepted(packetTooBig({ offending: withTimestamps, mtu: 1400, quote: 20 + 32 })).partialQuote, false);
    assert.equal(accepted(packetTooBig({ offending: TCP4, mtu: 1400, quote: 20 + 19 })).partialQuote, true);
    assert.equal(accepted(packetTooBig({ offending: TCP4, mtu: 1400, quote: 20 + 20 })).partialQuote, false);
  });

  it('UDP and SCTP quotes give their ports; 8 bytes hold the whole UDP header but not the 12-byte SCTP common header', () => {
    const udp = accepted(packetTooBig({ offending: offendingUdp(4, 1500), mtu: 1400, quote: 28 }));
    assert.deepEqual([udp.flow.protocol, udp.flow.servedPort, udp.flow.peerPort, udp.partialQuote], [17, SERVED_PORT, PEER_PORT, false]);
    assert.equal(udp.flowKey, '17 10.99.0.1 443 192.0.2.7 51000');
    const udp6 = accepted(packetTooBig({ offending: offendingUdp(6, 1500), mtu: 1400, quote: 48 }));
    assert.deepEqual([udp6.flow.servedPort, udp6.partialQuote], [SERVED_PORT, false]);
    const sctpHeader = Uint8Array.of(0x01, 0xbb, 0xc7, 0x38, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0);
    const sctp = ipPacket({ src: SERVED4, dst: PEER4, protocol: IpProtocol.Sctp, payload: Uint8Array.from([...sctpHeader, ...filler(1468)]) });
    const m = accepted(packetTooBig({ offending: sctp, mtu: 1400, quote: 28 }));
    assert.deepEqual([m.flow.protocol, m.flow.servedPort, m.flow.peerPort, m.partialQuote], [132, 443, 51_000, true]);
    assert.equal(accepted(packetTooBig({ offending: sctp, mtu: 1400, quote: 32 })).partialQuote, false);
  });

  it('a quoted protocol without ports (an ICMP echo) gives none; its 8-byte header held whole is not partial', () => {
    const echo = ipPacket({ src: SERVED4, dst: PEER4, protocol: IpProtocol.Icmp, payload: Uint8Array.from([8, 0, 0, 0, 0, 1, 0, 1, ...filler(1472)]) });
    const m = accepted(packetTooBig({ offending: echo, mtu: 1400, quote: 28 }));
    assert.deepEqual(m.flow, { protocol: 1, served: SERVED4, peer: PEER4 });
    assert.equal(m.flowKey, '1 10.99.0.1 - 192.0.2.7 -');
    assert.equal(m.partialQuote, false);
    const gre = ipPacket({ src: SERVED4, dst: PEER4, protocol: IpProtocol.Gre, payload: filler(1480) });
    assert.deepEqual([accepted(packetTooBig({ offending: gre, mtu: 1400, quote: 22 })).partialQuote], [false], 'a header length the relay does not know');
  });

  it('IPv4 options, outer and quoted, are read by the header length: the fields and the offsets of details move with them', () => {
    const routerAlert = Uint8Array.of(0x94, 0x04, 0x00, 0x00);
    const quotedWithOptions = ipPacket({ src: SERVED4, dst: PEER4, protocol: IpProtocol.Udp, options: Uint8Array.of(1, 1, 1, 0), payload: Uint8Array.from([0x01, 0xbb, 0xc7, 0x38, 0x05, 0xc8, 0, 0, ...filler(1468)]) });
    const ptb = packetTooBig({ offending: quotedWithOptions, mtu: 1400, options: routerAlert, quote: 24 + 8 });
    const m = accepted(ptb);
    assert.deepEqual([m.target, m.flow.served, m.flow.servedPort, m.flow.peerPort, m.quotedLength, m.quoteBytes], [SERVED4, SERVED4, 443, 51_000, 1500, 32]);
    assert.deepEqual(rejected(with16(ptb, 26, 0x1234)), { reason: 'bad-checksum', detail: `icmpv4 checksum at byte 26 is 0x1234, should be ${hex16(u16(ptb, 26))}` });
    assert.equal(rejected(packetTooBig({ offending: quotedWithOptions, mtu: 1400, options: routerAlert, quote: 23 })).detail, 'quoted ipv4 ihl at byte 32: header length 24 is beyond the buffer of 23 bytes');
  });

  it('an IPv6 quote with extension headers before TCP: the ports are read after the chain', () => {
    const offending = offendingTcp(6, 1500, {
      extensions: [
        { kind: 'hop-by-hop', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] },
        { kind: 'destination-options', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(12) }] },
      ],
    });
    const m = accepted(packetTooBig({ offending, mtu: 1280 }));
    assert.deepEqual([m.flow.protocol, m.flow.servedPort, m.flow.peerPort, m.partialQuote, m.quotedLength], [6, SERVED_PORT, PEER_PORT, false, 1500]);
    const eight = accepted(packetTooBig({ offending, mtu: 1280, quote: 40 + 8 + 16 + 8 }));
    assert.deepEqual([eight.flow.servedPort, eight.partialQuote], [SERVED_PORT, true]);
  });

  it('an IPv6 quote that ends inside its extension headers is partial, not an error: no ports, the protocol of the header it cuts', () => {
    const offending = offendingTcp(6, 1500, { extensions: [{ kind: 'destination-options', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(12) }] }] });
    for (const quote of [40, 47, 48, 55]) {
      const m = accepted(packetTooBig({ offending, mtu: 1280, quote }));
      assert.deepEqual(m.flow, { protocol: IpProtocol.Ipv6Opts, served: SERVED6, peer: PEER6 }, `quote of ${quote} bytes`);
      assert.equal(m.partialQuote, true);
      assert.equal(m.flowKey, '60 2001:db8:99::1 - 2001:db8:1::7 -');
    }
    assert.equal(accepted(packetTooBig({ offending, mtu: 1280, quote: 56 })).flow.protocol, IpProtocol.Tcp);
  });

  it('an IPv6 Packet Too Big with extension headers of its own is read after them', () => {
    const m = accepted(packetTooBig({ offending: TCP6, mtu: 1280, extensions: [{ kind: 'destination-options', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] }] }));
    assert.deepEqual([m.mtu, m.flow.servedPort, m.quoteBytes], [1280, SERVED_PORT, QUOTE6]);
  });

  it('a quoted non-first fragment holds no transport header: no ports, not partial, and the protocol of the packet', () => {
    const fragment4 = ipPacket({ src: SERVED4, dst: PEER4, protocol: IpProtocol.Tcp, fragmentOffset: 1480, payload: filler(1480) });
    const m4 = accepted(packetTooBig({ offending: fragment4, mtu: 1400 }));
    assert.deepEqual([m4.flow, m4.partialQuote], [{ protocol: 6, served: SERVED4, peer: PEER4 }, false]);
    const fragment6 = ipPacket({
      src: SERVED6,
      dst: PEER6,
      protocol: IpProtocol.Udp,
      extensions: [{ kind: 'fragment', nextHeader: 0, fragmentOffset: 1448, moreFragments: false, ident: 7, reserved1: 0, reserved2: 0 }],
      payload: filler(1452),
    });
    const m6 = accepted(packetTooBig({ offending: fragment6, mtu: 1280 }));
    assert.deepEqual([m6.flow, m6.partialQuote], [{ protocol: 17, served: SERVED6, peer: PEER6 }, false]);
  });

  it('the code of an ICMPv6 Packet Too Big is ignored, as RFC 4443 section 3.2 tells receivers', () => {
    assert.equal(accepted(packetTooBig({ offending: TCP6, mtu: 1280, code: 1 })).mtu, 1280);
  });

  it('reports the outer DSCP of both families', () => {
    assert.equal(accepted(packetTooBig({ offending: TCP4, mtu: 1400, dscp: 46 })).dscp, 46);
    assert.equal(accepted(packetTooBig({ offending: TCP6, mtu: 1280, dscp: 48 })).dscp, 48);
  });

  it('bytes after the total length (link-layer padding) are not part of the message', () => {
    const small = packetTooBig({ offending: TCP4, mtu: 1400, quote: 28 });
    const padded = new Uint8Array(small.length + 6);
    padded.set(small);
    assert.deepEqual(accepted(padded), accepted(small));
  });

  it('reads a packet that is a view into a larger buffer', () => {
    const buffer = new Uint8Array(PTB6.length + 100);
    buffer.set(PTB6, 37);
    assert.deepEqual(accepted(buffer.subarray(37, 37 + PTB6.length)), accepted(PTB6));
  });

  it('messageKey: copies of one message that differ in TTL, IP ID, DSCP and checksums share it; another router, MTU or quote does not', () => {
    const key = (bytes: Uint8Array): string => accepted(bytes).messageKey;
    const base = key(PTB4);
    assert.equal(key(packetTooBig({ offending: TCP4, mtu: 1400, ttl: 3, ident: 999, dscp: 10 })), base);
    assert.equal(key(packetTooBig({ offending: TCP6, mtu: 1280, ttl: 3, dscp: 10 })), key(PTB6));
    assert.notEqual(key(packetTooBig({ offending: TCP4, mtu: 1400, router: '198.51.100.2' })), base);
    assert.notEqual(key(packetTooBig({ offending: TCP4, mtu: 1399 })), base);
    assert.notEqual(key(packetTooBig({ offending: TCP4, mtu: 1400, quote: 547 })), base);
    assert.notEqual(key(packetTooBig({ offending: offendingTcp(4, 1501), mtu: 1400 })), base);
  });

  it('flowKey: packets of one flow share it, whatever their length, router or MTU', () => {
    const key = (bytes: Uint8Array): string => accepted(bytes).flowKey;
    assert.equal(key(packetTooBig({ offending: offendingTcp(4, 1400), mtu: 1300, router: '198.51.100.9' })), key(PTB4));
    assert.notEqual(key(packetTooBig({ offending: offendingUdp(4, 1500), mtu: 1400 })), key(PTB4));
  });
});

function hex16(v: number): string {
  return `0x${v.toString(16).padStart(4, '0')}`;
}

describe('judgePacketTooBig rejects', () => {
  it('not-ip: an empty packet, an IP version other than 4 and 6, an IHL below 5, malformed IPv4 options or IPv6 extension headers', () => {
    assert.deepEqual(rejected(new Uint8Array(0)), { reason: 'not-ip', detail: 'ip version at byte 0: the packet is empty' });
    assert.deepEqual(rejected(Uint8Array.of(0x50, 0, 0, 0)), { reason: 'not-ip', detail: 'ip version at byte 0 is 5, neither 4 nor 6' });
    assert.deepEqual(rejected(withIpv4Byte(PTB4, 0, 0x44)), { reason: 'not-ip', detail: 'ipv4 ihl at byte 0: IHL 4 is smaller than 5' });
    // Option 7 (record route) whose length octet runs past the 4 option bytes.
    const badOption = packetTooBig({ offending: TCP4, mtu: 1400, options: Uint8Array.of(7, 9, 4, 0) });
    assert.deepEqual(rejected(badOption), { reason: 'not-ip', detail: 'ipv4 option.length at byte 21: option 7 length 9 runs past the header' });
    const badTlv = packetTooBig({ offending: TCP6, mtu: 1280, extensions: [{ kind: 'hop-by-hop', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] }] });
    badTlv[43] = 5; // the PadN's length now runs past its 8-byte header
    assert.deepEqual(rejected(badTlv).reason, 'not-ip');
    const many = packetTooBig({ offending: TCP6, mtu: 1280, quote: 100, extensions: Array.from({ length: 33 }, () => ({ kind: 'destination-options' as const, nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] })) });
    assert.deepEqual(rejected(many), { reason: 'not-ip', detail: 'ipv6-ext chain at byte 296: more than 32 extension headers' });
  });

  it('truncated: the bytes stop before the total length, the payload length, an extension header, or the ICMP header', () => {
    assert.deepEqual(rejected(PTB4.subarray(0, 575)), { reason: 'truncated', detail: 'ipv4 total length at byte 2 is 576, the packet has 575 bytes' });
    assert.deepEqual(rejected(PTB4.subarray(0, 19)), { reason: 'truncated', detail: 'ipv4 header at byte 0: needs 20 bytes, buffer has 19' });
    assert.deepEqual(rejected(withIpv4Byte(PTB4, 0, 0x4f).subarray(0, 40)).reason, 'truncated', 'an IHL of 60 bytes in a 40-byte packet');
    assert.deepEqual(rejected(with16(PTB4, 2, 12)), { reason: 'truncated', detail: 'ipv4 total_length at byte 2: total length 12 is smaller than header length 20' });
    const shortIcmp = ipPacket({ src: ROUTER4, dst: SERVED4, protocol: IpProtocol.Icmp, payload: Uint8Array.of(3, 4, 0, 0) });
    assert.deepEqual(rejected(shortIcmp), { reason: 'truncated', detail: 'icmpv4 header at byte 20: needs 8 bytes, buffer has 4' });
    assert.deepEqual(rejected(PTB6.subarray(0, 1279)), { reason: 'truncated', detail: 'ipv6 payload length at byte 4 is 1240, the packet has 1239 bytes after the header' });
    assert.deepEqual(rejected(PTB6.subarray(0, 39)), { reason: 'truncated', detail: 'ipv6 header at byte 0: needs 40 bytes, buffer has 39' });
    // A 16-byte destination options header in a payload length of 10.
    const longHeader = packetTooBig({ offending: TCP6, mtu: 1280, extensions: [{ kind: 'destination-options', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(12) }] }] });
    assert.deepEqual(rejected(with16(longHeader, 4, 10).subarray(0, 50)), {
      reason: 'truncated',
      detail: 'ipv6-ext destination-options.length at byte 41: destination-options header of 16 bytes at offset 40 runs past the payload length (packet ends at 50)',
    });
    const shortIcmpv6 = ipPacket({ src: ROUTER6, dst: SERVED6, protocol: IpProtocol.Icmpv6, payload: Uint8Array.of(2, 0, 0, 0) });
    assert.deepEqual(rejected(shortIcmpv6), { reason: 'truncated', detail: 'icmpv6 header at byte 40: needs 8 bytes, buffer has 4' });
  });

  it('not-icmp: another protocol, named by the next header field that names it', () => {
    assert.deepEqual(rejected(TCP4), { reason: 'not-icmp', detail: 'ipv4 protocol at byte 9 is 6, not 1 (ICMP)' });
    assert.deepEqual(rejected(offendingUdp(6, 100)), { reason: 'not-icmp', detail: 'ipv6 next header at byte 6 is 17, not 58 (ICMPv6)' });
    const afterOptions = ipPacket({ src: ROUTER6, dst: SERVED6, protocol: IpProtocol.Tcp, extensions: [{ kind: 'hop-by-hop', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] }], payload: filler(20) });
    assert.deepEqual(rejected(afterOptions), { reason: 'not-icmp', detail: 'ipv6 next header at byte 40 is 6, not 58 (ICMPv6)' });
    const noNext = ipPacket({ src: ROUTER6, dst: SERVED6, protocol: IpProtocol.Ipv6NoNext, payload: filler(8) });
    assert.deepEqual(rejected(noNext).reason, 'not-icmp');
  });

  it('fragment: an IPv4 first fragment, a later IPv4 fragment, an IPv6 packet with a fragment header', () => {
    assert.deepEqual(rejected(packetTooBig({ offending: TCP4, mtu: 1400, moreFragments: true })), { reason: 'fragment', detail: 'ipv4 flags and fragment offset at byte 6: more fragments 1, offset 0' });
    const later = ipPacket({ src: ROUTER4, dst: SERVED4, protocol: IpProtocol.Icmp, fragmentOffset: 552, payload: filler(24) });
    assert.deepEqual(rejected(later), { reason: 'fragment', detail: 'ipv4 flags and fragment offset at byte 6: more fragments 0, offset 552' });
    const first6 = packetTooBig({
      offending: TCP6,
      mtu: 1280,
      quote: 100,
      extensions: [{ kind: 'fragment', nextHeader: 0, fragmentOffset: 0, moreFragments: true, ident: 1, reserved1: 0, reserved2: 0 }],
    });
    assert.deepEqual(rejected(first6), { reason: 'fragment', detail: 'ipv6 fragment header at byte 40: offset 0, more fragments 1' });
  });

  it('not-packet-too-big: other ICMP types and codes, "host unreachable" (3/1) among them', () => {
    const unreachable = packetTooBig({ offending: TCP4, mtu: 0, icmpv4: (quoted) => ({ kind: 'destination-unreachable', code: 1, unused: 0, nextHopMtu: 0, quoted }) });
    assert.deepEqual(rejected(unreachable), { reason: 'not-packet-too-big', detail: 'icmpv4 type and code at byte 20 are 3/1, not 3/4 (fragmentation needed)' });
    const echo = packetTooBig({ offending: TCP4, mtu: 0, icmpv4: (data) => ({ kind: 'echo-request', ident: 1, seq: 1, data }) });
    assert.equal(rejected(echo).reason, 'not-packet-too-big');
    const exceeded = packetTooBig({ offending: TCP4, mtu: 0, icmpv4: (quoted) => ({ kind: 'time-exceeded', code: 0, unused: 0, quoted }) });
    assert.equal(rejected(exceeded).reason, 'not-packet-too-big');
    const unreachable6 = packetTooBig({ offending: TCP6, mtu: 0, icmpv6: (quoted) => ({ kind: 'destination-unreachable', code: 4, unused: 0, quoted }) });
    assert.deepEqual(rejected(unreachable6), { reason: 'not-packet-too-big', detail: 'icmpv6 type at byte 40 is 1, not 2 (Packet Too Big)' });
    const echo6 = packetTooBig({ offending: TCP6, mtu: 0, icmpv6: (data) => ({ kind: 'echo-reply', ident: 1, seq: 1, data }) });
    assert.equal(rejected(echo6).reason, 'not-packet-too-big');
  });

  it('bad-checksum: the ICMPv4 checksum over the message, the ICMPv6 one with its pseudo-header, the IPv4 header checksum', () => {
    assert.deepEqual(rejected(with16(PTB4, 22, 0x1234)), { reason: 'bad-checksum', detail: `icmpv4 checksum at byte 22 is 0x1234, should be ${hex16(u16(PTB4, 22))}` });
    const flipped = PTB4.slice();
    flipped[300] = flipped[300]! ^ 0x01;
    assert.equal(rejected(flipped).reason, 'bad-checksum', 'one bit of the quote');
    assert.deepEqual(rejected(with16(PTB6, 42, 0x1234)), { reason: 'bad-checksum', detail: `icmpv6 checksum at byte 42 is 0x1234, should be ${hex16(u16(PTB6, 42))}` });
    // The same ICMPv6 bytes to another served address: only the pseudo-header differs.
    const icmp = emitIcmpv6({ kind: 'packet-too-big', code: 0, mtu: 1280, quoted: TCP6.subarray(0, QUOTE6) }, ROUTER6, SERVED6);
    const readdressed = ipPacket({ src: ROUTER6, dst: '2001:db8:99::2', protocol: IpProtocol.Icmpv6, payload: icmp });
    assert.equal(rejected(readdressed).reason, 'bad-checksum');
    assert.deepEqual(rejected(with16(PTB4, 10, 0xbeef)), { reason: 'bad-checksum', detail: `ipv4 header checksum at byte 10 is 0xbeef, should be ${hex16(u16(PTB4, 10))}` });
  });

  it('mtu-below-minimum: below 68 for IPv4 (0 from pre-RFC 1191 routers too), below 1280 for IPv6; 68 and 1280 relay', () => {
    assert.deepEqual(rejected(packetTooBig({ offending: TCP4, mtu: 0 })), { reason: 'mtu-below-minimum', detail: 'icmpv4 next-hop MTU at byte 26 is 0, below the IPv4 minimum of 68 (RFC 791, RFC 1191)' });
    assert.equal(rejected(packetTooBig({ offending: TCP4, mtu: 67 })).reason, 'mtu-below-minimum');
    assert.equal(accepted(packetTooBig({ offending: TCP4, mtu: 68 })).mtu, 68);
    assert.deepEqual(rejected(packetTooBig({ offending: TCP6, mtu: 1279 })), { reason: 'mtu-below-minimum', detail: 'icmpv6 MTU at byte 44 is 1279, below the IPv6 minimum of 1280 (RFC 8200, RFC 8201)' });
    assert.equal(rejected(packetTooBig({ offending: TCP6, mtu: 0 })).reason, 'mtu-below-minimum');
    assert.equal(accepted(packetTooBig({ offending: TCP6, mtu: 1280 })).mtu, 1280);
  });

  it('mtu-above-link: above the family\'s maxMtu (inclusive bound), or above 65535 when the policy sets none', () => {
    const policy: RelayPolicy = { ...POLICY, maxMtu: { 4: 1500, 6: 1500 } };
    const jumbo4 = offendingTcp(4, 9000);
    const jumbo6 = offendingTcp(6, 9000);
    assert.deepEqual(rejected(packetTooBig({ offending: jumbo4, mtu: 1501 }), policy), { reason: 'mtu-above-link', detail: 'icmpv4 next-hop MTU at byte 26 is 1501, above the link MTU of 1500' });
    assert.equal(accepted(packetTooBig({ offending: jumbo4, mtu: 1500 }), policy).mtu, 1500);
    assert.deepEqual(rejected(packetTooBig({ offending: jumbo6, mtu: 1501 }), policy), { reason: 'mtu-above-link', detail: 'icmpv6 MTU at byte 44 is 1501, above the link MTU of 1500' });
    assert.equal(accepted(packetTooBig({ offending: jumbo6, mtu: 1500 }), policy).mtu, 1500);
    assert.equal(accepted(packetTooBig({ offending: jumbo6, mtu: 8000 }), { ...POLICY, maxMtu: { 4: 1500 } }).mtu, 8000, 'a bound for IPv4 only');
    const huge6 = offendingTcp(6, 65_575);
    assert.deepEqual(rejected(packetTooBig({ offending: huge6, mtu: 65_536 })), { reason: 'mtu-above-link', detail: 'icmpv6 MTU at byte 44 is 65536, above the link MTU of 65535' });
    assert.equal(accepted(packetTooBig({ offending: huge6, mtu: 65_535 })).quotedLength, 65_575);
  });

  it('mtu-not-smaller: the quoted packet would have fit in the MTU; one byte less and it would not', () => {
    assert.deepEqual(rejected(packetTooBig({ offending: TCP4, mtu: 1500 })), {
      reason: 'mtu-not-smaller',
      detail: "icmpv4 next-hop MTU at byte 26 is 1500, not smaller than the quoted packet's total length of 1500 (byte 30)",
    });
    assert.equal(rejected(packetTooBig({ offending: TCP4, mtu: 9000 })).reason, 'mtu-not-smaller');
    assert.equal(accepted(packetTooBig({ offending: TCP4, mtu: 1499 })).mtu, 1499);
    assert.deepEqual(rejected(packetTooBig({ offending: TCP6, mtu: 1500 })), {
      reason: 'mtu-not-smaller',
      detail: "icmpv6 MTU at byte 44 is 1500, not smaller than the quoted packet's length (40 + payload length) of 1500 (byte 52)",
    });
    assert.equal(accepted(packetTooBig({ offending: TCP6, mtu: 1499 })).mtu, 1499);
  });

  it('quote-unparsable: a quote shorter than its IP header, of the other IP version, or with a malformed header', () => {
    assert.deepEqual(rejected(packetTooBig({ offending: TCP4, mtu: 1400, quote: 19 })), { reason: 'quote-unparsable', detail: 'quoted ipv4 header at byte 28: needs 20 bytes, buffer has 19' });
    assert.deepEqual(rejected(packetTooBig({ offending: TCP4, mtu: 1400, quote: 0 })).reason, 'quote-unparsable');
    const v6InV4 = packetTooBig({ offending: TCP4, mtu: 1400, icmpv4: () => ({ kind: 'destination-unreachable', code: 4, unused: 0, nextHopMtu: 1400, quoted: TCP6.subarray(0, 100) }) });
    assert.deepEqual(rejected(v6InV4), { reason: 'quote-unparsable', detail: 'quoted ipv4 version at byte 28: version is 6, not 4' });
    const badLength = packetTooBig({ offending: with16(TCP4, 2, 19), mtu: 68 });
    assert.deepEqual(rejected(badLength), { reason: 'quote-unparsable', detail: 'quoted ipv4 total_length at byte 30: total length 19 is smaller than header length 20' });
    assert.deepEqual(rejected(packetTooBig({ offending: TCP6, mtu: 1280, quote: 39 })), { reason: 'quote-unparsable', detail: 'quoted ipv6 header at byte 48: needs 40 bytes, buffer has 39' });
    const v4InV6 = packetTooBig({ offending: TCP6, mtu: 1280, icmpv6: () => ({ kind: 'packet-too-big', code: 0, mtu: 1280, quoted: TCP4 }) });
    assert.deepEqual(rejected(v4InV6), { reason: 'quote-unparsable', detail: 'quoted ipv6 version at byte 48: version is 4, not 6' });
    const badChain = offendingTcp(6, 1500, { extensions: [{ kind: 'hop-by-hop', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] }] });
    badChain[43] = 5; // the PadN's length runs past its header
    assert.deepEqual(rejected(packetTooBig({ offending: badChain, mtu: 1280 })), {
      reason: 'quote-unparsable',
      detail: 'quoted ipv6-ext hop-by-hop.option.length at byte 91: option 1 length 5 runs past the end of the 8-byte header',
    });
  });

  it('target-not-served: the message is addressed to an address the relay does not serve (or the relay serves none)', () => {
    assert.deepEqual(rejected(packetTooBig({ offending: TCP4, mtu: 1400, to: '10.98.0.1' })), { reason: 'target-not-served', detail: 'ipv4 destination at byte 16 is 10.98.0.1, not a served address' });
    assert.deepEqual(rejected(packetTooBig({ offending: TCP6, mtu: 1280, to: '2001:db8:98::1' })), { reason: 'target-not-served', detail: 'ipv6 destination at byte 24 is 2001:db8:98::1, not a served address' });
    assert.equal(rejected(PTB4, { served: [] }).reason, 'target-not-served');
    assert.equal(rejected(PTB6, { served: [cidr('10.0.0.0/8'), cidr('::ffff:10.99.0.0/120')] }).reason, 'target-not-served', 'served prefixes of the other family');
  });

  it('quote-not-served: the quoted packet was sent by an address the relay does not serve', () => {
    const from = (family: 4 | 6, src: string): Uint8Array => packetTooBig({ offending: offendingTcp(family, 1500, { src }), mtu: 1280 });
    assert.deepEqual(rejected(from(4, '10.98.0.1')), { reason: 'quote-not-served', detail: 'quoted ipv4 source at byte 40 is 10.98.0.1, not a served address' });
    assert.deepEqual(rejected(from(6, '2001:db8:98::1')), { reason: 'quote-not-served', detail: 'quoted ipv6 source at byte 56 is 2001:db8:98::1, not a served address' });
  });

  it('quote-mismatch: the quoted source is served, but the message went to another served address', () => {
    const mismatched = packetTooBig({ offending: offendingTcp(4, 1500, { src: '10.99.0.2' }), mtu: 1400, to: SERVED4 });
    assert.deepEqual(rejected(mismatched), { reason: 'quote-mismatch', detail: 'quoted ipv4 source at byte 40 is 10.99.0.2, but the message is addressed to 10.99.0.1 (byte 16)' });
    const mismatched6 = packetTooBig({ offending: offendingTcp(6, 1500, { src: '2001:db8:99::2' }), mtu: 1280, to: SERVED6 });
    assert.deepEqual(rejected(mismatched6), {
      reason: 'quote-mismatch',
      detail: 'quoted ipv6 source at byte 56 is 2001:db8:99::2, but the message is addressed to 2001:db8:99::1 (byte 24)',
    });
  });

  it('every reason of RELAY_REJECT_REASONS is reachable, for both families where the family matters', () => {
    const cases: [RelayRejectReason, Uint8Array][] = [
      ['not-ip', Uint8Array.of(0x00)],
      ['not-icmp', TCP4],
      ['not-icmp', TCP6],
      ['fragment', packetTooBig({ offending: TCP4, mtu: 1400, moreFragments: true })],
      ['not-packet-too-big', packetTooBig({ offending: TCP6, mtu: 0, icmpv6: (data) => ({ kind: 'echo-request', ident: 1, seq: 1, data }) })],
      ['bad-checksum', with16(PTB4, 22, 0)],
      ['bad-checksum', with16(PTB6, 42, 0)],
      ['truncated', PTB4.subarray(0, 100)],
      ['truncated', PTB6.subarray(0, 100)],
      ['mtu-below-minimum', packetTooBig({ offending: TCP4, mtu: 1 })],
      ['mtu-below-minimum', packetTooBig({ offending: TCP6, mtu: 1 })],
      ['mtu-above-link', packetTooBig({ offending: offendingTcp(6, 65_575), mtu: 70_000 })],
      ['mtu-not-smaller', packetTooBig({ offending: TCP4, mtu: 2000 })],
      ['mtu-not-smaller', packetTooBig({ offending: TCP6, mtu: 2000 })],
      ['quote-unparsable', packetTooBig({ offending: TCP4, mtu: 1400, quote: 10 })],
      ['quote-unparsable', packetTooBig({ offending: TCP6, mtu: 1280, quote: 10 })],
      ['quote-not-served', packetTooBig({ offending: offendingTcp(4, 1500, { src: '192.0.2.99' }), mtu: 1400 })],
      ['quote-not-served', packetTooBig({ offending: offendingTcp(6, 1500, { src: '2001:db8:2::1' }), mtu: 1400 })],
      ['target-not-served', packetTooBig({ offending: TCP4, mtu: 1400, to: '192.0.2.1' })],
      ['target-not-served', packetTooBig({ offending: TCP6, mtu: 1400, to: '2001:db8:2::1' })],
      ['quote-mismatch', packetTooBig({ offending: offendingTcp(4, 1500, { src: '10.99.0.200' }), mtu: 1400 })],
      ['quote-mismatch', packetTooBig({ offending: offendingTcp(6, 1500, { src: '2001:db8:99::200' }), mtu: 1400 })],
    ];
    for (const [reason, bytes] of cases) assert.equal(rejected(bytes).reason, reason);
    assert.deepEqual(new Set(cases.map(([reason]) => reason)), new Set(RELAY_REJECT_REASONS));
  });
});

describe('judgePacketTooBig on any bytes', () => {
  const REASONS: ReadonlySet<string> = new Set(RELAY_REJECT_REASONS);

  function wellFormed(v: RelayVerdict, policy: RelayPolicy = POLICY): void {
    if (!v.ok) {
      assert.ok(REASONS.has(v.reason), v.reason);
      assert.ok(v.detail.length > 0 && / at byte \d+|^ip version/.test(v.detail), v.detail);
      return;
    }
    const m = v.message;
    // What the verdict promises of a message it relays, whatever bytes it came from.
    assert.equal(m.flow.served, m.target);
    assert.ok(policy.served.some((c) => c.family === m.family));
    assert.ok(m.mtu >= (m.family === 4 ? 68 : 1280) && m.mtu < m.quotedLength, `${m.mtu} / ${m.quotedLength}`);
    assert.ok(m.quoteBytes <= m.quotedLength);
  }

  const valid: readonly Uint8Array[] = [
    PTB4,
    PTB6,
    packetTooBig({ offending: TCP4, mtu: 1400, quote: 28 }),
    packetTooBig({ offending: offendingUdp(6, 1500), mtu: 1280, quote: 48 }),
    packetTooBig({ offending: TCP4, mtu: 1400, options: Uint8Array.of(0x94, 4, 0, 0) }),
    packetTooBig({ offending: TCP6, mtu: 1280, extensions: [{ kind: 'hop-by-hop', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] }] }),
  ];

  it('property: random bytes never throw, and get a verdict with a known reason and a detail naming a byte', () => {
    const arbBytes = fc.oneof(
      fc.uint8Array({ maxLength: 1600, size: 'max' }),
      // Random bytes behind a plausible first byte, so that the IP codecs are reached more often.
      fc.tuple(fc.constantFrom(0x45, 0x46, 0x4f, 0x60), fc.uint8Array({ maxLength: 1400, size: 'max' })).map(([first, rest]) => Uint8Array.of(first, ...rest)),
    );
    fc.assert(fc.property(arbBytes, (bytes) => wellFormed(judgePacketTooBig(bytes, POLICY))), { numRuns: 2000 });
  });

  it('property: mutations of valid messages (flipped bytes, cuts, growth, splices) never throw, and every verdict keeps its promises', () => {
    const arbMutation = fc.record(
      {
        which: fc.nat({ max: valid.length - 1 }),
        flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
        cut: fc.option(fc.nat(), { nil: undefined }),
        grow: fc.uint8Array({ maxLength: 40, size: 'max' }),
        splice: fc.option(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })), { nil: undefined }),
      },
      { noNullPrototype: true },
    );
    fc.assert(
      fc.property(arbMutation, fc.boolean(), ({ which, flips, cut, grow, splice }, wide) => {
        let b = valid[which]!.slice();
        for (const [at, mask] of flips) b[at % b.length] = b[at % b.length]! ^ mask;
        if (splice) b.set(splice[1].subarray(0, Math.max(0, b.length - (splice[0] % b.length))), splice[0] % b.length);
        if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
        b = Uint8Array.from([...b, ...grow]);
        const policy: RelayPolicy = wide ? { served: [cidr('0.0.0.0/0'), cidr('::/0')] } : POLICY;
        wellFormed(judgePacketTooBig(b, policy), policy);
      }),
      { numRuns: 2000 },
    );
  });

  it('IPv4: flipping any bit pattern of any one byte of a relayable message makes it unrelayable (the header checksum or the ICMP checksum sees it)', () => {
    for (const ptb of [PTB4, packetTooBig({ offending: TCP4, mtu: 1400, quote: 28, options: Uint8Array.of(0x94, 4, 0, 0) })]) {
      for (let at = 0; at < ptb.length; at++) {
        for (const mask of [0x01, 0x80, 0xff]) {
          const b = ptb.slice();
          b[at] = b[at]! ^ mask;
          const v = judgePacketTooBig(b, POLICY);
          assert.ok(!v.ok, `byte ${at} ^ ${mask} relayed`);
        }
      }
    }
  });

  it('IPv6: a message with one byte flipped is relayed only when the byte is in the traffic class, flow label or hop limit, which no checksum covers', () => {
    const uncovered = new Set([1, 2, 3, 7]);
    for (let at = 0; at < PTB6.length; at++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const b = PTB6.slice();
        b[at] = b[at]! ^ mask;
        const v = judgePacketTooBig(b, POLICY);
        const trafficClassHighBits = at === 0 && (mask & 0xf0) === 0;
        assert.equal(v.ok, uncovered.has(at) || trafficClassHighBits, `byte ${at} ^ ${mask}: ${v.ok ? 'relayed' : v.reason}`);
      }
    }
  });
});

function tsharkAbsent(): string | false {
  const probe = spawnSync('tshark', ['--version'], { stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0 ? false : 'tshark is not installed: the oracle cannot run';
}

describe('judgePacketTooBig, checked by tshark', { skip: tsharkAbsent() }, () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mts-relay-verdict-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('tshark reads the same MTU, and finds the checksum good exactly where the verdict does (and the same right value where not)', async () => {
    const icmp = emitIcmpv6({ kind: 'packet-too-big', code: 0, mtu: 1400, quoted: TCP6.subarray(0, QUOTE6) }, ROUTER6, SERVED6);
    const packets = [
      PTB4,
      with16(PTB4, 22, 0x1234),
      packetTooBig({ offending: TCP4, mtu: 576, quote: 28, options: Uint8Array.of(0x94, 4, 0, 0) }),
      PTB6,
      packetTooBig({ offending: TCP6, mtu: 1400, extensions: [{ kind: 'destination-options', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] }] }),
      // Checksummed for another destination: only the pseudo-header is wrong.
      ipPacket({ src: ROUTER6, dst: '2001:db8:99::2', protocol: IpProtocol.Icmpv6, payload: icmp }),
    ];
    const path = join(dir, 'ptb.pcap');
    const w = openCaptureWriter(path, { format: 'pcap', linkType: LinkType.Raw });
    for (const [i, data] of packets.entries()) await w.write({ timestampNs: 1_700_000_000_000_000_000n + BigInt(i) * 1000n, data });
    await w.close();
    const rows = await tsharkFields(path, ['icmp.mtu', 'icmp.checksum.status', 'icmpv6.mtu', 'icmpv6.checksum.status', '_ws.expert.message']);
    assert.equal(rows.length, packets.length);
    const seen = packets.map((bytes, i) => {
      const row = rows[i]!;
      const v = judgePacketTooBig(bytes, POLICY);
      const mtu = row['icmp.mtu'] || row['icmpv6.mtu'];
      const status = row['icmp.checksum.status'] || row['icmpv6.checksum.status'];
      if (v.ok) {
        assert.equal(String(v.message.mtu), mtu, `packet ${i}`);
        assert.equal(status, '1', `packet ${i}`);
        return 'relayed';
      }
      assert.equal(v.reason, 'bad-checksum', `packet ${i}: ${v.detail}`);
      assert.equal(status, '0', `packet ${i}`);
      const should = /should be (0x[0-9a-f]{4})/.exec(row['_ws.expert.message']!)?.[1];
      assert.ok(should !== undefined, row['_ws.expert.message']);
      assert.ok(v.detail.endsWith(`should be ${should}`), `${v.detail} / tshark: ${should}`);
      return v.reason;
    });
    assert.deepEqual(seen, ['relayed', 'bad-checksum', 'relayed', 'relayed', 'relayed', 'bad-checksum']);
  });
});
