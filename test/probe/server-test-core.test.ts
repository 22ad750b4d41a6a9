/**
 * The server test's packet logic driven with real packet bytes (built with the codecs of src/packet) and a hand-moved
 * clock: which packets it drops, the Packet Too Big it sends (decoded again with decodeFrame), and each verdict with
 * exact values, including the cases where the evidence must not give the verdict it looks close to.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeFrame } from '../../src/packet/frame.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import { LinkType } from '../../src/packet/link-type.js';
import type { ServerTestFlow } from '../../src/probe/server-test-connection.js';
import { DEFAULT_SERVER_TEST_LIMITS, ServerTestCore, testMtus, type ServerTestLimits } from '../../src/probe/server-test-core.js';
import { judgeServerTest, RETRANSMISSIONS_TO_JUDGE, settleWithDownload, type ServerTestVerdict } from '../../src/probe/server-test-verdict.js';
import { ACK, filler, FIN, PSH, SYN, tcpPacket } from '../engine/engine-packets.js';

const CLIENT: Record<IpFamily, string> = { 4: '10.0.1.2', 6: 'fd00:1::2' };
const SERVER: Record<IpFamily, string> = { 4: '10.99.0.1', 6: 'fd00:99::1' };
const HEADERS: Record<IpFamily, number> = { 4: 40, 6: 60 };
const ISN = 0xffff_f000; // close to the wrap, so relative sequence numbers are tested across it
const CLIENT_PORT = 40_001;
const MTU = 1336;

function flow(family: IpFamily, localPort = CLIENT_PORT): ServerTestFlow {
  return { family, localAddress: CLIENT[family], localPort, remoteAddress: SERVER[family], remotePort: 8080, ptbMtu: MTU };
}

/** A packet from the server: `offset` bytes after its ISN+1, `ipLength` bytes on the wire (data: the rest). */
function fromServer(family: IpFamily, offset: number, ipLength: number, o: { flags?: number; df?: boolean; port?: number; src?: string } = {}): Uint8Array {
  return tcpPacket({
    src: o.src ?? SERVER[family],
    dst: CLIENT[family],
    srcPort: 8080,
    dstPort: o.port ?? CLIENT_PORT,
    seq: (ISN + 1 + offset) >>> 0,
    ack: 1,
    flags: o.flags ?? ACK | PSH,
    payload: filler(ipLength - HEADERS[family], 7),
    ...(o.df === undefined ? {} : { dontFragment: o.df }),
  });
}

function synAck(family: IpFamily, mss = 1460): Uint8Array {
  return tcpPacket({ src: SERVER[family], dst: CLIENT[family], srcPort: 8080, dstPort: CLIENT_PORT, seq: ISN, ack: 1, flags: SYN | ACK, options: [{ kind: 'mss', value: mss }] });
}

interface Sent {
  readonly family: IpFamily;
  readonly bytes: Uint8Array;
  readonly destination: string;
}

/** A core with recording sinks, the packets' fates, and a clock moved by hand (ms). */
function harness(limits: ServerTestLimits = DEFAULT_SERVER_TEST_LIMITS) {
  const sent: Sent[] = [];
  const verdicts: { flow: ServerTestFlow; verdict: ServerTestVerdict; at: number }[] = [];
  let now = 1000;
  const core = new ServerTestCore((family, bytes, destination) => sent.push({ family, bytes, destination }), (f, v) => verdicts.push({ flow: f, verdict: v, at: now }), limits, now);
  const fate = (bytes: Uint8Array, atMs: number): 'accept' | 'drop' => {
    now = atMs;
    let result: 'accept' | 'drop' | undefined;
    core.handle({ bytes, accept: () => (result = 'accept'), drop: () => (result = 'drop') }, atMs);
    assert.ok(result !== undefined, 'every packet gets a decision');
    return result;
  };
  const tick = (atMs: number): void => {
    now = atMs;
    core.tick(atMs);
  };
  return { core, sent, verdicts, fate, tick };
}

/** What a sent Packet Too Big says, decoded again: sender, receiver, type, MTU and the quoted sequence number. */
function readPtb(s: Sent): { src: string; dst: string; mtu: number; quotedSeq: number; length: number } {
  const d = decodeFrame(LinkType.Raw, s.bytes);
  assert.equal(d.error, undefined);
  const ip = d.layers[0]!;
  const icmp = d.layers[1]!;
  const quotedTcp = d.layers.find((l) => l.quoted && (l.protocol === 'tcp' || l.protocol === 'tcp-head'));
  assert.ok(quotedTcp && (quotedTcp.protocol === 'tcp' || quotedTcp.protocol === 'tcp-head'));
  let mtu: number;
  if (icmp.protocol === 'icmpv4') {
    assert.equal(icmp.repr.kind, 'destination-unreachable');
    assert.ok(icmp.repr.kind === 'destination-unreachable' && icmp.repr.code === 4, 'fragmentation needed');
    mtu = icmp.repr.kind === 'destination-unreachable' ? icmp.repr.nextHopMtu : -1;
  } else {
    assert.ok(icmp.protocol === 'icmpv6' && icmp.repr.kind === 'packet-too-big');
    mtu = icmp.repr.mtu;
  }
  assert.equal(icmp.checksum, 'good');
  assert.ok(ip.protocol === 'ipv4' || ip.protocol === 'ipv6');
  return { src: ip.repr.src, dst: ip.repr.dst, mtu, quotedSeq: quotedTcp.repr.seq, length: s.bytes.length };
}

for (const family of [4, 6] as const) {
  describe(`the server test, IPv${family}`, () => {
    it('drops a full-size segment, answers it with a Packet Too Big to the server, and calls a smaller re-send of its data honoured, with the time since', () => {
      const h = harness();
      h.core.track(flow(family), 1000);
      assert.equal(h.fate(synAck(family), 1000), 'accept');
      assert.equal(h.fate(fromServer(family, 0, 400), 1001), 'accept', 'the response head fits');
      const dataStart = 400 - HEADERS[family];
      assert.equal(h.fate(fromServer(family, dataStart, 1500), 1002), 'drop');
      assert.equal(h.sent.length, 1);
      const ptb = readPtb(h.sent[0]!);
      assert.equal(h.sent[0]!.destination, SERVER[family]);
      assert.equal(ptb.dst, SERVER[family], 'to the server, the source of the dropped segment');
      assert.equal(ptb.src, CLIENT[family], 'from this host, as a router in front of a smaller link next to it would');
      assert.equal(h.sent[0]!.family, family);
      assert.equal(ptb.mtu, MTU);
      assert.equal(ptb.quotedSeq, (ISN + 1 + dataStart) >>> 0, 'it quotes the dropped segment');
      assert.equal(ptb.length, family === 4 ? 576 : 1280, 'as much of the segment as an ICMP error may quote');
      // In flight before the message arrived: more full-size segments of new data, dropped and answered too.
      assert.equal(h.fate(fromServer(family, dataStart + 1500 - HEADERS[family], 1500), 1002.1), 'drop');
      assert.equal(h.verdicts.length, 0, 'no verdict yet');
      // The re-send: the same data in packets of at most the MTU.
      assert.equal(h.fate(fromServer(family, dataStart, MTU), 1002.5), 'accept');
      assert.deepEqual(h.verdicts.map((v) => v.verdict), [{ verdict: 'honoured', reactionMs: 0.5 }]);
      // Decided: full-size packets pass from now on, and nothing more is sent.
      assert.equal(h.fate(fromServer(family, 9000, 1500), 1003), 'accept');
      assert.equal(h.sent.length, 2);
      const end = h.core.end(flow(family));
      assert.deepEqual(end, { verdict: 'honoured', reactionMs: 0.5 });
    });

    it('calls a server ignoring when it re-sends the dropped data at full size three times and never smaller', () => {
      const h = harness();
      const conn = h.core.track(flow(family), 0);
      h.fate(synAck(family, 1440), 0);
      assert.equal(h.fate(fromServer(family, 0, 1500), 1), 'drop');
      for (const [i, t] of [201, 601].entries()) {
        assert.equal(h.fate(fromServer(family, 0, 1500), t), 'drop', `retransmission ${i + 1}`);
        assert.equal(h.verdicts.length, 0, `not yet after ${i + 1}`);
      }
      assert.equal(h.fate(fromServer(family, 0, 1500), 1401), 'drop');
      assert.deepEqual(h.verdicts.map((v) => v.verdict), [{ verdict: 'ignored' }]);
      const e = conn.evidence();
      assert.equal(e.fullSizeRetransmissions, RETRANSMISSIONS_TO_JUDGE);
      assert.equal(e.packetTooBigSent, 4);
      assert.equal(e.dropped, 4);
      assert.equal(e.serverMss, 1440);
      assert.equal(e.largestPacket, 1500);
      assert.equal(e.firstSmallerResend, undefined);
    });

    it('is not fooled by small packets of new data or by full-size packets of new data after the message: neither is a re-send', () => {
      const h = harness();
      const conn = h.core.track(flow(family), 0);
      h.fate(synAck(family), 0);
      assert.equal(h.fate(fromServer(family, 0, 1500), 1), 'drop');
      const next = 1500 - HEADERS[family];
      assert.equal(h.fate(fromServer(family, next, 1500), 2), 'drop', 'new data, full size');
      assert.equal(h.fate(fromServer(family, 2 * next, 300), 3), 'accept', 'the last, short segment of the answer');
      h.tick(4);
      assert.equal(h.verdicts.length, 0);
      const e = conn.evidence();
      assert.equal(e.fullSizeRetransmissions, 0);
      assert.equal(e.firstSmallerResend, undefined);
      // The window ends with no re-send of any kind: no verdict but "cannot tell".
      h.tick(1 + DEFAULT_SERVER_TEST_LIMITS.windowMs - 1);
      assert.equal(h.verdicts.length, 0, 'not before the window is over');
      h.tick(1 + DEFAULT_SERVER_TEST_LIMITS.windowMs);
      assert.deepEqual(h.verdicts.map((v) => v.verdict), [{ verdict: 'cannot-tell', reason: 'no-resend' }]);
    });

    it('settles "ignored" at the end of the window after one full-size re-send', () => {
      const h = harness();
      h.core.track(flow(family), 0);
      h.fate(fromServer(family, 0, 1500), 10);
      h.fate(fromServer(family, 0, 1500), 400);
      h.tick(5009);
      assert.equal(h.verdicts.length, 0);
      h.tick(5010);
      assert.deepEqual(h.verdicts.map((v) => v.verdict), [{ verdict: 'ignored' }]);
    });

    it('says "cannot tell" when the server never sent a packet bigger than the test MTU, with what it did send', () => {
      const h = harness();
      const conn = h.core.track(flow(family), 0);
      h.fate(synAck(family, 1200), 0);
      for (let i = 0; i < 5; i++) assert.equal(h.fate(fromServer(family, i * 1200, 1200 + HEADERS[family]), i + 1), 'accept');
      h.fate(fromServer(family, 6000, HEADERS[family], { flags: ACK | FIN }), 7);
      assert.deepEqual(h.core.end(flow(family)), { verdict: 'cannot-tell', reason: 'no-full-size' });
      assert.equal(h.sent.length, 0, 'no message at all');
      const e = conn.evidence();
      assert.equal(e.segments, 5);
      assert.equal(e.largestPacket, 1200 + HEADERS[family]);
      assert.equal(e.serverMss, 1200);
    });

    it('reads the server\'s MSS from a SYN-ACK that came before the connection was tracked (the socket reports it after)', () => {
      const h = harness();
      assert.equal(h.fate(synAck(family, 1220), 0), 'accept');
      const conn = h.core.track(flow(family), 1);
      assert.equal(conn.evidence().serverMss, 1220);
      const other = h.core.track(flow(family, CLIENT_PORT + 1), 1);
      assert.equal(other.evidence().serverMss, undefined, 'not another connection\'s');
    });

    it('says "cannot tell" for a connection that carried no data', () => {
      const h = harness();
      h.core.track(flow(family), 0);
      assert.deepEqual(h.core.end(flow(family)), { verdict: 'cannot-tell', reason: 'connection-failed' });
    });

    it('lets through, untouched and unanswered, packets of connections it does not track: another port, another address', () => {
      const h = harness();
      h.core.track(flow(family), 0);
      assert.equal(h.fate(fromServer(family, 0, 1500, { port: CLIENT_PORT + 1 }), 1), 'accept');
      assert.equal(h.fate(fromServer(family, 0, 1500, { src: family === 4 ? '10.99.0.2' : 'fd00:99::2' }), 2), 'accept');
      assert.equal(h.fate(new Uint8Array([0x45, 0, 0]), 3), 'accept', 'nor what is not a TCP segment');
      assert.equal(h.sent.length, 0);
      assert.deepEqual(h.core.counters, { untracked: 2, unparsed: 1 });
    });

    it('sends at most the per-connection burst at once, the first message always, and counts those it held back', () => {
      const h = harness({ ...DEFAULT_SERVER_TEST_LIMITS, perConnection: { perSecond: 10, burst: 3 } });
      const conn = h.core.track(flow(family), 0);
      for (let i = 0; i < 6; i++) assert.equal(h.fate(fromServer(family, i * (1500 - HEADERS[family]), 1500), 1), 'drop');
      assert.equal(h.sent.length, 4, 'the first, then a burst of 3');
      assert.equal(conn.evidence().packetTooBigLimited, 2);
      h.fate(fromServer(family, 6 * (1500 - HEADERS[family]), 1500), 101);
      assert.equal(h.sent.length, 5, 'a token came back after 100 ms');
    });
  });
}

describe('the server test, IPv4 only', () => {
  it('lets full-size IPv4 packets without Don\'t Fragment through unanswered and says "cannot tell" (no-df)', () => {
    const h = harness();
    h.core.track(flow(4), 0);
    assert.equal(h.fate(fromServer(4, 0, 1500, { df: false }), 1), 'accept');
    assert.equal(h.sent.length, 0);
    assert.deepEqual(h.core.end(flow(4)), { verdict: 'cannot-tell', reason: 'no-df' });
  });

  it('finds the connection whatever way its addresses were written', () => {
    const h = harness();
    h.core.track({ ...flow(6), remoteAddress: 'fd00:99:0:0:0:0:0:1', localAddress: 'FD00:1::2' }, 0);
    assert.equal(h.fate(fromServer(6, 0, 1500), 1), 'drop');
  });
});

describe('judgeServerTest', () => {
  const none = { segments: 0, fullSize: 0, noDf: 0, packetTooBigSent: 0, firstPacketTooBigMs: undefined, fullSizeRetransmissions: 0, firstSmallerResend: undefined };
  it('waits while the evidence is not decisive, and settles each case at the end', () => {
    const dropped = { ...none, segments: 3, fullSize: 1, packetTooBigSent: 1, firstPacketTooBigMs: 5 };
    assert.equal(judgeServerTest(dropped, false), undefined);
    assert.deepEqual(judgeServerTest(dropped, true), { verdict: 'cannot-tell', reason: 'no-resend' });
    assert.deepEqual(judgeServerTest({ ...dropped, fullSizeRetransmissions: 1 }, false), undefined);
    assert.deepEqual(judgeServerTest({ ...dropped, fullSizeRetransmissions: 1 }, true), { verdict: 'ignored' });
    assert.deepEqual(judgeServerTest({ ...dropped, fullSizeRetransmissions: 3 }, false), { verdict: 'ignored' });
    assert.deepEqual(judgeServerTest({ ...dropped, fullSizeRetransmissions: 2, firstSmallerResend: { atMs: 405, ipLength: 1280 } }, false), {
      verdict: 'honoured',
      reactionMs: 400,
    });
    assert.deepEqual(judgeServerTest({ ...none, segments: 2 }, true), { verdict: 'cannot-tell', reason: 'no-full-size' });
    assert.deepEqual(judgeServerTest({ ...none, segments: 2, noDf: 2 }, true), { verdict: 'cannot-tell', reason: 'no-df' });
    assert.deepEqual(judgeServerTest(none, true), { verdict: 'cannot-tell', reason: 'connection-failed' });
  });
});

describe('settleWithDownload', () => {
  it('a download that failed before any packet bigger than the test MTU (e.g. a refused TLS handshake) is "connection failed", not "no full-size"', () => {
    const small: ServerTestVerdict = { verdict: 'cannot-tell', reason: 'no-full-size' };
    assert.deepEqual(settleWithDownload(small, true), { verdict: 'cannot-tell', reason: 'connection-failed' });
    assert.deepEqual(settleWithDownload(undefined, false), { verdict: 'cannot-tell', reason: 'connection-failed' });
  });
  it('keeps what the packets said: a small answer that ended well, and every verdict or reason the packets settled, failed download or not', () => {
    assert.deepEqual(settleWithDownload({ verdict: 'cannot-tell', reason: 'no-full-size' }, false), { verdict: 'cannot-tell', reason: 'no-full-size' });
    assert.deepEqual(settleWithDownload({ verdict: 'honoured', reactionMs: 2 }, true), { verdict: 'honoured', reactionMs: 2 });
    assert.deepEqual(settleWithDownload({ verdict: 'ignored' }, true), { verdict: 'ignored' });
    assert.deepEqual(settleWithDownload({ verdict: 'cannot-tell', reason: 'no-resend' }, true), { verdict: 'cannot-tell', reason: 'no-resend' });
    assert.deepEqual(settleWithDownload({ verdict: 'cannot-tell', reason: 'no-df' }, true), { verdict: 'cannot-tell', reason: 'no-df' });
  });
});

describe('testMtus', () => {
  it('gives each later connection a test MTU 8 bytes below the one before, the last one at --ptb-mtu', () => {
    assert.deepEqual(testMtus(1280, 8), [1336, 1328, 1320, 1312, 1304, 1296, 1288, 1280]);
    assert.deepEqual(testMtus(1280, 1), [1280]);
  });
});
