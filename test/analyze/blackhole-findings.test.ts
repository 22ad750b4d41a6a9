/**
 * PMTU black holes and the fallbacks after them, from emitted packets: what makes one (the same large DF segment
 * re-sent 3+ times with backed-off timeouts, never acknowledged, no Packet Too Big) and the near misses that must not
 * (ordinary losses, sizes already acknowledged, a Packet Too Big for the flow, duplicates of one packet on two
 * interfaces), the confidence rules (not doubling, a silent peer, super-packets, capture caveats), and the bounds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLEAN_CAPTURE, type CaptureConditions } from '../../src/analyze/capture-conditions.js';
import { packetFacts } from '../../src/analyze/packet-facts.js';
import { TcpPmtuDetector } from '../../src/analyze/tcp-pmtu-detector.js';
import { packetTooBigQuoting } from '../../src/packet/packet-too-big.js';
import { ipRecord } from './support/facts.js';
import { CLIENT_ISN, Conversation, dataOf, HOSTS, SERVER_ISN } from './support/tcp-conversation.js';
import { kinds, only } from './support/finding-asserts.js';


/** RTO backoff as Linux does it: 200 ms, then doubling. */
const BACKOFF_MS = [200, 600, 1400, 3000];

/**
 * Handshake; a small request acknowledged (its 200-byte segment is the largest acknowledged); then a 1500-byte
 * segment at 10 ms re-sent at `times`, the server answering each with a duplicate ACK (small packets flowing).
 */
function blackHole(family: 4 | 6, times: readonly number[] = BACKOFF_MS, o: { df?: boolean; ipLength?: number } = {}): { c: Conversation; seq: number; frames: number[] } {
  const c = new Conversation(new TcpPmtuDetector(), family);
  c.handshake();
  c.data(CLIENT_ISN, 200, 5);
  const seq = CLIENT_ISN + dataOf(family, 200);
  c.ack(seq, 6);
  const frames = [c.data(seq, o.ipLength ?? 1500, 10, { df: o.df ?? true })];
  for (const t of times) {
    frames.push(c.data(seq, o.ipLength ?? 1500, 10 + t, { df: o.df ?? true }));
    c.ack(seq, 10.5 + t);
  }
  return { c, seq, frames };
}

for (const family of [4, 6] as const) {
  describe(`PMTU black hole, IPv${family}`, () => {
    it('the same large segment re-sent 4 times with doubling intervals, never acknowledged, while small packets flow: an error with its facts', () => {
      const { c, seq, frames } = blackHole(family);
      const f = only(c.report(), 'pmtu-blackhole');
      assert.equal(f.severity, 'error');
      assert.equal(f.confidence, 'high');
      assert.equal(f.facts['retransmissions'], 4);
      assert.equal(f.facts['intervalsMs'], '200, 400, 800, 1600');
      assert.equal(f.facts['doubling'], true);
      assert.equal(f.facts['ipLength'], 1500);
      assert.equal(f.facts['segmentLength'], dataOf(family, 1500));
      assert.equal(f.facts['largestAcked'], 200);
      assert.equal(f.facts['smallerPacketsMeanwhile'], 3, 'the duplicate ACKs between the first and the last retransmission');
      assert.equal(f.facts['seq'], seq);
      assert.deepEqual(f.evidence.map((e) => e.frame), frames);
      assert.deepEqual(f.evidence.map((e) => e.role.split(' after')[0]), [`segment seq ${seq} len ${dataOf(family, 1500)} (1500 bytes, DF)`, 'retransmission 1', 'retransmission 2', 'retransmission 3', 'retransmission 4']);
      const ip = family === 4 ? 'ip' : 'ipv6';
      assert.equal(f.displayFilter, `${ip}.src==${HOSTS[family].client} && ${ip}.dst==${HOSTS[family].server} && tcp.srcport==40000 && tcp.dstport==80 && tcp.seq_raw==${seq} && tcp.len>0 && !${family === 4 ? 'icmp' : 'icmpv6'}`);
      assert.match(f.sentence, /was retransmitted 4 times over 3\.00 s \(intervals 200, 400, 800, 1600 ms\), never acknowledged, and no Packet Too Big/);
      assert.match(f.sentence, /while smaller packets got through \(the handshake, segments of up to 200 bytes acknowledged, 3 smaller packets during the retransmissions\)/);
      assert.deepEqual(kinds(c.report()), ['pmtu-blackhole']);
    });

    it('two retransmissions are not yet a black hole (an ordinary loss may cost that much)', () => {
      const { c } = blackHole(family, BACKOFF_MS.slice(0, 2));
      assert.deepEqual(c.report(), []);
    });

    it('re-sent 4 times and at last acknowledged at the same size: a black hole that lifted, said with lower confidence', () => {
      const { c, seq } = blackHole(family);
      const ackFrame = c.ack(seq + dataOf(family, 1500), 3100);
      const findings = c.report();
      assert.deepEqual(findings.map((f) => f.kind), ['pmtu-blackhole']);
      const f = findings[0]!;
      assert.equal(f.confidence, 'medium');
      assert.equal(f.facts['acknowledgedAtLast'], true);
      assert.equal(f.facts['ackFrame'], ackFrame);
      assert.match(f.sentence, /acknowledged only .* after it was first sent, at the same size .*a black hole that lifted/);
      // Acknowledged after two retransmissions only: an ordinary loss, nothing to report.
      const { c: d, seq: s2 } = blackHole(family, BACKOFF_MS.slice(0, 2));
      d.ack(s2 + dataOf(family, 1500), 1000);
      assert.deepEqual(d.report(), []);
    });

    it('small segments re-sent with backed-off timeouts (zero-window probes, packets of the minimum MTU) are no black hole', () => {
      for (const size of [family === 4 ? 41 : 61, family === 4 ? 576 : 1280]) {
        const c = new Conversation(new TcpPmtuDetector(), family);
        c.handshake();
        c.data(CLIENT_ISN, size, 10);
        for (const t of BACKOFF_MS) {
          c.data(CLIENT_ISN, size, 10 + t);
          c.ack(CLIENT_ISN, 10.5 + t);
        }
        assert.deepEqual(c.report(), [], `${size} bytes`);
      }
    });

    it('a size the peer already acknowledged re-sent again and again is no size problem', () => {
      const c = new Conversation(new TcpPmtuDetector(), family);
      c.handshake();
      c.data(CLIENT_ISN, 1500, 5);
      const seq = CLIENT_ISN + dataOf(family, 1500);
      c.ack(seq, 6);
      c.data(seq, 1500, 10);
      for (const t of BACKOFF_MS) c.data(seq, 1500, 10 + t);
      assert.deepEqual(c.report(), []);
    });

    it('with a Packet Too Big for the flow it is not a black hole (the Packet Too Big findings judge it)', () => {
      const { c, seq } = blackHole(family);
      c.packetTooBig(c.segment('client', seq, SERVER_ISN, 1500), 1400, 3500);
      assert.deepEqual(kinds(c.report()), ['ptb-unresolved']);
      c.data(seq, 1500, 6500);
      assert.deepEqual(kinds(c.report()), ['ptb-ignored']);
    });

    it('the same packet seen twice within 2 ms (two interfaces of one capture) is not a retransmission', () => {
      const c = new Conversation(new TcpPmtuDetector(), family);
      c.handshake();
      const seq = CLIENT_ISN;
      c.data(seq, 1500, 10);
      for (const t of [200, 600]) {
        c.data(seq, 1500, 10 + t);
        c.data(seq, 1500, 10.05 + t);
      }
      assert.deepEqual(c.report(), []);
    });

    it('intervals that do not back off: still reported, with medium confidence and saying so', () => {
      const { c } = blackHole(family, [200, 400, 600, 800]);
      const f = only(c.report(), 'pmtu-blackhole');
      assert.equal(f.confidence, 'medium');
      assert.equal(f.facts['doubling'], false);
      assert.match(f.sentence, /do not double/);
    });

    it('nothing at all from the other end: low confidence, cannot tell a black hole from a dead path', () => {
      const c = new Conversation(new TcpPmtuDetector(), family);
      c.data(CLIENT_ISN, 1500, 10);
      for (const t of BACKOFF_MS) c.data(CLIENT_ISN, 1500, 10 + t);
      const f = only(c.report(), 'pmtu-blackhole');
      assert.equal(f.confidence, 'low');
      assert.match(f.sentence, /cannot tell a size problem from a dead path/);
    });

    it('capture caveats about loss or oversized packets lower the confidence and are named', () => {
      const { c } = blackHole(family);
      const conditions: CaptureConditions = { of: CLEAN_CAPTURE.of, caveats: (_i, topic) => (topic === 'loss' ? ['the capture missed 3 segments that were acknowledged'] : []) };
      const f = only(c.report(conditions), 'pmtu-blackhole');
      assert.equal(f.confidence, 'medium');
      assert.deepEqual(f.caveats, ['the capture missed 3 segments that were acknowledged']);
    });

    it('a segment larger than the link (a TSO super-packet on the sending host) is a black hole of low confidence only', () => {
      // Larger than any link the decoder assumes without being told the capture's MTU (9216, jumbo frames).
      const { c } = blackHole(family, BACKOFF_MS, { ipLength: 12_000 });
      const f = only(c.report(), 'pmtu-blackhole');
      assert.equal(f.confidence, 'low');
      assert.match(f.caveats[0] ?? '', /super-packet/);
    });

    it('a retransmitted segment with more data than the peer\'s MSS (TSO on the sender) is a black hole of low confidence only', () => {
      const c = new Conversation(new TcpPmtuDetector(), family);
      c.handshake(0, 1000);
      c.data(CLIENT_ISN, 3000, 10);
      for (const t of BACKOFF_MS) c.data(CLIENT_ISN, 3000, 10 + t);
      const f = only(c.report(), 'pmtu-blackhole');
      assert.equal(f.confidence, 'low');
      assert.match(f.caveats[0] ?? '', /peer's MSS/);
    });

    it('Linux MTU probing afterwards: the same data re-sent in about 1024-byte segments, then half that, acknowledged: blackhole-fallback', () => {
      const { c, seq } = blackHole(family);
      const probe = c.data(seq, 1064, 6400);
      c.data(seq, 552, 13000);
      const ack = c.ack(seq + dataOf(family, 552), 13000.2);
      const findings = c.report();
      assert.deepEqual(kinds(findings), ['blackhole-fallback', 'pmtu-blackhole']);
      const f = only(findings, 'blackhole-fallback');
      assert.equal(f.severity, 'info');
      assert.equal(f.confidence, 'high');
      assert.equal(f.facts['fallback'], 'mtu-probing');
      assert.equal(f.facts['fallbackSizes'], '1064, 552');
      assert.equal(f.facts['fallbackFrame'], probe);
      assert.equal(f.facts['ackFrame'], ack);
      assert.equal(f.facts['acknowledged'], true);
      assert.match(f.sentence, /re-sent the same data \(seq \d+\) in smaller segments of 1064, 552 bytes/);
    });

    it('a fallback that is never acknowledged is reported with medium confidence', () => {
      const { c, seq } = blackHole(family);
      c.data(seq, 1064, 6400);
      const f = only(c.report(), 'blackhole-fallback');
      assert.equal(f.confidence, 'medium');
      assert.match(f.sentence, /no acknowledgement/);
    });
  });
}

describe('PMTU black hole fallbacks and bounds', () => {
  it('IPv4: the same segment re-sent without DF (what Windows does) and acknowledged: a df-cleared fallback', () => {
    const { c, seq } = blackHole(4);
    const cleared = c.data(seq, 1500, 6400, { df: false });
    c.ack(seq + dataOf(4, 1500), 6401);
    const f = only(c.report(), 'blackhole-fallback');
    assert.equal(f.facts['fallback'], 'df-cleared');
    assert.equal(f.facts['fallbackFrame'], cleared);
    assert.match(f.displayFilter, /ip\.flags\.df==0/);
    only(c.report(), 'pmtu-blackhole');
  });

  it('IPv4 segments without DF re-sent are no black hole (routers may fragment them)', () => {
    const { c } = blackHole(4, BACKOFF_MS, { df: false });
    assert.deepEqual(c.report(), []);
  });

  it('the sender\'s place is named from a cooked capture\'s direction', () => {
    const detector = new TcpPmtuDetector();
    const c = new Conversation(detector, 4);
    c.handshake();
    // The same packets as frames of a LINUX_SLL2 capture whose packet type says "outgoing".
    const seg = c.segment('client', CLIENT_ISN, SERVER_ISN, 1500);
    const sll2 = new Uint8Array(20 + seg.length);
    const v = new DataView(sll2.buffer);
    v.setUint16(0, 0x0800);
    v.setUint32(4, 2);
    v.setUint16(8, 1);
    sll2[10] = 4; // PACKET_OUTGOING
    sll2[11] = 6;
    sll2.set(seg, 20);
    for (const [i, t] of [0, ...BACKOFF_MS].entries()) {
      const rec = { ...ipRecord(seg, 10 + i, { timeUs: 1_700_000_000_000_000 + (10 + t) * 1000 }), linkType: 276, data: sll2 };
      detector.observe(packetFacts(rec, 10 + i));
    }
    const f = only(c.report(), 'pmtu-blackhole');
    assert.equal(f.facts['captureDirection'], 'out');
    assert.match(f.sentence, /sent by the capturing host itself/);
  });

  it('findings beyond maxFindingsPerKind are cut and counted; the flow table stays within maxFlows and counts what it forgot', () => {
    const detector = new TcpPmtuDetector({ maxFlows: 4, fragmentMemory: 1, maxFindingsPerKind: 2 });
    const c = new Conversation(detector, 4);
    for (let i = 0; i < 3; i++) c.packetTooBig(c.segment('client', 1, 1, 1500, { srcPort: 30_000 + i }), 1400, i);
    for (let i = 0; i < 10; i++) c.push(c.segment('client', 1, 1, 100, { srcPort: 31_000 + i }), 10 + i);
    const orphans = c.report().filter((f) => f.kind === 'ptb-orphan');
    assert.equal(orphans.length, 2);
    assert.deepEqual(orphans.map((f) => f.confidence), ['medium', 'medium'], 'no TCP before them, nothing forgotten yet');
    const ev = detector.evictions();
    assert.deepEqual(ev.find((e) => e.table === 'ptb-orphan findings'), { table: 'ptb-orphan findings', evicted: 1, capacity: 2 });
    assert.deepEqual(ev.find((e) => e.table === 'TCP directions (path MTU)'), { table: 'TCP directions (path MTU)', evicted: 6, capacity: 4 });
    // A Packet Too Big for a flow the table may have forgotten: an orphan whose confidence says so.
    c.packetTooBig(c.segment('client', 1, 1, 1500, { srcPort: 31_000 }), 1300, 30);
    const late = c.report().find((f) => f.kind === 'ptb-orphan' && f.flow?.srcPort === 31_000);
    assert.equal(late, undefined, 'cut by maxFindingsPerKind');
    const wide = new TcpPmtuDetector({ maxFlows: 4, fragmentMemory: 1, maxFindingsPerKind: 10 });
    const w = new Conversation(wide, 4);
    for (let i = 0; i < 10; i++) w.push(w.segment('client', 1, 1, 100, { srcPort: 31_000 + i }), i);
    w.packetTooBig(w.segment('client', 1, 1, 1500, { srcPort: 31_000 }), 1300, 30);
    const f = only(w.report(), 'ptb-orphan');
    assert.equal(f.confidence, 'medium');
    assert.match(f.caveats.join(' '), /had forgotten 6 flows/);
  });

  it('hostile input never throws: random bytes and mutated Packet Too Big messages', () => {
    const detector = new TcpPmtuDetector({ maxFlows: 64, fragmentMemory: 1, maxFindingsPerKind: 10 });
    const c = new Conversation(detector, 4);
    let seed = 12345;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    c.push(c.segment('client', 1, 1, 1500), 0);
    c.packetTooBig(c.segment('client', 1, 1, 1500), 1400, 0);
    const ptb = packetTooBigQuoting(4, HOSTS[4].router, HOSTS[4].client, c.segment('client', 5, 5, 600), 1400, 1);
    for (let i = 0; i < 3000; i++) {
      const bytes = i % 2 === 0 ? new Uint8Array(rnd() % 200) : ptb.slice();
      if (i % 2 === 0) for (let j = 0; j < bytes.length; j++) bytes[j] = rnd() & 0xff;
      else for (let k = 0; k < 4; k++) bytes[rnd() % bytes.length] = rnd() & 0xff;
      if (bytes.length > 0 && i % 4 === 0) bytes[0] = 0x45;
      c.push(bytes, i);
      if (i % 500 === 0) c.report();
    }
    assert.ok(Array.isArray(c.report()));
  });
});
