/**
 * PacketEngine driven with real packet bytes, fake queued packets that record their verdict, a recording sink and a
 * hand-moved clock: connection tracking, both interventions, their limits and bounds, and a fuzz run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reportConnection } from '../../src/engine/connection-report.js';
import { parseTcpSegment } from '../../src/packet/tcp-segment.js';
import { Reassembler } from '../../src/frag/reassembler.js';
import { bytesEqual, put16, u16, u32 } from '../../src/packet/bytes.js';
import { internetChecksum, sum16, sumVerifies } from '../../src/packet/checksum.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { Ipv4Packet } from '../../src/packet/ipv4.js';
import { Ipv6Packet } from '../../src/packet/ipv6.js';
import { walkIpv6Extensions } from '../../src/packet/ipv6-ext.js';
import { prng } from '../support/prng.js';
import { EngineHarness, FakePacket, type SentPacket, SERVER_PORT, TestConnection } from './engine-harness.js';
import { ACK, ascii, filler, PSH, RST, SYN, tcpPacket } from './engine-packets.js';

/** TCP payload that makes a 1500-byte IP packet (no TCP options). */
const FULL4 = 1460;
const FULL6 = 1440;

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface PacketTooBigView {
  readonly type: number;
  readonly code: number;
  readonly mtu: number;
  readonly src: string;
  readonly dst: string;
  readonly quoted: Uint8Array;
  readonly length: number;
}

function packetTooBig(s: SentPacket): PacketTooBigView {
  if (s.family === 4) {
    const ip = Ipv4Packet.check(s.packet);
    assert.ok(ip.ok);
    assert.equal(ip.value.protocol, IpProtocol.Icmp);
    assert.ok(ip.value.checksumValid(), 'IPv4 header checksum');
    const icmp = ip.value.payload();
    assert.ok(sumVerifies(sum16(icmp, 0, icmp.length)), 'ICMP checksum');
    return { type: icmp[0]!, code: icmp[1]!, mtu: u16(icmp, 6), src: src4(s.packet), dst: dst4(s.packet), quoted: icmp.subarray(8), length: s.packet.length };
  }
  const ip = Ipv6Packet.check(s.packet);
  assert.ok(ip.ok);
  assert.equal(ip.value.nextHeader, IpProtocol.Icmpv6);
  const icmp = ip.value.payload();
  return { type: icmp[0]!, code: icmp[1]!, mtu: u32(icmp, 4), src: '', dst: '', quoted: icmp.subarray(8), length: s.packet.length };
}

function src4(b: Uint8Array): string {
  return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
}
function dst4(b: Uint8Array): string {
  return `${b[16]}.${b[17]}.${b[18]}.${b[19]}`;
}

/** An /icmp connection with its request sent; returns the offset where the body continues. */
function icmpConnection(h: EngineHarness, options: ConstructorParameters<typeof TestConnection>[1] = {}): { c: TestConnection; body: number } {
  const c = h.connect(options).handshake();
  const body = c.request('POST /icmp HTTP/1.1');
  assert.equal(c.tracked?.mode, 'icmp');
  return { c, body };
}

function fragConnection(h: EngineHarness, options: ConstructorParameters<typeof TestConnection>[1] = {}): { c: TestConnection; requestLength: number } {
  const c = h.connect(options).handshake();
  const requestLength = c.request('GET /frag HTTP/1.1');
  assert.equal(c.tracked?.mode, 'frag');
  return { c, requestLength };
}

function reassemble(fragments: readonly Uint8Array[]): Uint8Array {
  const r = new Reassembler();
  let datagram: Uint8Array | undefined;
  for (const [i, f] of fragments.entries()) {
    const outcome = r.push(f, 0);
    if (i < fragments.length - 1) assert.equal(outcome.status, 'pending', `fragment ${i} leaves the datagram pending`);
    else if (outcome.status === 'complete') datagram = outcome.datagram.slice();
    else assert.fail(`last fragment: ${JSON.stringify(outcome)}`);
  }
  assert.ok(datagram);
  return datagram;
}

/** The original IPv4 packet as a fragmenting sender would have sent it: DF clear, the fragments' ident. */
function withDfClearedAndIdent(original: Uint8Array, ident: number): Uint8Array {
  const b = original.slice();
  b[6] = b[6]! & ~0x40;
  put16(b, 4, ident);
  put16(b, 10, 0);
  put16(b, 10, internetChecksum(b, 0, 20));
  return b;
}

describe('PacketEngine: connection tracking', () => {
  it('tracks the handshake: SYN with MSS opens, SYN-ACK on output gives the server ISN, the ACK establishes', () => {
    const h = new EngineHarness();
    const c = h.connect({ mss: 1460 });
    assert.equal(c.syn().decision, 'accept');
    let t = c.tracked;
    assert.ok(t);
    assert.equal(t.clientMss, 1460);
    assert.equal(t.clientIsn, c.clientIsn);
    assert.equal(t.established, false);
    assert.equal(t.serverIsn, undefined);
    assert.equal(t.openedAt, 1000);
    assert.equal(c.synAck().decision, 'accept');
    assert.equal(t.serverIsn, c.serverIsn);
    assert.equal(t.established, false, 'the SYN-ACK alone does not establish');
    h.now = 1010;
    assert.equal(c.ack().decision, 'accept');
    assert.equal(t.established, true);
    assert.equal(t.lastSeenAt, 1010);
    assert.equal(t.mode, 'pending');
    assert.deepEqual([h.engine.counters.connectionsTracked, h.engine.counters.untracked, h.engine.connectionCount], [1, 0, 1]);
    assert.deepEqual(h.sent, []);
    t = h.connect({ mss: undefined }).handshake().tracked;
    assert.equal(t?.clientMss, null, 'a SYN without MSS');
  });

  it('packets of unknown connections, other ports and the wrong hook are accepted untouched', () => {
    const h = new EngineHarness();
    const unknown = h.connect();
    assert.equal(unknown.clientData(0, filler(FULL4)).decision, 'accept');
    assert.equal(unknown.serverData(0, filler(FULL4)).decision, 'accept');
    assert.equal(h.engine.counters.untracked, 2);
    const otherPort = tcpPacket({ src: '10.0.0.2', dst: '10.0.0.1', srcPort: 1234, dstPort: 22, seq: 1, flags: SYN });
    assert.equal(h.handle('input', otherPort).decision, 'accept');
    const wrongHook = tcpPacket({ src: '10.0.0.2', dst: '10.0.0.1', srcPort: 1234, dstPort: SERVER_PORT, seq: 1, flags: SYN });
    assert.equal(h.handle('output', wrongHook).decision, 'accept');
    assert.equal(h.engine.connectionCount, 0);
    assert.deepEqual(h.sent, []);
  });

  it('FIN and RST mark the connection closed', () => {
    const h = new EngineHarness();
    const c = h.connect().handshake();
    h.handle('input', tcpPacket({ src: c.client, dst: c.server, srcPort: c.clientPort, dstPort: SERVER_PORT, seq: c.clientIsn + 1, ack: c.serverIsn + 1, flags: RST | ACK }));
    assert.equal(c.tracked?.closed, true);
  });
});

describe('PacketEngine: /icmp', () => {
  it('drops a client segment larger than 905 bytes with DF and sends the client one Packet Too Big', async () => {
    const h = new EngineHarness();
    const { c, body } = icmpConnection(h);
    h.now = 2000;
    const big = c.clientData(body, filler(FULL4));
    assert.equal(big.decision, 'drop');
    const sent = h.takeSent();
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.destination, c.client);
    assert.equal(sent[0]!.family, 4);
    const ptb = packetTooBig(sent[0]!);
    assert.deepEqual([ptb.type, ptb.code, ptb.mtu, ptb.src, ptb.dst, ptb.length], [3, 4, 905, c.server, c.client, 576]);
    assert.ok(bytesEqual(ptb.quoted, big.bytes.subarray(0, 548)), 'quotes the start of the dropped packet');
    const probe = c.tracked?.icmp;
    assert.ok(probe);
    assert.deepEqual([probe.oversized, probe.packetTooBigSent, probe.firstInterventionAt, probe.reactionAt], [1, 1, 2000, undefined]);
    assert.deepEqual([h.engine.counters.dropped, h.engine.counters.packetTooBigSent], [1, 1]);
    assert.equal(c.tracked?.largestClientPacket, 1500);
    await tick();
    assert.equal(h.engine.packetTooBigLatency.size, 1, 'the send was measured once it completed');
  });

  it('the test MTU is a strict bound: 905 bytes pass, 906 bytes are dropped', () => {
    const h = new EngineHarness();
    const { c, body } = icmpConnection(h);
    assert.equal(c.clientData(body, filler(905 - 40)).decision, 'accept');
    assert.equal(c.clientData(body + 865, filler(906 - 40)).decision, 'drop');
    assert.equal(h.sent.length, 1);
  });

  it('before the handshake completed (spoofed: nothing ACKed the SYN-ACK) oversized segments pass and nothing is sent', () => {
    const h = new EngineHarness();
    // A SYN-ACK was sent, but the "ACK" does not acknowledge it: whoever sends this never saw our ISN.
    const spoofed = h.connect();
    spoofed.syn();
    spoofed.synAck();
    const guess = tcpPacket({
      src: spoofed.client,
      dst: spoofed.server,
      srcPort: spoofed.clientPort,
      dstPort: SERVER_PORT,
      seq: spoofed.clientIsn + 1,
      ack: spoofed.serverIsn + 1000,
      flags: ACK | PSH,
      payload: ascii('POST /icmp HTTP/1.1\r\n\r\n'),
    });
    assert.equal(h.handle('input', guess).decision, 'accept');
    assert.equal(spoofed.clientData(23, filler(FULL4), { ack: spoofed.serverIsn + 1000 }).decision, 'accept');
    assert.equal(spoofed.tracked?.established, false);
    assert.equal(spoofed.tracked?.mode, 'pending', 'the request line of an unestablished connection is not read');
    // No SYN-ACK seen at all: even an ACK number of 1 must not establish anything.
    const noSynAck = h.connect({ serverIsn: 0 });
    noSynAck.syn();
    assert.equal(noSynAck.clientData(0, ascii('POST /icmp HTTP/1.1\r\n\r\n')).decision, 'accept');
    assert.equal(noSynAck.clientData(23, filler(FULL4)).decision, 'accept');
    assert.equal(noSynAck.tracked?.established, false);
    assert.deepEqual(h.sent, []);
    assert.equal(h.engine.counters.dropped, 0);
  });

  it('IPv4 without DF: accepted and counted as oversizedWithoutDf, nothing sent', () => {
    const h = new EngineHarness();
    const { c, body } = icmpConnection(h);
    assert.equal(c.clientData(body, filler(FULL4), { dontFragment: false }).decision, 'accept');
    const probe = c.tracked?.icmp;
    assert.deepEqual([probe?.oversized, probe?.oversizedWithoutDf, probe?.firstInterventionAt], [0, 1, undefined]);
    assert.deepEqual(h.sent, []);
  });

  it('IPv6: a segment larger than 1280 gets a Packet Too Big of exactly 1280 bytes; 1280 itself passes', () => {
    const h = new EngineHarness();
    const { c, body } = icmpConnection(h, { family: 6 });
    assert.equal(c.clientData(body, filler(1280 - 60)).decision, 'accept');
    const big = c.clientData(body + 1220, filler(FULL6));
    assert.equal(big.decision, 'drop');
    const sent = h.takeSent();
    assert.equal(sent.length, 1);
    assert.deepEqual([sent[0]!.family, sent[0]!.destination], [6, c.client]);
    const ptb = packetTooBig(sent[0]!);
    assert.deepEqual([ptb.type, ptb.code, ptb.mtu, ptb.length], [2, 0, 1280, 1280]);
    assert.ok(bytesEqual(ptb.quoted, big.bytes.subarray(0, 1232)));
  });

  it('the client re-sending the dropped bytes in packets that fit is its reaction', () => {
    const h = new EngineHarness();
    const { c, body } = icmpConnection(h);
    h.now = 2000;
    assert.equal(c.clientData(body, filler(FULL4)).decision, 'drop');
    h.now = 2037;
    assert.equal(c.clientData(body, filler(865)).decision, 'accept');
    assert.equal(c.clientData(body + 865, filler(FULL4 - 865)).decision, 'accept');
    const probe = c.tracked?.icmp;
    assert.deepEqual([probe?.firstInterventionAt, probe?.reactionAt, probe?.largestAfterReaction], [2000, 2037, 905]);
    assert.equal(c.tracked?.clientRetransmissions, 2);
    assert.equal(h.sent.length, 1);
  });

  it('a small NEW tail segment after a drop is not a reaction', () => {
    const h = new EngineHarness();
    const { c, body } = icmpConnection(h);
    assert.equal(c.clientData(body, filler(FULL4)).decision, 'drop');
    h.now += 5;
    assert.equal(c.clientData(body + FULL4, filler(300)).decision, 'accept');
    assert.equal(c.tracked?.icmp?.reactionAt, undefined);
    assert.equal(c.tracked?.clientRetransmissions, 0);
    // Nor is one that ends exactly where the dropped bytes began (ranges are half-open).
    assert.equal(c.clientData(body - 10, filler(10)).decision, 'accept');
    assert.equal(c.tracked?.icmp?.reactionAt, undefined);
  });

  it('the window end stops dropping, and a late re-send is no reaction', () => {
    const h = new EngineHarness({ icmpWindowMs: 10_000 });
    const { c, body } = icmpConnection(h);
    h.now = 5000;
    assert.equal(c.clientData(body, filler(FULL4)).decision, 'drop');
    h.now = 5000 + 9_999;
    assert.equal(c.clientData(body, filler(FULL4)).decision, 'drop');
    h.now = 5000 + 10_000;
    assert.equal(c.clientData(body, filler(FULL4)).decision, 'accept');
    assert.equal(c.clientData(body + FULL4, filler(FULL4)).decision, 'accept');
    assert.equal(c.clientData(body, filler(500)).decision, 'accept');
    const probe = c.tracked?.icmp;
    assert.deepEqual([probe?.windowEnded, probe?.oversized, probe?.packetTooBigSent, probe?.reactionAt], [true, 2, 2, undefined]);
    assert.equal(h.sent.length, 2);
  });

  it("the client's first packet after the window still counts as its reaction if it fits: the attempt its backoff delayed", () => {
    const h = new EngineHarness({ icmpWindowMs: 10_000 });
    const { c, body } = icmpConnection(h);
    h.now = 5000;
    assert.equal(c.clientData(body, filler(FULL4)).decision, 'drop');
    h.now = 5000 + 6400;
    assert.equal(c.clientData(body, filler(1036)).decision, 'drop');
    // Linux with tcp_mtu_probing=1 halves its MSS at its next retransmission timeout, 13.1 s after the first drop.
    h.now = 5000 + 13_100;
    assert.equal(c.clientData(body, filler(512)).decision, 'accept');
    const probe = c.tracked?.icmp;
    assert.deepEqual([probe?.windowEnded, probe?.reactionAt], [true, 5000 + 13_100]);
    assert.equal(reportConnection(c.tracked!, h.now).icmp?.reactionMs, 13_100);
  });

  it('only the first packet after the window can be a late reaction: a full-size one there means none came', () => {
    const h = new EngineHarness({ icmpWindowMs: 10_000 });
    const { c, body } = icmpConnection(h);
    h.now = 5000;
    assert.equal(c.clientData(body, filler(FULL4)).decision, 'drop');
    h.now = 5000 + 12_600;
    assert.equal(c.clientData(body, filler(FULL4)).decision, 'accept');
    h.now += 100;
    assert.equal(c.clientData(body, filler(512)).decision, 'accept');
    assert.equal(c.tracked?.icmp?.reactionAt, undefined);
  });

  it("reports the first drop, the highest client byte seen and the test's request head", () => {
    const h = new EngineHarness();
    const { c, body } = icmpConnection(h);
    h.now += 7;
    c.clientData(body + 3000, filler(400));
    h.now += 3;
    c.clientData(body, filler(FULL4));
    const report = reportConnection(c.tracked!, h.now);
    assert.equal(report.clientBytesSeen, body + 3400);
    assert.equal(report.icmp?.firstDropMs, report.ageMs);
    assert.match(report.requestHead ?? '', /^POST \/icmp HTTP\/1\.1/);
  });

  it('keeps no request head for connections that are not tests', () => {
    const h = new EngineHarness();
    const c = h.connect().handshake();
    c.request('GET / HTTP/1.1');
    const report = reportConnection(c.tracked!, h.now);
    assert.deepEqual([report.mode, report.requestHead, report.icmp], ['other', null, null]);
  });

  it('the per-client ICMP rate limit suppresses Packet Too Big (counted) but still drops', () => {
    const h = new EngineHarness({ icmpRate: { perClient: { perSecond: 1, burst: 2 }, global: { perSecond: 1000, burst: 1000 } } });
    const { c, body } = icmpConnection(h);
    for (let i = 0; i < 3; i++) assert.equal(c.clientData(body + i * FULL4, filler(FULL4)).decision, 'drop');
    assert.equal(h.takeSent().length, 2);
    assert.deepEqual([h.engine.counters.packetTooBigSent, h.engine.counters.packetTooBigSuppressed], [2, 1]);
    assert.deepEqual([c.tracked?.icmp?.packetTooBigSent, c.tracked?.icmp?.packetTooBigSuppressed], [2, 1]);
    // Another client has its own budget.
    const other = icmpConnection(h, { client: '10.0.0.3' });
    assert.equal(other.c.clientData(other.body, filler(FULL4)).decision, 'drop');
    assert.equal(h.takeSent().length, 1);
    // A second later the first client has a token again.
    h.now += 1000;
    assert.equal(c.clientData(body + 3 * FULL4, filler(FULL4)).decision, 'drop');
    assert.equal(h.takeSent().length, 1);
  });

  it('IPv6: the per-client ICMP limit counts a /64 as one client; the next /64 has its own budget', () => {
    const h = new EngineHarness({ icmpRate: { perClient: { perSecond: 1, burst: 2 }, global: { perSecond: 1000, burst: 1000 } } });
    const conns = ['fd00:1:2:7::2', 'fd00:1:2:7::3', 'fd00:1:2:7:ffff::9'].map((client) => icmpConnection(h, { family: 6, client }));
    for (const { c, body } of conns) assert.equal(c.clientData(body, filler(FULL6)).decision, 'drop');
    assert.deepEqual([h.engine.counters.packetTooBigSent, h.engine.counters.packetTooBigSuppressed], [2, 1]);
    assert.equal(conns[2]!.c.tracked?.icmp?.packetTooBigSuppressed, 1, 'the third address of the /64 found its budget spent');
    const neighbour = icmpConnection(h, { family: 6, client: 'fd00:1:2:8::2' });
    assert.equal(neighbour.c.clientData(neighbour.body, filler(FULL6)).decision, 'drop');
    assert.equal(h.engine.counters.packetTooBigSent, 3);
    const each = new EngineHarness({ ipv6ClientPrefix: 128, icmpRate: { perClient: { perSecond: 1, burst: 1 }, global: { perSecond: 1000, burst: 1000 } } });
    for (const client of ['fd00:1:2:7::2', 'fd00:1:2:7::3']) {
      const t = icmpConnection(each, { family: 6, client });
      assert.equal(t.c.clientData(t.body, filler(FULL6)).decision, 'drop');
    }
    assert.equal(each.engine.counters.packetTooBigSent, 2, 'with /128 each address is a client');
  });

  it('the global ICMP rate limit suppresses across clients', () => {
    const h = new EngineHarness({ icmpRate: { perClient: { perSecond: 1000, burst: 1000 }, global: { perSecond: 1, burst: 2 } } });
    const a = icmpConnection(h, { client: '10.0.0.2' });
    const b = icmpConnection(h, { client: '10.0.0.3' });
    assert.equal(a.c.clientData(a.body, filler(FULL4)).decision, 'drop');
    assert.equal(a.c.clientData(a.body + FULL4, filler(FULL4)).decision, 'drop');
    assert.equal(b.c.clientData(b.body, filler(FULL4)).decision, 'drop');
    assert.deepEqual(
      h.sent.map((s) => s.destination),
      ['10.0.0.2', '10.0.0.2'],
    );
    assert.equal(b.c.tracked?.icmp?.packetTooBigSuppressed, 1);
    assert.equal(h.engine.counters.packetTooBigSuppressed, 1);
  });

  it('the reaction time runs from the first Packet Too Big sent, not from a drop whose message the rate limit held back', () => {
    const h = new EngineHarness({ icmpRate: { perClient: { perSecond: 1, burst: 1 }, global: { perSecond: 1000, burst: 1000 } } });
    // An earlier test of the same client used its one token.
    const earlier = icmpConnection(h);
    assert.equal(earlier.c.clientData(earlier.body, filler(FULL4)).decision, 'drop');
    h.takeSent();
    const { c, body } = icmpConnection(h);
    h.now = 1500;
    assert.equal(c.clientData(body, filler(FULL4)).decision, 'drop');
    assert.deepEqual(h.sent, [], 'held back: half a token');
    h.now = 4000;
    assert.equal(c.clientData(body, filler(FULL4)).decision, 'drop');
    assert.equal(h.takeSent().length, 1, 'the retransmission is answered');
    h.now = 4010;
    assert.equal(c.clientData(body, filler(865)).decision, 'accept');
    const t = c.tracked;
    assert.ok(t?.icmp);
    assert.equal(reportConnection(t, h.now).icmp?.reactionMs, 10, 'the client reacted 10 ms after the one message it received');
    const probe = t.icmp;
    assert.deepEqual([probe.firstInterventionAt, probe.firstSignalAt, probe.reactionAt, probe.packetTooBigSent, probe.packetTooBigSuppressed], [1500, 4000, 4010, 1, 1]);
  });

  it('packets that fit before any Packet Too Big was sent are no reaction (the client was told nothing)', () => {
    const h = new EngineHarness({ icmpRate: { perClient: { perSecond: 1000, burst: 1000 }, global: { perSecond: 1, burst: 1 } } });
    const earlier = icmpConnection(h, { client: '10.0.0.9' });
    earlier.c.clientData(earlier.body, filler(FULL4));
    const { c, body } = icmpConnection(h);
    h.now = 1500;
    assert.equal(c.clientData(body, filler(FULL4)).decision, 'drop');
    h.now = 1600;
    assert.equal(c.clientData(body, filler(865)).decision, 'accept');
    assert.equal(c.tracked?.icmp?.reactionAt, undefined);
    const t = c.tracked;
    assert.ok(t);
    assert.equal(reportConnection(t, h.now).icmp?.reactionMs, null);
  });

  it('a failed send is counted, not thrown', async () => {
    const h = new EngineHarness({}, { failSends: true });
    const { c, body } = icmpConnection(h);
    assert.equal(c.clientData(body, filler(FULL4)).decision, 'drop');
    await tick();
    assert.deepEqual([h.engine.counters.sendErrors, h.engine.packetTooBigLatency.size], [1, 0]);
  });
});

describe('PacketEngine: /frag', () => {
  for (const family of [4, 6] as const) {
    const limit = family === 4 ? 576 : 1280;
    const full = family === 4 ? FULL4 : FULL6;
    it(`IPv${family}: server data is dropped and replaced by fragments of at most ${limit} bytes that reassemble to the original`, async () => {
      const h = new EngineHarness();
      const f = fragConnection(h, { family }).c;
      h.now = 3000;
      const payload = filler(full, 3);
      const original = f.serverPacket(0, payload, 20);
      const p = h.handle('output', original);
      assert.equal(p.decision, 'drop');
      const sent = h.takeSent();
      assert.ok(sent.length >= 2, `${sent.length} fragments`);
      for (const s of sent) {
        assert.deepEqual([s.family, s.destination], [family, f.client]);
        assert.ok(s.packet.length <= limit, `fragment of ${s.packet.length} bytes`);
        if (family === 4) {
          assert.equal(s.packet[6]! & 0x40, 0, 'DF clear');
          assert.ok(Ipv4Packet.check(s.packet).ok && (Ipv4Packet.check(s.packet) as { value: Ipv4Packet }).value.checksumValid());
        } else {
          const ip = Ipv6Packet.check(s.packet);
          assert.ok(ip.ok);
          const chain = walkIpv6Extensions(ip.value);
          assert.ok(chain.ok && chain.value.fragment !== undefined, 'a Fragment header');
        }
      }
      const datagram = reassemble(sent.map((s) => s.packet));
      const expected = family === 4 ? withDfClearedAndIdent(original, u16(sent[0]!.packet, 4)) : original;
      assert.ok(bytesEqual(datagram, expected), 'reassembles to exactly the original (IPv4: DF cleared)');
      const probe = f.tracked?.frag;
      assert.ok(probe);
      assert.deepEqual([probe.segmentsFragmented, probe.fragmentsSent, probe.firstInterventionAt, probe.outcome], [1, sent.length, 3000, undefined]);
      assert.deepEqual([h.engine.counters.segmentsFragmented, h.engine.counters.fragmentsSent, h.engine.counters.dropped], [1, sent.length, 0]);
      // An ACK that covers nothing of the fragmented data decides nothing; one beyond its start is a pass.
      const tracked = f.tracked;
      assert.ok(tracked);
      const outcome = h.engine.fragOutcome(tracked, 60_000);
      f.ack(0, 20);
      assert.equal(probe.outcome, undefined);
      h.now = 3040;
      f.ack(full, 20);
      assert.deepEqual([probe.outcome, probe.reactionAt], ['pass', 3040]);
      assert.equal(await outcome, 'pass');
      // Once decided, data goes whole.
      assert.equal(f.serverData(full, filler(full), 20).decision, 'accept');
      assert.deepEqual(h.sent, []);
    });
  }

  it('small segments leave as at least two fragments too (IPv4)', () => {
    const h = new EngineHarness();
    const { c } = fragConnection(h);
    let offset = 0;
    for (const n of [1, 7, 50, 200]) {
      const p = c.serverData(offset, filler(n));
      offset += n;
      assert.equal(p.decision, 'drop', `${n} bytes`);
      const sent = h.takeSent();
      assert.ok(sent.length >= 2, `${n} bytes: ${sent.length} fragments`);
    }
  });

  it('small IPv6 segments with TCP options leave as fragments whose first carries the whole TCP header (RFC 7112)', () => {
    const h = new EngineHarness();
    const { c } = fragConnection(h, { family: 6 });
    let offset = 0;
    // 9 is the least: fragmentIpv6 sends whole what fits (40 + 32 + 8 <= 48 + 32), see the test below.
    for (const n of [9, 16, 17, 100]) {
      // Linux stamps every segment with timestamps: a 32-byte TCP header.
      const packet = tcpPacket({
        src: c.server,
        dst: c.client,
        srcPort: SERVER_PORT,
        dstPort: c.clientPort,
        seq: c.serverIsn + 1 + offset,
        ack: c.clientIsn + 1,
        flags: ACK | PSH,
        payload: filler(n),
        options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamps', value: 1, echo: 2 }],
      });
      const before = h.engine.counters.malformed;
      const p = h.handle('output', packet);
      assert.equal(h.engine.counters.malformed, before, `${n} bytes: not refused (${h.engine.lastMalformed ?? ''})`);
      assert.equal(p.decision, 'drop', `${n} bytes`);
      const sent = h.takeSent();
      assert.ok(sent.length >= 2, `${n} bytes: ${sent.length} fragments`);
      assert.ok(bytesEqual(reassemble(sent.map((s) => s.packet)), packet), `${n} bytes reassemble`);
      offset += n;
    }
  });

  it('an IPv6 segment too small to split after its TCP header goes whole, never as a single "fragment"', () => {
    const h = new EngineHarness();
    const { c } = fragConnection(h, { family: 6 });
    // 20-byte TCP header: the first fragment carries 24 bytes, so up to 12 data bytes fit what fragmentIpv6 sends whole.
    assert.equal(c.serverData(0, filler(12)).decision, 'accept');
    assert.deepEqual(h.sent, []);
    assert.equal(c.tracked?.frag?.segmentsFragmented, 0);
    // So the client's ACK of those bytes proves nothing.
    c.ack(12, 20);
    assert.equal(c.tracked?.frag?.outcome, undefined);
    assert.equal(c.serverData(12, filler(13)).decision, 'drop');
    assert.equal(h.takeSent().length, 2);
  });

  it('after three retransmissions of fragmented data: blocked, and data goes whole', () => {
    const h = new EngineHarness({ fragMaxRetransmissions: 3 });
    const { c } = fragConnection(h);
    const tracked = c.tracked;
    assert.ok(tracked);
    const probe = tracked.frag;
    assert.ok(probe);
    let outcome: string | undefined;
    probe.onOutcome((o) => {
      outcome = o;
    });
    assert.equal(c.serverData(0, filler(FULL4)).decision, 'drop');
    for (const [i, delay] of [200, 400].entries()) {
      h.now += delay;
      assert.equal(c.serverData(0, filler(FULL4)).decision, 'drop', `retransmission ${i + 1} is fragmented`);
      assert.equal(probe.retransmissions, i + 1);
    }
    assert.equal(outcome, undefined);
    h.now += 800;
    assert.equal(c.serverData(0, filler(FULL4)).decision, 'accept', 'the third retransmission goes whole');
    assert.deepEqual([probe.retransmissions, probe.outcome, outcome, probe.segmentsFragmented], [3, 'blocked', 'blocked', 3]);
    const fragmentsBefore = h.engine.counters.fragmentsSent;
    assert.equal(c.serverData(FULL4, filler(FULL4)).decision, 'accept', 'the next segment goes whole');
    assert.equal(h.engine.counters.fragmentsSent, fragmentsBefore);
    // A late ACK cannot turn it into a pass.
    c.ack(2 * FULL4, 20);
    assert.equal(probe.outcome, 'blocked');
  });

  it('the /frag window bounds the test: the first segment after it goes whole, and sweep() decides a silent one', () => {
    const h = new EngineHarness({ fragWindowMs: 10_000 });
    const a = fragConnection(h).c;
    const b = fragConnection(h).c;
    h.now = 10_000;
    a.serverData(0, filler(FULL4));
    b.serverData(0, filler(FULL4));
    h.now = 19_999;
    h.engine.sweep();
    assert.equal(b.tracked?.frag?.outcome, undefined);
    assert.equal(a.serverData(FULL4, filler(FULL4)).decision, 'drop');
    h.now = 20_000;
    assert.equal(a.serverData(2 * FULL4, filler(FULL4)).decision, 'accept');
    assert.equal(a.tracked?.frag?.outcome, 'blocked');
    h.engine.sweep();
    assert.equal(b.tracked?.frag?.outcome, 'blocked');
  });

  it('the fragment rate limit drops the segment without sending (TCP retransmits), counted in fragments', () => {
    // A 1500-byte IPv4 segment leaves as three fragments of at most 576 bytes: a burst of three sends one segment.
    const h = new EngineHarness({ fragmentRate: { perClient: { perSecond: 3, burst: 3 }, global: { perSecond: 100, burst: 100 } } });
    const { c } = fragConnection(h);
    assert.equal(c.serverData(0, filler(FULL4)).decision, 'drop');
    assert.equal(h.takeSent().length, 3);
    assert.equal(c.serverData(FULL4, filler(FULL4)).decision, 'drop');
    assert.deepEqual(h.sent, [], 'the three tokens went to the first segment\'s three fragments');
    assert.equal(h.engine.counters.fragmentsSuppressed, 3);
    assert.deepEqual([c.tracked?.frag?.fragmentsSuppressed, c.tracked?.frag?.segmentsFragmented, c.tracked?.frag?.fragmentsSent], [3, 1, 3]);
    // A second later the budget holds three fragments again: the retransmission leaves.
    h.now += 1000;
    assert.equal(c.serverData(FULL4, filler(FULL4)).decision, 'drop');
    assert.equal(h.takeSent().length, 3);
    assert.deepEqual([h.engine.counters.fragmentsSent, h.engine.counters.segmentsFragmented], [6, 2]);
  });

  it('a segment needs a token for each of its fragments, all at once: two tokens do not send a three-fragment segment', () => {
    const h = new EngineHarness({ fragmentRate: { perClient: { perSecond: 1000, burst: 1000 }, global: { perSecond: 1, burst: 2 } } });
    const { c } = fragConnection(h);
    assert.equal(c.serverData(0, filler(FULL4)).decision, 'drop');
    assert.deepEqual(h.sent, []);
    assert.deepEqual([c.tracked?.frag?.segmentsFragmented, c.tracked?.frag?.fragmentsSuppressed], [0, 3]);
    // A small segment of two fragments fits the two tokens.
    assert.equal(c.serverData(0, filler(100)).decision, 'drop');
    assert.equal(h.takeSent().length, 2);
  });

  it('fragments all held back by the rate limit: the test times out "inconclusive", never "blocked"', async () => {
    // The global budget is drained by another client's test, so that not one fragment of this test can leave.
    const h = new EngineHarness({ fragWindowMs: 10_000, fragmentRate: { perClient: { perSecond: 1000, burst: 1000 }, global: { perSecond: 1, burst: 6 } } });
    const other = fragConnection(h, { client: '10.0.0.9' }).c;
    for (let i = 0; other.tracked?.frag?.fragmentsSuppressed === 0; i++) other.serverData(i * FULL4, filler(FULL4));
    h.takeSent();
    const { c } = fragConnection(h);
    const t = c.tracked;
    assert.ok(t);
    const probe = t.frag;
    assert.ok(probe);
    h.now += 100;
    assert.equal(c.serverData(0, filler(FULL4)).decision, 'drop');
    assert.deepEqual(h.sent, []);
    assert.equal(probe.fragmentsSent, 0);
    assert.equal(await h.engine.fragOutcome(t, 5), 'inconclusive');
    assert.deepEqual([probe.segmentsFragmented, probe.fragmentsSuppressed, probe.firstSuppressedAt], [0, 3, 1100]);
    assert.equal(c.serverData(0, filler(FULL4)).decision, 'accept', 'once decided, the data goes whole so that the answer arrives');
    assert.deepEqual(h.sent, []);
  });

  it('fragments all held back: the window, counted from the first segment held back, ends the test "inconclusive"', () => {
    const h = new EngineHarness({ fragWindowMs: 10_000, fragmentRate: { perClient: { perSecond: 0.1, burst: 2 }, global: { perSecond: 1000, burst: 1000 } } });
    const a = fragConnection(h).c;
    const b = fragConnection(h, { client: '10.0.0.3' }).c;
    h.now = 5000;
    assert.equal(a.serverData(0, filler(FULL4)).decision, 'drop');
    assert.equal(b.serverData(0, filler(FULL4)).decision, 'drop');
    assert.deepEqual(h.sent, []);
    h.now = 14_999;
    h.engine.sweep();
    assert.equal(a.tracked?.frag?.outcome, undefined);
    // A burst of two never holds a segment's three fragments: the retransmission is held back too, until the window ends.
    assert.equal(a.serverData(0, filler(FULL4)).decision, 'drop');
    h.now = 15_000;
    assert.equal(a.serverData(0, filler(FULL4)).decision, 'accept');
    assert.equal(a.tracked?.frag?.outcome, 'inconclusive');
    h.engine.sweep();
    assert.equal(b.tracked?.frag?.outcome, 'inconclusive');
    assert.deepEqual(h.sent, []);
  });

  it('fragments sent only behind data the rate limit held back cannot be acknowledged: "inconclusive", not "blocked"', async () => {
    const h = new EngineHarness({ fragMaxRetransmissions: 3, fragmentRate: { perClient: { perSecond: 1000, burst: 1000 }, global: { perSecond: 0.5, burst: 2 } } });
    const { c } = fragConnection(h);
    const t = c.tracked;
    assert.ok(t?.frag);
    const probe = t.frag;
    // The first segment needs three tokens (held back), the small one after it two (sent).
    assert.equal(c.serverData(0, filler(FULL4)).decision, 'drop');
    assert.equal(c.serverData(FULL4, filler(100)).decision, 'drop');
    assert.equal(h.takeSent().length, 2);
    assert.deepEqual([probe.segmentsFragmented, probe.fragmentsSent, probe.fragmentsSuppressed], [1, 2, 3]);
    // The client cannot ACK beyond the hole; retransmissions of the hole are not retransmissions of fragmented data.
    for (let i = 0; i < 3; i++) {
      h.now += 400;
      assert.equal(c.serverData(0, filler(FULL4)).decision, 'drop', `retransmission ${i + 1} of the hole, held back again`);
    }
    assert.deepEqual([probe.retransmissions, probe.outcome], [0, undefined]);
    assert.equal(await h.engine.fragOutcome(t, 5), 'inconclusive');
  });

  it('the hole filled later: the fragments behind it can be acknowledged now, and the test can be "blocked" again', async () => {
    const h = new EngineHarness({ fragmentRate: { perClient: { perSecond: 1000, burst: 1000 }, global: { perSecond: 1, burst: 3 } } });
    const other = fragConnection(h, { client: '10.0.0.9' }).c;
    other.serverData(0, filler(100));
    h.takeSent();
    const { c } = fragConnection(h);
    const t = c.tracked;
    assert.ok(t?.frag);
    assert.equal(c.serverData(0, filler(FULL4)).decision, 'drop');
    assert.deepEqual(h.sent, [], 'one token left: held back');
    h.now += 1000;
    assert.equal(c.serverData(FULL4, filler(100)).decision, 'drop');
    assert.equal(h.takeSent().length, 2);
    assert.equal(t.frag.fragmentsAwaitAck, false, 'held-back data lies in front of every fragment sent');
    h.now += 3000;
    assert.equal(c.serverData(0, filler(FULL4)).decision, 'drop');
    assert.equal(h.takeSent().length, 3, 'the hole leaves as fragments');
    assert.deepEqual([t.frag.fragmentsAwaitAck, t.frag.retransmissions], [true, 0]);
    assert.equal(await h.engine.fragOutcome(t, 5), 'blocked');
  });

  it('fragments sent, then held back: the test still times out "blocked" (fragments went unacknowledged)', async () => {
    const h = new EngineHarness({ fragmentRate: { perClient: { perSecond: 1, burst: 3 }, global: { perSecond: 1000, burst: 1000 } } });
    const { c } = fragConnection(h);
    c.serverData(0, filler(FULL4));
    c.serverData(FULL4, filler(FULL4));
    const t = c.tracked;
    assert.ok(t?.frag);
    assert.deepEqual([t.frag.fragmentsSent, t.frag.fragmentsSuppressed], [3, 3]);
    assert.equal(await h.engine.fragOutcome(t, 5), 'blocked');
  });

  it('fragOutcome: blocked after its timeout; undefined for a connection without a /frag test', async () => {
    const h = new EngineHarness();
    const { c } = fragConnection(h);
    c.serverData(0, filler(FULL4));
    const t = c.tracked;
    assert.ok(t);
    assert.equal(await h.engine.fragOutcome(t, 5), 'blocked');
    const other = icmpConnection(h).c.tracked;
    assert.ok(other);
    assert.equal(await h.engine.fragOutcome(other, 5), undefined);
  });
});

describe('PacketEngine: request lines', () => {
  const cases: [string, string][] = [
    ['GET /frag?format=json HTTP/1.1', 'frag'],
    ['GET /frag HTTP/1.1', 'frag'],
    ['POST /icmp HTTP/1.1', 'icmp'],
    ['POST /icmp?format=json HTTP/1.1', 'icmp'],
    ['GET / HTTP/1.1', 'other'],
    ['GET /fragment HTTP/1.1', 'other'],
    ['POST /icmpv6 HTTP/1.1', 'other'],
    ['GET /api/results HTTP/1.1', 'other'],
    ['get /frag HTTP/1.1', 'other'],
    ['GET http://host/frag HTTP/1.1', 'other'],
  ];
  for (const [line, mode] of cases) {
    it(`"${line}" → ${mode}`, () => {
      const h = new EngineHarness();
      const c = h.connect().handshake();
      c.request(line);
      assert.equal(c.tracked?.mode, mode);
      assert.equal(c.tracked?.icmp !== undefined, mode === 'icmp');
      assert.equal(c.tracked?.frag !== undefined, mode === 'frag');
    });
  }

  it('only the first data segment is read: a later "POST /icmp" changes nothing; other connections are left alone', () => {
    const h = new EngineHarness();
    const c = h.connect().handshake();
    const n = c.request('GET / HTTP/1.1');
    c.clientData(n, ascii('POST /icmp HTTP/1.1\r\n\r\n'));
    assert.equal(c.tracked?.mode, 'other');
    assert.equal(c.clientData(n + 23, filler(FULL4)).decision, 'accept');
    assert.equal(c.serverData(0, filler(FULL4)).decision, 'accept');
    assert.deepEqual(h.sent, []);
  });

  it('a request line split over two segments is not read as a test', () => {
    const h = new EngineHarness();
    const c = h.connect().handshake();
    c.clientData(0, ascii('POST /ic'));
    c.clientData(8, ascii('mp HTTP/1.1\r\n\r\n'));
    assert.equal(c.tracked?.mode, 'other');
  });
});

describe('PacketEngine: sequence numbers wrap at 2^32', () => {
  it('/icmp: a drop and the re-send across the wrap are matched', () => {
    const h = new EngineHarness();
    const c = h.connect({ clientIsn: 0xffff_ff00, serverIsn: 0xffff_fff0 }).handshake();
    const body = c.request('POST /icmp HTTP/1.1');
    assert.equal(c.tracked?.mode, 'icmp');
    // body + FULL4 crosses 2^32 - 0xff - 1.
    assert.ok(c.clientIsn + 1 + body + FULL4 > 2 ** 32);
    assert.equal(c.clientData(body, filler(FULL4)).decision, 'drop');
    h.now += 10;
    assert.equal(c.clientData(body + 800, filler(FULL4 - 800)).decision, 'accept');
    assert.equal(c.tracked?.icmp?.reactionAt, h.now, 'the re-sent tail (after the wrap) overlaps the dropped bytes');
    assert.equal(c.tracked?.clientHigh, body + FULL4);
  });

  it('/frag: data and the ACK beyond it across the wrap', () => {
    const h = new EngineHarness();
    const c = h.connect({ clientIsn: 0xffff_ffff, serverIsn: 0xffff_fc00 }).handshake();
    c.request('GET /frag HTTP/1.1');
    assert.equal(c.tracked?.mode, 'frag');
    assert.equal(c.serverData(0, filler(FULL4)).decision, 'drop');
    assert.equal(c.serverData(FULL4, filler(FULL4)).decision, 'drop');
    c.ack(FULL4 + 10);
    assert.equal(c.tracked?.frag?.outcome, 'pass');
  });

  it('/frag: an ACK of exactly the SYN-ACK (offset 0) after the wrap is no pass', () => {
    const h = new EngineHarness();
    const c = h.connect({ serverIsn: 0xffff_ffff }).handshake();
    c.request('GET /frag HTTP/1.1');
    c.serverData(0, filler(FULL4));
    c.ack(0);
    assert.equal(c.tracked?.frag?.outcome, undefined);
  });
});

describe('PacketEngine: bounds', () => {
  it('the connection table is bounded: a SYN past maxConnections evicts the oldest half-open entry, never an established one', () => {
    const h = new EngineHarness({ maxConnections: 3 });
    const established = [0, 1].map(() => {
      h.now += 1;
      return h.connect().handshake();
    });
    const halfOpen = [0, 1].map(() => {
      h.now += 1;
      const c = h.connect();
      c.syn();
      return c;
    });
    assert.equal(h.engine.connectionCount, 3);
    assert.equal(h.engine.halfOpenCount, 1);
    assert.deepEqual([h.engine.counters.connectionsEvicted, h.engine.counters.connectionsTracked], [1, 4]);
    assert.equal(halfOpen[0]!.tracked, undefined, 'the older half-open entry went');
    for (const c of [...established, halfOpen[1]!]) assert.ok(c.tracked);
    assert.equal(halfOpen[0]!.ack().decision, 'accept');
    assert.equal(h.engine.counters.untracked, 1);
    // The last one completes its handshake: the table is all established, and a new SYN is not tracked.
    halfOpen[1]!.synAck();
    halfOpen[1]!.ack();
    assert.equal(h.engine.halfOpenCount, 0);
    const late = h.connect();
    assert.equal(late.syn().decision, 'accept');
    assert.equal(late.tracked, undefined);
    assert.deepEqual([h.engine.connectionCount, h.engine.counters.connectionsRefused, h.engine.counters.connectionsEvicted], [3, 1, 1]);
    // A repeated SYN of an established connection (a retransmission, or a spoof of its addresses) changes nothing.
    const before = established[1]!.tracked;
    established[1]!.syn();
    assert.equal(established[1]!.tracked, before);
    assert.deepEqual([h.engine.connectionCount, h.engine.counters.connectionsEvicted, h.engine.counters.connectionsTracked], [3, 1, 4]);
  });

  for (const family of [4, 6] as const) {
    it(`IPv${family}: 30,000 spoofed SYNs while a blackholed /icmp test runs: the test keeps its entry and gets its verdict`, () => {
      const h = new EngineHarness();
      const full = family === 4 ? FULL4 : FULL6;
      const { c, body } = icmpConnection(h, { family });
      assert.equal(c.clientData(body, filler(full)).decision, 'drop');
      assert.equal(h.takeSent().length, 1, 'one Packet Too Big');
      // A probing test that will end on time, and a page load: both established before the flood.
      const page = h.connect({ family }).handshake();
      page.request('GET / HTTP/1.1');
      const rnd = prng(0x5f100d + family);
      const byte = (): number => 1 + Math.floor(rnd() * 254);
      for (let i = 0; i < 30_000; i++) {
        if (i % 1000 === 0) h.now += 33;
        const spoofed = family === 4 ? `10.${byte()}.${byte()}.${byte()}` : `fd00:${byte().toString(16)}:${byte().toString(16)}::${byte().toString(16)}`;
        const p = h.handle('input', tcpPacket({ src: spoofed, dst: c.server, srcPort: 1024 + (i % 60_000), dstPort: SERVER_PORT, seq: i, flags: SYN }));
        assert.equal(p.decision, 'accept');
      }
      assert.equal(h.engine.connectionCount, h.engine.settings.maxConnections, 'the flood filled the table');
      assert.equal(h.engine.halfOpenCount, h.engine.settings.maxConnections - 2);
      assert.ok(h.engine.counters.connectionsEvicted >= 30_000 - h.engine.settings.maxConnections, `evicted ${h.engine.counters.connectionsEvicted}`);
      assert.ok(c.tracked, 'the test under way is still tracked');
      assert.ok(page.tracked, 'so is the established page load');
      // The client keeps retransmitting the same full-sized packet (a black hole eats the ICMP): still dropped, and the
      // report after the window says what happened.
      h.now += 1000;
      assert.equal(c.clientData(body, filler(full)).decision, 'drop');
      h.now += h.engine.settings.icmpWindowMs;
      assert.equal(c.clientData(body, filler(full)).decision, 'accept', 'after the window the upload goes through');
      const report = reportConnection(c.tracked, h.now);
      assert.equal(report.mode, 'icmp');
      assert.ok(report.icmp !== null && report.icmp !== undefined && report.icmp.packetTooBigSent >= 2 && report.icmp.reactionMs === null, JSON.stringify(report.icmp));
      // And a new client after the flood is tracked (it displaces the oldest spoofed entry) and can run its test.
      const next = icmpConnection(h, { family });
      assert.equal(next.c.clientData(next.body, filler(full)).decision, 'drop');
    });
  }

  it('idle connections are swept, and a full table is swept before anything is evicted', () => {
    const h = new EngineHarness({ maxConnections: 2, idleMs: 1000 });
    const a = h.connect().handshake();
    h.now += 600;
    const b = h.connect().handshake();
    h.now += 500;
    const c = h.connect().handshake();
    assert.equal(a.tracked, undefined, 'a was idle: swept');
    assert.ok(b.tracked && c.tracked);
    assert.equal(h.engine.counters.connectionsEvicted, 0);
    h.now += 1000;
    h.engine.sweep();
    assert.equal(h.engine.connectionCount, 0);
  });
});

describe('PacketEngine: fuzz', () => {
  it('20k random and mutated packets on both hooks: never a throw, always exactly one decision, unparseable ones accepted and counted', () => {
    const rnd = prng(0xe91e);
    const int = (n: number): number => Math.floor(rnd() * n);
    const h = new EngineHarness({ maxConnections: 64 });
    // Live tests of both kinds and families, so mutated packets reach the tracked paths.
    const seeds: Uint8Array[] = [];
    for (const family of [4, 6] as const) {
      const full = family === 4 ? FULL4 : FULL6;
      const icmp = icmpConnection(h, { family, clientPort: family === 4 ? 50_001 : 50_002 });
      const frag = fragConnection(h, { family, clientPort: family === 4 ? 50_003 : 50_004 });
      seeds.push(
        tcpPacket({ src: icmp.c.client, dst: icmp.c.server, srcPort: icmp.c.clientPort, dstPort: SERVER_PORT, seq: icmp.c.clientIsn + 1 + icmp.body, ack: icmp.c.serverIsn + 1, flags: ACK, payload: filler(full) }),
        tcpPacket({ src: icmp.c.client, dst: icmp.c.server, srcPort: icmp.c.clientPort, dstPort: SERVER_PORT, seq: icmp.c.clientIsn, flags: SYN, options: [{ kind: 'mss', value: 1460 }] }),
        frag.c.serverPacket(0, filler(full)),
        frag.c.serverPacket(0, filler(9)),
        tcpPacket({ src: frag.c.client, dst: frag.c.server, srcPort: frag.c.clientPort, dstPort: SERVER_PORT, seq: frag.c.clientIsn + 1 + frag.requestLength, ack: frag.c.serverIsn + 1 + full, flags: ACK }),
        tcpPacket({ src: frag.c.server, dst: frag.c.client, srcPort: SERVER_PORT, dstPort: frag.c.clientPort, seq: frag.c.serverIsn, ack: frag.c.clientIsn + 1, flags: SYN | ACK }),
      );
    }
    seeds.push(
      tcpPacket({
        src: 'fd00::2',
        dst: 'fd00::1',
        srcPort: 50_002,
        dstPort: SERVER_PORT,
        seq: 5,
        flags: ACK,
        payload: filler(FULL6 - 16),
        extensions: [{ kind: 'hop-by-hop', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] }, { kind: 'destination-options', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] }],
      }),
    );
    h.takeSent();
    const packetsBefore = h.engine.counters.packets;
    let unparseable = 0;
    let dropped = 0;
    const total = 20_000;
    for (let i = 0; i < total; i++) {
      let bytes: Uint8Array;
      if (i % 5 === 0) {
        bytes = new Uint8Array(int(120));
        for (let j = 0; j < bytes.length; j++) bytes[j] = int(256);
        if (bytes.length > 0 && rnd() < 0.6) bytes[0] = rnd() < 0.5 ? 0x45 : 0x60 | (bytes[0]! & 0x0f);
      } else {
        bytes = seeds[int(seeds.length)]!.slice();
        const mutations = 1 + int(4);
        for (let m = 0; m < mutations; m++) {
          const at = int(Math.min(bytes.length, 80));
          switch (int(6)) {
            case 0:
              bytes[at] = bytes[at]! ^ (1 << int(8));
              break;
            case 1:
              bytes[at] = int(256);
              break;
            case 2:
              bytes = bytes.slice(0, int(bytes.length + 1));
              break;
            case 3: {
              const grown = new Uint8Array(bytes.length + int(64));
              grown.set(bytes);
              bytes = grown;
              break;
            }
            default:
              // Left valid at this step: sequence and flags changes come from the byte flips above.
              break;
          }
        }
      }
      const hook = rnd() < 0.5 ? 'input' : 'output';
      const parsed = parseTcpSegment(bytes);
      const malformedBefore = h.engine.counters.malformed;
      let p: FakePacket;
      try {
        p = h.handle(hook, bytes);
      } catch (err) {
        assert.fail(`packet ${i} (${Buffer.from(bytes).toString('hex')}) on ${hook} threw: ${String(err)}`);
      }
      assert.equal(p.decisions.length, 1, `packet ${i}: ${p.decisions.length} decisions`);
      assert.notEqual(p.decision, 'replace');
      const malformedDelta = h.engine.counters.malformed - malformedBefore;
      if (!parsed.ok) {
        unparseable++;
        assert.equal(p.decision, 'accept', `packet ${i}: unparseable but not accepted`);
        assert.equal(malformedDelta, 1, `packet ${i}: unparseable but not counted`);
      } else {
        assert.ok(malformedDelta === 0 || p.decision === 'accept', `packet ${i}: a refused fragmentation must accept`);
        if (p.decision === 'drop') dropped++;
      }
      h.now += int(50);
      if (i % 1000 === 999) h.engine.sweep();
    }
    assert.equal(h.engine.counters.packets - packetsBefore, total);
    assert.ok(unparseable > total / 10, `${unparseable} unparseable inputs`);
    assert.ok(dropped > 0, 'some mutated packets still hit an intervention');
    // Whatever the engine sent is a well-formed IP packet to the address it was sent to.
    for (const s of h.sent) {
      if (s.family === 4) {
        const ip = Ipv4Packet.check(s.packet);
        assert.ok(ip.ok && ip.value.checksumValid() && !ip.value.truncated);
        assert.equal(dst4(s.packet), s.destination);
      } else {
        const ip = Ipv6Packet.check(s.packet);
        assert.ok(ip.ok && !ip.value.truncated);
      }
    }
  });
});
