import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { put16 } from '../../src/packet/bytes.js';
import { emitIcmpv4 } from '../../src/packet/icmpv4.js';
import { emitIcmpv6 } from '../../src/packet/icmpv6.js';
import { emitTcp, TcpFlag } from '../../src/packet/tcp.js';
import { buildProbe, type ProbeFlow, tcpSeqOfProbe } from '../../src/probe/probe-packets.js';
import { classifyReply, type ProbeReply, type ReceivedPacket, repliedFromDestination } from '../../src/probe/probe-reply.js';
import { FLOW4, FLOW6 } from './probe-flows.js';

const sent = new Map<number, { size: number }>([
  [5, { size: 1500 }],
  [6, { size: 1400 }],
]);
const lookup = (id: number): { size: number } | undefined => sent.get(id);

function icmp4(source: string, message: Uint8Array, ttl = 62): ReceivedPacket {
  return { family: 4, protocol: 'icmp', source, payload: message, ttl, receivedAtMs: 1000 };
}

function icmp6(source: string, message: Uint8Array): ReceivedPacket {
  return { family: 6, protocol: 'icmp', source, payload: message, receivedAtMs: 1000 };
}

function classify(received: ReceivedPacket, flow: ProbeFlow): ProbeReply {
  const r = classifyReply(received, flow, lookup);
  assert.ok(r.ok, r.ok ? '' : r.error.reason);
  return r.value;
}

describe('probe replies', () => {
  it('a Time Exceeded quoting only the IP header and 8 bytes still names the probe, as a partial quote', () => {
    const probe = buildProbe(FLOW4, { id: 5, size: 1500, ttl: 1 });
    probe[8] = 0; // the TTL the router saw run out
    const quoted = probe.slice(0, 28);
    const reply = classify(icmp4('10.0.2.1', emitIcmpv4({ kind: 'time-exceeded', code: 0, unused: 0, quoted })), FLOW4);
    assert.equal(reply.kind, 'time-exceeded');
    assert.ok(reply.kind === 'time-exceeded');
    assert.equal(reply.probeId, 5);
    assert.equal(reply.from, '10.0.2.1');
    assert.equal(reply.partialQuote, true);
    assert.equal(reply.quotedTtl, 0);
    assert.equal(reply.replyTtl, 62);
    assert.deepEqual(reply.quoted, quoted);
    assert.equal(repliedFromDestination(reply), false);
  });

  it('a fuller quote is not partial; a quote of another flow, of an unsent probe number or of other addresses is unrelated', () => {
    const probe = buildProbe(FLOW4, { id: 5, size: 1500, ttl: 1 });
    const full = classify(icmp4('10.0.2.1', emitIcmpv4({ kind: 'time-exceeded', code: 0, unused: 0, quoted: probe.slice(0, 576 - 28) })), FLOW4);
    assert.ok(full.kind === 'time-exceeded' && !full.partialQuote);
    const otherPort = classify(icmp4('10.0.2.1', emitIcmpv4({ kind: 'time-exceeded', code: 0, unused: 0, quoted: probe.slice(0, 28) })), { ...FLOW4, srcPort: 1 });
    assert.equal(otherPort.kind, 'unrelated');
    const unsent = buildProbe(FLOW4, { id: 99, size: 100, ttl: 1 });
    assert.equal(classify(icmp4('10.0.2.1', emitIcmpv4({ kind: 'time-exceeded', code: 0, unused: 0, quoted: unsent.slice(0, 28) })), FLOW4).kind, 'unrelated');
    const elsewhere = buildProbe({ ...FLOW4, destination: '10.0.8.8' }, { id: 5, size: 100, ttl: 1 });
    assert.equal(classify(icmp4('10.0.2.1', emitIcmpv4({ kind: 'time-exceeded', code: 0, unused: 0, quoted: elsewhere.slice(0, 28) })), FLOW4).kind, 'unrelated');
  });

  it('"fragmentation needed" gives the reported MTU; an old-style zero MTU gives the RFC 1191 plateau below the quoted length', () => {
    const probe = buildProbe(FLOW4, { id: 6, size: 1400, ttl: 3 });
    const ptb = classify(
      icmp4('10.0.3.1', emitIcmpv4({ kind: 'destination-unreachable', code: 4, unused: 0, nextHopMtu: 1280, quoted: probe.slice(0, 28) })),
      FLOW4,
    );
    assert.ok(ptb.kind === 'packet-too-big');
    assert.deepEqual([ptb.probeId, ptb.mtu, ptb.reportedMtu, ptb.mtuEstimated], [6, 1280, 1280, false]);
    const old = classify(
      icmp4('10.0.3.1', emitIcmpv4({ kind: 'destination-unreachable', code: 4, unused: 0, nextHopMtu: 0, quoted: probe.slice(0, 28) })),
      FLOW4,
    );
    assert.ok(old.kind === 'packet-too-big');
    assert.deepEqual([old.mtu, old.reportedMtu, old.mtuEstimated], [1006, 0, true]);
    // A 4.2BSD router quotes total length plus header length: 1420 for our 1400, still the plateau below 1400.
    const bsd = probe.slice(0, 28);
    put16(bsd, 2, 1420);
    const bsdReply = classify(icmp4('10.0.3.1', emitIcmpv4({ kind: 'destination-unreachable', code: 4, unused: 0, nextHopMtu: 0, quoted: bsd })), FLOW4);
    assert.ok(bsdReply.kind === 'packet-too-big');
    assert.equal(bsdReply.mtu, 1006);
  });

  it('port unreachable from the destination means reached; admin prohibited from a router does not', () => {
    const probe = buildProbe(FLOW4, { id: 5, size: 1500, ttl: 64 });
    const port = classify(
      icmp4(FLOW4.destination, emitIcmpv4({ kind: 'destination-unreachable', code: 3, unused: 0, nextHopMtu: 0, quoted: probe.slice(0, 548) })),
      FLOW4,
    );
    assert.ok(port.kind === 'unreachable');
    assert.equal(port.reason, 'port');
    assert.equal(repliedFromDestination(port), true);
    const admin = classify(
      icmp4('10.0.4.1', emitIcmpv4({ kind: 'destination-unreachable', code: 13, unused: 0, nextHopMtu: 0, quoted: probe.slice(0, 28) })),
      FLOW4,
    );
    assert.ok(admin.kind === 'unreachable');
    assert.equal(admin.reason, 'admin-prohibited');
    assert.equal(repliedFromDestination(admin), false);
  });

  it('ICMPv6 Packet Too Big, Time Exceeded and port unreachable are read with their quotes', () => {
    const probe = buildProbe(FLOW6, { id: 5, size: 1500, ttl: 2 });
    const quoted = probe.slice(0, 1280 - 48);
    const ptb = classify(icmp6('fd00:3::1', emitIcmpv6({ kind: 'packet-too-big', code: 0, mtu: 1400, quoted }, 'fd00:3::1', FLOW6.source)), FLOW6);
    assert.ok(ptb.kind === 'packet-too-big');
    assert.deepEqual([ptb.probeId, ptb.mtu, ptb.partialQuote, ptb.quotedTtl], [5, 1400, false, 2]);
    const te = classify(icmp6('fd00:2::1', emitIcmpv6({ kind: 'time-exceeded', code: 0, unused: 0, quoted }, 'fd00:2::1', FLOW6.source)), FLOW6);
    assert.equal(te.kind, 'time-exceeded');
    const port = classify(
      icmp6(FLOW6.destination, emitIcmpv6({ kind: 'destination-unreachable', code: 4, unused: 0, quoted }, FLOW6.destination, FLOW6.source)),
      FLOW6,
    );
    assert.ok(repliedFromDestination(port));
  });

  it('an echo reply of our identifier and a sent sequence matches; one of another identifier does not', () => {
    const flow: ProbeFlow = { ...FLOW4, protocol: 'icmp' };
    const reply = classify(icmp4(flow.destination, emitIcmpv4({ kind: 'echo-reply', ident: flow.echoIdent, seq: 6, data: new Uint8Array(10) })), flow);
    assert.ok(reply.kind === 'echo-reply' && reply.probeId === 6);
    const other = classify(icmp4(flow.destination, emitIcmpv4({ kind: 'echo-reply', ident: 1, seq: 6, data: new Uint8Array(10) })), flow);
    assert.equal(other.kind, 'unrelated');
  });

  it("the destination's SYN-ACK and RST answer the probe their acknowledgment names; another connection's segment does not", () => {
    const flow: ProbeFlow = { ...FLOW6, protocol: 'tcp', dstPort: 443 };
    const segment = (flags: number, ack: number, srcPort = 443): ReceivedPacket => ({
      family: 6,
      protocol: 'tcp',
      source: flow.destination,
      payload: emitTcp(
        { srcPort, dstPort: flow.srcPort, seq: 1, ack, flags, window: 0, urgentPointer: 0, options: [], payloadLength: 0 },
        new Uint8Array(0),
        flow.destination,
        flow.source,
      ),
      receivedAtMs: 5,
    });
    const synAck = classify(segment(TcpFlag.Syn | TcpFlag.Ack, tcpSeqOfProbe(5) + 1), flow);
    assert.ok(synAck.kind === 'tcp-reply' && synAck.flags === 'syn-ack' && synAck.probeId === 5);
    const rst = classify(segment(TcpFlag.Rst | TcpFlag.Ack, tcpSeqOfProbe(6) + 1 + 1300), flow);
    assert.ok(rst.kind === 'tcp-reply' && rst.flags === 'rst' && rst.probeId === 6);
    assert.equal(classify(segment(TcpFlag.Syn | TcpFlag.Ack, tcpSeqOfProbe(5) + 1, 80), flow).kind, 'unrelated');
    assert.equal(classify(segment(TcpFlag.Ack, tcpSeqOfProbe(5) + 1), flow).kind, 'unrelated');
  });

  it('malformed messages are error values naming the field', () => {
    const r = classifyReply(icmp4('10.0.2.1', new Uint8Array([11, 0, 0])), FLOW4, lookup);
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.error.protocol === 'icmpv4');
    const badQuote = classifyReply(icmp4('10.0.2.1', emitIcmpv4({ kind: 'time-exceeded', code: 0, unused: 0, quoted: new Uint8Array([0x45, 0, 0]) })), FLOW4, lookup);
    assert.ok(!badQuote.ok && badQuote.error.reason.startsWith('quoted packet'));
  });
});
