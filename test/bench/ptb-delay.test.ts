import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PtbDelayMatcher } from '../../bench/ptb-delay.js';
import { capturedPacket, type CapturedPacket } from '../../src/capture/captured-packet.js';
import { emitIcmpv4, ICMPV4_FRAG_NEEDED_CODE } from '../../src/packet/icmpv4.js';
import { emitIcmpv6 } from '../../src/packet/icmpv6.js';
import { EtherType, IpProtocol } from '../../src/packet/ip-protocol.js';
import { LinkType } from '../../src/packet/link-type.js';
import { eth, ipv4, ipv6, tcp, V4, V6 } from '../support/sample-frames.js';

const PORT = 8080;
const MTU = { 4: 905, 6: 1280 } as const;
const SNAPLEN = 128;

function frame(data: Uint8Array, atUs: number, snap = true): CapturedPacket {
  const kept = snap ? data.subarray(0, Math.min(SNAPLEN, data.length)) : data;
  return capturedPacket(LinkType.Ethernet, 0, BigInt(Math.round(atUs * 1000)), data.length, kept);
}

/** The client's segment as an IP packet: `payload` bytes of TCP data from `seq`. */
function segmentV4(seq: number, payload: number, over: { dontFragment?: boolean; dstPort?: number } = {}): Uint8Array {
  const t = tcp({ srcPort: 40000, dstPort: over.dstPort ?? PORT, seq }, new Uint8Array(payload), V4.client, V4.server);
  return ipv4({ protocol: IpProtocol.Tcp, dontFragment: over.dontFragment ?? true }, t);
}

/** With timestamps, as Linux sends it: a 32-byte TCP header, which a 128-byte snap cuts inside a quote. */
function segmentV6(seq: number, payload: number): Uint8Array {
  const options = [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamps', value: 1, echo: 2 }] as const;
  return ipv6({ nextHeader: IpProtocol.Tcp }, tcp({ srcPort: 40001, dstPort: PORT, seq, options }, new Uint8Array(payload), V6.client, V6.server));
}

function arrivalV4(seq: number, payload: number, atUs: number, over: { dontFragment?: boolean; dstPort?: number } = {}): CapturedPacket {
  return frame(eth(EtherType.Ipv4, segmentV4(seq, payload, over)), atUs);
}

/** "Fragmentation needed" from the server quoting the segment at `seq` as the engine does (576 bytes at most). */
function fragNeeded(seq: number, atUs: number): CapturedPacket {
  const quoted = segmentV4(seq, 1448).subarray(0, 548);
  const icmp = emitIcmpv4({ kind: 'destination-unreachable', code: ICMPV4_FRAG_NEEDED_CODE, unused: 0, nextHopMtu: MTU[4], quoted });
  return frame(eth(EtherType.Ipv4, ipv4({ protocol: IpProtocol.Icmp, src: V4.server, dst: V4.client, dontFragment: false }, icmp)), atUs);
}

function packetTooBig(seq: number, atUs: number): CapturedPacket {
  const quoted = segmentV6(seq, 1428).subarray(0, 1232);
  const icmp = emitIcmpv6({ kind: 'packet-too-big', code: 0, mtu: MTU[6], quoted }, V6.server, V6.client);
  return frame(eth(EtherType.Ipv6, ipv6({ nextHeader: IpProtocol.Icmpv6, src: V6.server, dst: V6.client }, icmp)), atUs);
}

function run(packets: readonly CapturedPacket[]): ReturnType<PtbDelayMatcher['result']> {
  const m = new PtbDelayMatcher({ port: PORT, mtu: MTU });
  for (const p of packets) m.push(p);
  return m.result();
}

describe('PtbDelayMatcher', () => {
  it('measures from the arrival of the quoted IPv4 segment to its "fragmentation needed"', () => {
    const r = run([arrivalV4(1000, 1448, 100), fragNeeded(1000, 350)]);
    assert.deepEqual(r.delaysMs, [0.25]);
    assert.equal(r.oversizedArrivals, 1);
    assert.equal(r.packetTooBig, 1);
    assert.equal(r.unmatched, 0);
    assert.equal(r.unanswered, 0);
  });

  it('matches IPv6 Packets Too Big whose quoted TCP header the snap length cut', () => {
    const r = run([frame(eth(EtherType.Ipv6, segmentV6(5000, 1440)), 10), packetTooBig(5000, 1010)]);
    assert.deepEqual(r.delaysMs, [1]);
    assert.equal(r.unmatched, 0);
  });

  it('answers every segment of a super-packet from its single arrival', () => {
    const r = run([arrivalV4(0, 3 * 1448, 0), fragNeeded(0, 100), fragNeeded(1448, 200), fragNeeded(2896, 300)]);
    assert.deepEqual(r.delaysMs, [0.1, 0.2, 0.3]);
    assert.equal(r.unanswered, 0);
  });

  it('measures a retransmission from its own arrival, not the first', () => {
    const r = run([arrivalV4(1000, 1448, 0), fragNeeded(1000, 50), arrivalV4(1000, 1448, 2000), fragNeeded(1000, 2040)]);
    assert.deepEqual(r.delaysMs, [0.05, 0.04]);
  });

  it('gives a late first answer to the original and the next one to a retransmission that came in between', () => {
    const r = run([arrivalV4(1000, 1448, 0), arrivalV4(1000, 1448, 15_000), fragNeeded(1000, 22_000), fragNeeded(1000, 40_000)]);
    assert.deepEqual(r.delaysMs, [22, 25]);
    assert.equal(r.unanswered, 0);
  });

  it('the engine\'s copy of an answered segment (the same segment again right after its answer) is a copy, not an arrival', () => {
    const r = run([arrivalV4(1000, 1448, 0), fragNeeded(1000, 20), arrivalV4(1000, 1448, 60), arrivalV4(1000, 1448, 1100)]);
    assert.equal(r.copies, 1);
    // 1.08 ms after the answer: a client's retransmission (none comes this soon), which waits for its own answer.
    assert.deepEqual([r.oversizedArrivals, r.unanswered, r.delaysMs.length], [2, 1, 1]);
    // Before the answer, the same segment twice is two arrivals (a retransmission while the engine is slow).
    const slow = run([arrivalV4(1000, 1448, 0), arrivalV4(1000, 1448, 100), fragNeeded(1000, 300)]);
    assert.deepEqual([slow.copies, slow.oversizedArrivals, slow.unanswered], [0, 2, 1]);
  });

  it('counts a second answer to a segment that arrived once as unmatched', () => {
    const r = run([arrivalV4(1000, 1448, 0), fragNeeded(1000, 100), fragNeeded(1000, 200)]);
    assert.deepEqual(r.delaysMs, [0.1]);
    assert.equal(r.unmatched, 1);
  });

  it('finds the quoted sequence number across the 2^32 wrap', () => {
    const r = run([arrivalV4(0xfffffc00, 2048, 0), fragNeeded(0x100, 500)]);
    assert.deepEqual(r.delaysMs, [0.5]);
  });

  it('counts what it cannot pair: unknown quotes, errors before the segment, segments never answered', () => {
    const r = run([fragNeeded(7, 0), fragNeeded(1000, 5), arrivalV4(1000, 1448, 10), arrivalV4(99_000, 1448, 20)]);
    assert.deepEqual(r.delaysMs, []);
    assert.equal(r.packetTooBig, 2);
    assert.equal(r.unmatched, 2);
    assert.equal(r.oversizedArrivals, 2);
    assert.equal(r.unanswered, 2);
  });

  it('ignores segments that fit, IPv4 segments without DF and other ports', () => {
    const r = run([arrivalV4(1, 853, 0), arrivalV4(2, 1448, 0, { dontFragment: false }), arrivalV4(3, 1448, 0, { dstPort: 8081 })]);
    assert.equal(r.oversizedArrivals, 0);
  });
});
