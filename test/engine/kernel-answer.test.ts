/**
 * The engine's side of the kernel's Packet Too Big answer (src/engine/kernel-answer.ts): what it tells the kernel, and
 * how it records the segments the kernel decided, with a fake kernel whose counts the test sets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KernelAnswer } from '../../src/engine/kernel-answer.js';
import { DECISION_STARTS, type KernelAnswerCounts } from '../../src/engine/kernel-answer-layout.js';
import { connectionKey, type ConnectionEndpoints } from '../../src/engine/tracked-connection.js';
import { EngineHarness, type TestConnection } from './engine-harness.js';
import { ascii, filler } from './engine-packets.js';

const ANSWERED = 0x6d75;
const HELD_BACK = 0x6d76;

class FakeKernel implements KernelAnswer {
  readonly answeredMark = ANSWERED;
  readonly heldBackMark = HELD_BACK;
  readonly expected = new Map<string, number>();
  readonly forgotten: string[] = [];
  readonly counted = new Map<string, KernelAnswerCounts>();

  expect(e: ConnectionEndpoints, clientIsn: number): void {
    this.expected.set(connectionKey(e), clientIsn);
  }
  forget(e: ConnectionEndpoints): void {
    this.forgotten.push(connectionKey(e));
  }
  counts(e: ConnectionEndpoints): KernelAnswerCounts | undefined {
    return this.counted.get(connectionKey(e));
  }
  /** The kernel answers (or holds back) a packet of `c` that starts at stream offset `offset`. */
  decide(c: TestConnection, offset: number, how: 'answered' | 'held-back' = 'answered'): void {
    const key = connectionKey(c.endpoints);
    const was = this.counted.get(key) ?? { answered: 0, heldBack: 0, decisions: 0, starts: Array<number>(DECISION_STARTS).fill(0) };
    const starts = [...was.starts];
    starts[was.decisions % DECISION_STARTS] = (c.clientIsn + 1 + offset) >>> 0;
    this.counted.set(key, {
      answered: was.answered + Number(how === 'answered'),
      heldBack: was.heldBack + Number(how === 'held-back'),
      decisions: was.decisions + 1,
      starts,
    });
  }
}

const REQUEST = 'POST /icmp HTTP/1.1\r\nHost: test\r\nContent-Length: 8100\r\n\r\n';

/** The client's first burst: the request head and body in full-size segments (1460 bytes of data each). */
function burstSegment(i: number): Uint8Array {
  if (i > 0) return filler(1460);
  const head = ascii(REQUEST);
  const bytes = filler(1460);
  bytes.set(head);
  return bytes;
}

function setUp(): { h: EngineHarness; k: FakeKernel; c: TestConnection } {
  const k = new FakeKernel();
  const h = new EngineHarness({}, {}, k);
  const c = h.connect().handshake();
  return { h, k, c };
}

describe('the engine and the kernel answer', () => {
  it('tells the kernel of each connection it tracks as the SYN passes, with its ISN, and forgets it with the connection', () => {
    const { h, k, c } = setUp();
    assert.deepEqual([...k.expected], [[connectionKey(c.endpoints), c.clientIsn]]);
    c.clientData(0, burstSegment(0), { mark: ANSWERED });
    h.now += 200_000;
    h.engine.sweep();
    assert.deepEqual(k.forgotten, [connectionKey(c.endpoints)]);
  });

  it('a burst the kernel answered: every marked segment dropped, the test classified, messages counted from the kernel, none sent by the engine', () => {
    const { h, k, c } = setUp();
    h.now = 2000;
    // One packet of three segments (GRO): the kernel answered it once.
    k.decide(c, 0);
    const marked = [0, 1, 2].map((i) => c.clientData(i * 1460, burstSegment(i), { mark: ANSWERED }));
    assert.deepEqual(
      marked.map((p) => p.decision),
      ['drop', 'drop', 'drop'],
    );
    assert.equal(h.takeSent().length, 0, 'the engine sent nothing itself');
    const t = c.tracked;
    assert.equal(t?.mode, 'icmp');
    assert.deepEqual([t.icmp?.oversized, t.icmp?.packetTooBigSent, t.icmp?.packetTooBigSuppressed, t.icmp?.firstInterventionAt, t.icmp?.firstSignalAt], [3, 1, 0, 2000, 2000]);
    const n = h.engine.counters;
    assert.deepEqual([n.dropped, n.packetTooBigSent, n.packetTooBigAnsweredInKernel, n.packetTooBigSuppressed], [3, 1, 1, 0]);
    assert.deepEqual(
      t.timeline?.report(undefined).events.map((e) => e.action),
      ['dropped-ptb-sent', 'dropped-with-packet', 'dropped-with-packet'],
    );
    // The client re-sends the dropped bytes in packets that fit: the reaction, with nothing marked.
    h.now = 2003;
    assert.equal(c.clientData(0, burstSegment(0).subarray(0, 853)).decision, 'accept');
    assert.equal(t.icmp?.reactionAt, 2003);
    // The kernel answered a retransmission later: one more message.
    k.decide(c, 853);
    c.clientData(853, filler(1460), { mark: ANSWERED });
    assert.equal(t.icmp?.packetTooBigSent, 2);
    assert.equal(h.engine.counters.packetTooBigAnsweredInKernel, 2);
    assert.equal(t.timeline?.report(undefined).events.at(-1)?.action, 'dropped-ptb-sent');
  });

  it('two packets answered before the engine saw the first: each message on the segment that began its packet', () => {
    const { h, k, c } = setUp();
    k.decide(c, 0);
    k.decide(c, 3 * 1460);
    for (let i = 0; i < 5; i++) c.clientData(i * 1460, burstSegment(i), { mark: ANSWERED });
    assert.deepEqual(
      c.tracked?.timeline?.report(undefined).events.map((e) => e.action),
      ['dropped-ptb-sent', 'dropped-with-packet', 'dropped-with-packet', 'dropped-ptb-sent', 'dropped-with-packet'],
    );
    assert.deepEqual([c.tracked?.icmp?.packetTooBigSent, c.tracked?.icmp?.oversized, h.engine.counters.packetTooBigAnsweredInKernel], [2, 5, 2]);
  });

  it('a segment of the packet that fits: dropped with it, but no oversized segment, and its data sent again is no reaction', () => {
    const { h, k, c } = setUp();
    k.decide(c, 0);
    c.clientData(0, burstSegment(0), { mark: ANSWERED });
    // The packet's tail: 600 bytes of data, a 652-byte IPv4 packet.
    c.clientData(1460, filler(600), { mark: ANSWERED });
    const probe = c.tracked?.icmp;
    assert.deepEqual([probe?.oversized, probe?.packetTooBigSent], [1, 1]);
    h.now += 5;
    assert.equal(c.clientData(1460, filler(600)).decision, 'accept');
    assert.equal(probe?.reactionAt, undefined, 'the tail again is no reaction');
    assert.equal(c.clientData(0, filler(853)).decision, 'accept');
    assert.equal(probe?.reactionAt, h.now, 'the oversized segment\'s data in a packet that fits is');
  });

  it('a segment the rate limits held back: dropped unanswered, counted as suppressed', () => {
    const { h, k, c } = setUp();
    k.decide(c, 0, 'held-back');
    assert.equal(c.clientData(0, burstSegment(0), { mark: HELD_BACK }).decision, 'drop');
    assert.equal(h.takeSent().length, 0);
    assert.deepEqual([c.tracked?.icmp?.packetTooBigSent, c.tracked?.icmp?.packetTooBigSuppressed, h.engine.counters.packetTooBigSuppressed], [0, 1, 1]);
    assert.deepEqual(
      c.tracked?.timeline?.report(undefined).events.map((e) => e.action),
      ['dropped-ptb-held-back'],
    );
  });

  it('without the kernel\'s counts (its entry gone), each marked segment stands for one message', () => {
    const { h, c } = setUp();
    c.clientData(0, burstSegment(0), { mark: ANSWERED });
    c.clientData(1460, burstSegment(1), { mark: ANSWERED });
    assert.equal(c.tracked?.icmp?.packetTooBigSent, 2);
    assert.equal(h.engine.counters.packetTooBigAnsweredInKernel, 2);
  });

  it('unmarked segments, and segments with a mark that is not the kernel\'s, are the engine\'s to answer', () => {
    const { h, k, c } = setUp();
    k.decide(c, 0);
    assert.equal(c.clientData(0, burstSegment(0)).decision, 'drop');
    assert.equal(c.clientData(1460, burstSegment(1), { mark: 0x1234 }).decision, 'drop');
    assert.equal(h.takeSent().length, 2, 'the engine answered both itself');
    assert.deepEqual([h.engine.counters.packetTooBigSent, h.engine.counters.packetTooBigAnsweredInKernel], [2, 0]);
  });

  it('a marked segment is never let through, even where the engine would have accepted it', () => {
    const { h, k } = setUp();
    // A connection the engine never saw open.
    const stranger = h.connect();
    assert.equal(stranger.clientData(0, burstSegment(0), { mark: ANSWERED }).decision, 'drop');
    // A connection that is no /icmp test.
    const other = h.connect().handshake();
    assert.equal(other.clientData(0, ascii('GET / HTTP/1.1\r\n\r\n'), { mark: HELD_BACK }).decision, 'drop');
    // The handshake's ACK, marked (the kernel never marks one; still not let through).
    const c = h.connect();
    c.syn();
    c.synAck();
    assert.equal(c.ack().decision, 'accept');
    assert.equal(h.takeSent().length, 0);
    assert.equal(k.counted.size, 0);
  });
});
