import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type PacketTooBigSink, type ReceivedDatagram, UdpResponder, type UdpResponderSettings } from '../../src/checker/udp-responder.js';
import { formatIpv4, formatIpv6 } from '../../src/packet/address.js';
import { Icmpv4Packet, parseIcmpv4 } from '../../src/packet/icmpv4.js';
import { Icmpv6Packet, parseIcmpv6 } from '../../src/packet/icmpv6.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import { Ipv4Packet } from '../../src/packet/ipv4.js';
import { Ipv6Packet } from '../../src/packet/ipv6.js';
import { decodeResponderMessage, emitResponderMessage, type ResponderMessage } from '../../src/packet/responder-message.js';
import { UdpPacket } from '../../src/packet/udp.js';
import { matchEchoedPtb } from '../../src/probe/ptb-echo-match.js';

const SETTINGS: UdpResponderSettings = {
  maxReplySize: 4096,
  answerRate: { perClient: { perSecond: 10, burst: 10 }, global: { perSecond: 1000, burst: 1000 } },
  replyByteRate: { perClient: { perSecond: 8192, burst: 8192 }, global: { perSecond: 1 << 20, burst: 1 << 20 } },
  cookieSlotMs: 60_000,
  ipv6ClientPrefix: 64,
};
const SECRET = new Uint8Array(32).fill(7);
const NONCE = Uint8Array.of(9, 9, 9, 9, 1, 2, 3, 4);
const FROM = { family: 4 as const, address: '10.0.1.2', port: 40000 };

function datagram(m: ResponderMessage, from: Omit<ReceivedDatagram, 'bytes'> = FROM): ReceivedDatagram {
  return { ...from, bytes: emitResponderMessage(m) };
}

function decoded(bytes: Uint8Array | undefined): ResponderMessage {
  assert.ok(bytes !== undefined, 'no answer');
  const d = decodeResponderMessage(bytes);
  assert.ok(d.ok, 'answer does not decode');
  return d.value;
}

function cookieOf(r: UdpResponder, now: number, from: Omit<ReceivedDatagram, 'bytes'> = FROM): Uint8Array {
  const m = decoded(r.answer(datagram({ type: 'hello', nonce: NONCE, padding: 24 }, from), now));
  assert.equal(m.type, 'cookie');
  return m.type === 'cookie' ? m.cookie : new Uint8Array(0);
}

describe('UDP responder decisions', () => {
  it('a hello gets a 40-byte cookie (no larger than the hello) carrying the nonce and the largest reply size', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    const answer = r.answer(datagram({ type: 'hello', nonce: NONCE, padding: 24 }), 1000);
    assert.equal(answer?.length, 40);
    const m = decoded(answer);
    assert.deepEqual({ ...m, cookie: undefined }, { type: 'cookie', nonce: NONCE, cookie: undefined, maxReplySize: 4096 });
    assert.equal(r.counters.cookiesSent, 1);
  });

  it('a proven client gets its sized replies; the same request from another port or address with that cookie gets a 24-byte bad-cookie error', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    const cookie = cookieOf(r, 1000);
    const request: ResponderMessage = { type: 'size-request', nonce: NONCE, cookie, requestId: 5, replySize: 4096, padding: 0 };
    const reply = r.answer(datagram(request), 1001);
    assert.equal(reply?.length, 4096);
    assert.deepEqual(decoded(reply), { type: 'sized-reply', nonce: NONCE, requestId: 5, replySize: 4096 });
    for (const other of [{ ...FROM, port: 40001 }, { ...FROM, address: '10.0.1.3' }]) {
      const refused = r.answer(datagram(request, other), 1002);
      assert.equal(refused?.length, 24);
      assert.deepEqual(decoded(refused), { type: 'error', nonce: NONCE, code: 'bad-cookie', detail: 0 });
    }
    assert.equal(r.counters.badCookies, 2);
    assert.equal(r.counters.sizedReplyBytes, 4096);
  });

  it('a cookie is good in its slot and the next one, and bad after that', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    const cookie = cookieOf(r, 59_000);
    const ask = (now: number): ResponderMessage => decoded(r.answer(datagram({ type: 'probe', nonce: NONCE, cookie, probeId: 1, fragmentCount: 1, fragmentSize: 0, padding: 0 }), now));
    assert.equal(ask(60_500).type, 'probe-ack');
    assert.equal(ask(119_999).type, 'probe-ack');
    assert.deepEqual(ask(120_000), { type: 'error', nonce: NONCE, code: 'bad-cookie', detail: 0 });
  });

  it('another secret (a restarted server) refuses the old cookie', () => {
    const cookie = cookieOf(new UdpResponder(SETTINGS, SECRET, 0), 0);
    const r = new UdpResponder(SETTINGS, new Uint8Array(32).fill(8), 0);
    assert.equal(decoded(r.answer(datagram({ type: 'size-request', nonce: NONCE, cookie, requestId: 1, replySize: 100, padding: 0 }), 1)).type, 'error');
  });

  it('a probe is acknowledged with the length its socket received and the fragment fields it declared', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    const cookie = cookieOf(r, 0);
    const ack = r.answer(datagram({ type: 'probe', nonce: NONCE, cookie, probeId: 77, fragmentCount: 3, fragmentSize: 1280, padding: 3000 }), 1);
    assert.equal(ack?.length, 28);
    assert.deepEqual(decoded(ack), { type: 'probe-ack', nonce: NONCE, probeId: 77, receivedLength: 3040, fragmentCount: 3, fragmentSize: 1280 });
  });

  it('no answer to an unproven source is larger than what it sent, whatever it sends', () => {
    const r = new UdpResponder({ ...SETTINGS, answerRate: { perClient: { perSecond: 1e6, burst: 1e6 }, global: { perSecond: 1e6, burst: 1e6 } } }, SECRET, 0);
    const forged = new Uint8Array(16).fill(1);
    const inputs: Uint8Array[] = [
      emitResponderMessage({ type: 'hello', nonce: NONCE, padding: 24 }),
      emitResponderMessage({ type: 'size-request', nonce: NONCE, cookie: forged, requestId: 1, replySize: 65507, padding: 0 }),
      emitResponderMessage({ type: 'probe', nonce: NONCE, cookie: forged, probeId: 1, fragmentCount: 1, fragmentSize: 0, padding: 0 }),
    ];
    for (let n = 0; n < 64; n++) {
      const b = emitResponderMessage({ type: 'hello', nonce: NONCE, padding: 24 }).slice(0, n);
      inputs.push(b);
    }
    const broken = emitResponderMessage({ type: 'hello', nonce: NONCE, padding: 24 });
    broken[4] = 9;
    inputs.push(broken, broken.slice(0, 20));
    let answered = 0;
    for (const bytes of inputs) {
      const answer = r.answer({ ...FROM, bytes }, 5);
      if (answer === undefined) continue;
      answered++;
      assert.ok(answer.length <= bytes.length, `${answer.length}-byte answer to ${bytes.length} bytes`);
    }
    assert.ok(answered >= 4, `${answered} answers`);
    assert.equal(decoded(r.answer({ ...FROM, bytes: broken }, 6)).type, 'error');
    assert.equal(r.answer({ ...FROM, bytes: broken.slice(0, 20) }, 6), undefined, 'no 24-byte error to a 20-byte datagram');
  });

  it('messages only servers send are never answered (no loop between two responders)', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    for (const m of [
      { type: 'cookie', nonce: NONCE, cookie: new Uint8Array(16), maxReplySize: 1 },
      { type: 'error', nonce: NONCE, code: 'bad-cookie', detail: 0 },
      { type: 'probe-ack', nonce: NONCE, probeId: 1, receivedLength: 1, fragmentCount: 1, fragmentSize: 0 },
      { type: 'sized-reply', nonce: NONCE, requestId: 1, replySize: 100 },
    ] as const) {
      assert.equal(r.answer(datagram(m), 1), undefined, m.type);
    }
    assert.equal(r.counters.serverMessages, 4);
  });

  it('a reply larger than the limit is refused with the limit; a client over its byte budget gets rate-limited until it refills', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    const cookie = cookieOf(r, 0);
    const ask = (replySize: number, now: number): ResponderMessage =>
      decoded(r.answer(datagram({ type: 'size-request', nonce: NONCE, cookie, requestId: 1, replySize, padding: 0 }), now));
    assert.deepEqual(ask(4097, 1), { type: 'error', nonce: NONCE, code: 'reply-too-large', detail: 4096 });
    assert.equal(ask(4096, 2).type, 'sized-reply');
    assert.equal(ask(4096, 3).type, 'sized-reply');
    assert.deepEqual(ask(4096, 4), { type: 'error', nonce: NONCE, code: 'rate-limited', detail: 1 });
    // 8192 bytes/s: half a second later half the budget is back.
    assert.equal(ask(4096, 504).type, 'sized-reply');
    assert.equal(r.counters.byteRateLimited, 1);
  });

  it('answers stop at the per-client rate; another client is still answered; an IPv6 /64 is one client', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    const hello = emitResponderMessage({ type: 'hello', nonce: NONCE, padding: 24 });
    let answered = 0;
    for (let i = 0; i < 25; i++) if (r.answer({ ...FROM, bytes: hello }, 0) !== undefined) answered++;
    assert.equal(answered, 10);
    assert.equal(r.counters.answerRateLimited, 15);
    assert.notEqual(r.answer({ ...FROM, address: '10.0.1.9', bytes: hello }, 0), undefined);
    let v6 = 0;
    for (let i = 0; i < 25; i++) if (r.answer({ family: 6, address: `fd00:1:2:3::${i + 1}`, port: 1, bytes: hello }, 0) !== undefined) v6++;
    assert.equal(v6, 10);
  });

  it('datagrams not of the protocol are ignored, not answered', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    assert.equal(r.answer({ ...FROM, bytes: new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n') }, 0), undefined);
    assert.equal(r.counters.ignored, 1);
  });

  describe('Packet Too Big on request', () => {
    const SERVED = { localAddress: '10.0.9.1', localPort: 8080 };
    const FROM6 = { family: 6 as const, address: 'fd00:1::2', port: 40000, localAddress: 'fd00:9::1', localPort: 8080 };

    interface Sent {
      readonly family: IpFamily;
      readonly packet: Uint8Array;
      readonly destination: string;
    }
    function sinkInto(sent: Sent[], works = true): PacketTooBigSink {
      return (family, packet, destination) => {
        sent.push({ family, packet, destination });
        return works;
      };
    }
    function ptbRequest(cookie: Uint8Array, padding: number, requestId = 5): ResponderMessage {
      return { type: 'ptb-request', nonce: NONCE, cookie, requestId, padding };
    }

    it('IPv4: a proven client gets "fragmentation needed" from the served address, MTU 65535, quoting its request (rebuilt IP header, UDP header, payload) and no larger than it, then a 28-byte ptb-sent saying so', () => {
      const sent: Sent[] = [];
      const r = new UdpResponder(SETTINGS, SECRET, 0, sinkInto(sent));
      const from = { ...FROM, ...SERVED };
      const cookie = cookieOf(r, 0, from);
      const request = datagram(ptbRequest(cookie, 40), from);
      assert.equal(request.bytes.length, 128);
      const answer = decoded(r.answer(request, 1));
      assert.equal(sent.length, 1);
      const { packet, destination, family } = sent[0]!;
      assert.deepEqual([family, destination, packet.length], [4, '10.0.1.2', 20 + 8 + 128]);
      const ip = Ipv4Packet.check(packet);
      assert.ok(ip.ok);
      assert.deepEqual([formatIpv4(ip.value.src), formatIpv4(ip.value.dst), ip.value.protocol, ip.value.totalLength, ip.value.checksumValid()], ['10.0.9.1', '10.0.1.2', 1, 156, true]);
      const icmp = Icmpv4Packet.check(ip.value.payload(), ip.value.payload().length);
      assert.ok(icmp.ok);
      const m = parseIcmpv4(icmp.value);
      assert.ok(m.kind === 'destination-unreachable');
      assert.deepEqual([m.code, m.nextHopMtu, m.quoted.length], [4, 65535, 128]);
      const quoted = Ipv4Packet.check(m.quoted);
      assert.ok(quoted.ok);
      // The request's own IP packet: 20 + 8 + 128 bytes, from the client to the served address, DF set.
      assert.deepEqual([formatIpv4(quoted.value.src), formatIpv4(quoted.value.dst), quoted.value.protocol, quoted.value.totalLength, quoted.value.dontFragment, quoted.value.truncated], ['10.0.1.2', '10.0.9.1', 17, 156, true, true]);
      const udp = UdpPacket.check(quoted.value.payload());
      assert.ok(udp.ok);
      assert.deepEqual([udp.value.srcPort, udp.value.dstPort, udp.value.length], [40000, 8080, 136]);
      assert.deepEqual([...udp.value.payload()], [...request.bytes.subarray(0, 100)]);
      assert.deepEqual(answer, { type: 'ptb-sent', nonce: NONCE, requestId: 5, reportedMtu: 65535, quotedLength: 128, packetSize: 156 });
      // The client's matcher recognises it from the ICMP message on (what its raw socket hands over).
      const matched = matchEchoedPtb(
        { family: 4, protocol: 'icmp', source: '10.0.9.1', payload: ip.value.payload(), receivedAtMs: 0 },
        { family: 4, server: '10.0.9.1', serverPort: 8080, clientPort: 40000, nonce: NONCE },
      );
      assert.deepEqual(matched, { ok: true, value: { requestId: 5, mtu: 65535, quotedLength: 128, icmpLength: 136 } });
      const c = r.counters;
      assert.deepEqual([c.packetTooBigSent, c.packetTooBigBytes, c.packetTooBigUnavailable, c.answers], [1, 156, 0, 3]);
    });

    it('IPv6: a Packet Too Big (type 2) quoting the request, MTU 65535, as long as the request; a 3000-byte request gets a 1280-byte one', () => {
      const sent: Sent[] = [];
      const r = new UdpResponder({ ...SETTINGS, replyByteRate: { perClient: { perSecond: 1e6, burst: 1e6 }, global: { perSecond: 1e6, burst: 1e6 } } }, SECRET, 0, sinkInto(sent));
      const cookie = cookieOf(r, 0, FROM6);
      const small = datagram(ptbRequest(cookie, 0), FROM6);
      assert.equal(decoded(r.answer(small, 1)).type, 'ptb-sent');
      const big = datagram(ptbRequest(cookie, 3000 - 88, 6), FROM6);
      assert.deepEqual(decoded(r.answer(big, 2)), { type: 'ptb-sent', nonce: NONCE, requestId: 6, reportedMtu: 65535, quotedLength: 1232, packetSize: 1280 });
      assert.deepEqual(sent.map((s) => s.packet.length), [40 + 8 + 88, 1280]);
      const ip = Ipv6Packet.check(sent[0]!.packet);
      assert.ok(ip.ok);
      assert.deepEqual([formatIpv6(ip.value.src), formatIpv6(ip.value.dst)], ['fd00:9::1', 'fd00:1::2']);
      const icmp = Icmpv6Packet.check(ip.value.payload(), ip.value.payload().length);
      assert.ok(icmp.ok);
      assert.equal(icmp.value.checksumStatus(ip.value.src, ip.value.dst), 'good');
      const m = parseIcmpv6(icmp.value);
      assert.ok(m.kind === 'packet-too-big');
      assert.deepEqual([m.mtu, m.quoted.length], [65535, 88]);
      const session = { family: 6 as const, server: 'fd00:9::1', serverPort: 8080, clientPort: 40000, nonce: NONCE };
      const received = (packet: Uint8Array, source = 'fd00:9::1') => ({ family: 6 as const, protocol: 'icmp' as const, source, payload: packet.subarray(40), receivedAtMs: 0 });
      assert.deepEqual(matchEchoedPtb(received(sent[0]!.packet), session), { ok: true, value: { requestId: 5, mtu: 65535, quotedLength: 88, icmpLength: 96 } });
      assert.equal(matchEchoedPtb(received(sent[1]!.packet), session).ok, true);
      // Not ours: from another address, for another session's port or nonce.
      assert.deepEqual(matchEchoedPtb(received(sent[0]!.packet, 'fd00:9::7'), session), { ok: true, value: 'from fd00:9::7, not the server' });
      assert.deepEqual(matchEchoedPtb(received(sent[0]!.packet), { ...session, clientPort: 40001 }), { ok: true, value: "the quoted UDP ports are not our session's" });
      assert.deepEqual(matchEchoedPtb(received(sent[0]!.packet), { ...session, nonce: new Uint8Array(8) }), { ok: true, value: 'the quoted nonce is not ours' });
    });

    it('an IPv4 request of 3000 bytes gets a 576-byte message: the quote stops at 548 bytes', () => {
      const sent: Sent[] = [];
      const r = new UdpResponder({ ...SETTINGS, replyByteRate: { perClient: { perSecond: 1e6, burst: 1e6 }, global: { perSecond: 1e6, burst: 1e6 } } }, SECRET, 0, sinkInto(sent));
      const from = { ...FROM, ...SERVED };
      const answer = decoded(r.answer(datagram(ptbRequest(cookieOf(r, 0, from), 3000 - 88), from), 1));
      assert.deepEqual(answer, { type: 'ptb-sent', nonce: NONCE, requestId: 5, reportedMtu: 65535, quotedLength: 548, packetSize: 576 });
      assert.equal(sent[0]?.packet.length, 576);
    });

    it('without a valid cookie, a spoofed source gets a 24-byte bad-cookie error and no Packet Too Big', () => {
      const sent: Sent[] = [];
      const r = new UdpResponder(SETTINGS, SECRET, 0, sinkInto(sent));
      const from = { ...FROM, ...SERVED };
      const cookie = cookieOf(r, 0, from);
      for (const other of [{ ...from, port: 40001 }, { ...from, address: '10.0.1.3' }]) {
        const answer = r.answer(datagram(ptbRequest(cookie, 0), other), 1);
        assert.equal(answer?.length, 24);
        assert.deepEqual(decoded(answer), { type: 'error', nonce: NONCE, code: 'bad-cookie', detail: 0 });
      }
      assert.equal(decoded(r.answer(datagram(ptbRequest(new Uint8Array(16), 0), from), 2)).type, 'error');
      assert.equal(sent.length, 0);
      assert.equal(r.counters.packetTooBigSent, 0);
    });

    it('with no raw socket (no sink), or a sink that fails, the answer is ptb-unavailable; a sink that works gives ptb-sent', () => {
      const from = { ...FROM, ...SERVED };
      const none = new UdpResponder(SETTINGS, SECRET, 0);
      assert.deepEqual(decoded(none.answer(datagram(ptbRequest(cookieOf(none, 0, from), 0), from), 1)), { type: 'error', nonce: NONCE, code: 'ptb-unavailable', detail: 0 });
      const failing = new UdpResponder(SETTINGS, SECRET, 0, sinkInto([], false));
      assert.deepEqual(decoded(failing.answer(datagram(ptbRequest(cookieOf(failing, 0, from), 0), from), 1)), { type: 'error', nonce: NONCE, code: 'ptb-unavailable', detail: 0 });
      assert.equal(failing.counters.packetTooBigUnavailable, 1);
      const working = new UdpResponder(SETTINGS, SECRET, 0, sinkInto([]));
      assert.equal(decoded(working.answer(datagram(ptbRequest(cookieOf(working, 0, from), 0), from), 1)).type, 'ptb-sent');
    });

    it('each request takes two answer tokens (the Packet Too Big and its control) and its bytes from the byte budget', () => {
      const sent: Sent[] = [];
      const r = new UdpResponder(SETTINGS, SECRET, 0, sinkInto(sent));
      const from = { ...FROM, ...SERVED };
      const cookie = cookieOf(r, 0, from); // 1 of the 10 tokens
      const answers = Array.from({ length: 6 }, () => r.answer(datagram(ptbRequest(cookie, 0), from), 1));
      // 9 tokens left: four requests (8), then nothing for the fifth and sixth.
      assert.deepEqual(answers.map((a) => (a === undefined ? 'none' : decoded(a).type)), ['ptb-sent', 'ptb-sent', 'ptb-sent', 'ptb-sent', 'none', 'none']);
      assert.equal(sent.length, 4);
      assert.equal(r.counters.answerRateLimited, 2);
      // The byte budget (8192 per client): 1280-byte messages, six fit, the seventh is refused with rate-limited.
      const bytes = new UdpResponder({ ...SETTINGS, answerRate: { perClient: { perSecond: 1e6, burst: 1e6 }, global: { perSecond: 1e6, burst: 1e6 } } }, SECRET, 0, sinkInto([]));
      const big = datagram(ptbRequest(cookieOf(bytes, 0, FROM6), 3000 - 88), FROM6);
      const kinds = Array.from({ length: 7 }, () => decoded(bytes.answer(big, 1)));
      assert.deepEqual(kinds.map((k) => k.type), ['ptb-sent', 'ptb-sent', 'ptb-sent', 'ptb-sent', 'ptb-sent', 'ptb-sent', 'error']);
      assert.deepEqual(kinds[6], { type: 'error', nonce: NONCE, code: 'rate-limited', detail: 1 });
      assert.equal(bytes.counters.packetTooBigBytes, 6 * 1280);
    });

    it('a ptb-sent arriving at a server is never answered', () => {
      const r = new UdpResponder(SETTINGS, SECRET, 0, sinkInto([]));
      assert.equal(r.answer(datagram({ type: 'ptb-sent', nonce: NONCE, requestId: 1, reportedMtu: 65535, quotedLength: 1, packetSize: 1 }), 1), undefined);
      assert.equal(r.counters.serverMessages, 1);
    });
  });
});
