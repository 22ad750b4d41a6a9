/**
 * The packet timeline the engine records for each test connection, driven through PacketEngine with real packet bytes
 * and a hand-moved clock: exact events for /icmp and /frag, the rate-limited cases, the bound, and connections that
 * are no test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reportConnection } from '../../src/engine/connection-report.js';
import { TIMELINE_CAPACITY, TimelineRecorder } from '../../src/engine/packet-timeline.js';
import type { PacketTimeline } from '../../src/engine/timeline-event.js';
import { EngineHarness, type TestConnection } from './engine-harness.js';
import { filler, IPV4_TCP_HEADERS, IPV6_TCP_HEADERS } from './engine-packets.js';

function timelineOf(h: EngineHarness, c: TestConnection): PacketTimeline | null {
  const tracked = c.tracked;
  assert.ok(tracked, 'the connection is tracked');
  return reportConnection(tracked, h.now).timeline;
}

describe('the packet timeline of a test connection', () => {
  it('/icmp: the request passes, a 1500-byte segment is dropped with a Packet Too Big, its data comes again in a 905-byte one: the reaction', () => {
    const h = new EngineHarness();
    const c = h.connect().handshake();
    h.now = 1010;
    const request = c.request('POST /icmp HTTP/1.1');
    h.now = 1020.123;
    assert.equal(c.clientData(request, filler(1460)).decision, 'drop');
    h.now = 1050;
    assert.equal(c.clientData(request, filler(865)).decision, 'accept');
    h.now = 1051;
    assert.equal(c.clientData(request + 865, filler(595)).decision, 'accept');
    assert.equal(c.ack().decision, 'accept', 'an ACK that acknowledges nothing new is no event');
    assert.deepEqual(timelineOf(h, c), {
      events: [
        { atMs: 10, direction: 'in', ipLength: IPV4_TCP_HEADERS + request, df: true, action: 'accepted', retransmission: false, offset: 0, length: request },
        { atMs: 20.12, direction: 'in', ipLength: 1500, df: true, action: 'dropped-ptb-sent', retransmission: false, offset: request, length: 1460, mtu: 905 },
        { atMs: 50, direction: 'in', ipLength: 905, df: true, action: 'accepted', retransmission: true, offset: request, length: 865 },
        { atMs: 51, direction: 'in', ipLength: 635, df: true, action: 'accepted', retransmission: true, offset: request + 865, length: 595 },
      ],
      omitted: 0,
      reactionAtMs: 50,
    });
  });

  it('/icmp over IPv6 without a reaction: every oversized segment dropped, reactionAtMs null', () => {
    const h = new EngineHarness();
    const c = h.connect({ family: 6 }).handshake();
    const request = c.request('POST /icmp HTTP/1.1');
    h.now = 1200;
    c.clientData(request, filler(1440));
    h.now = 1400;
    c.clientData(request, filler(1440));
    const timeline = timelineOf(h, c);
    assert.ok(timeline);
    assert.deepEqual(
      timeline.events.map((e) => [e.atMs, e.ipLength, e.df, e.action, e.retransmission, e.mtu]),
      [
        [0, IPV6_TCP_HEADERS + request, true, 'accepted', false, undefined],
        [200, 1500, true, 'dropped-ptb-sent', false, 1280],
        [400, 1500, true, 'dropped-ptb-sent', true, 1280],
      ],
    );
    assert.equal(timeline.reactionAtMs, null);
  });

  it('/icmp: a Packet Too Big held back by the rate limit is recorded as such, and a segment without DF as passed', () => {
    const h = new EngineHarness({ icmpRate: { perClient: { perSecond: 1, burst: 1 }, global: { perSecond: 1000, burst: 1000 } } });
    const c = h.connect().handshake();
    const request = c.request('POST /icmp HTTP/1.1');
    c.clientData(request, filler(1460));
    c.clientData(request + 1460, filler(1460));
    c.clientData(request + 2920, filler(1460), { dontFragment: false });
    const timeline = timelineOf(h, c);
    assert.ok(timeline);
    assert.deepEqual(
      timeline.events.slice(1).map((e) => [e.action, e.df, e.offset]),
      [
        ['dropped-ptb-sent', true, request],
        ['dropped-ptb-held-back', true, request + 1460],
        ['accepted', false, request + 2920],
      ],
    );
  });

  it('/frag: segments sent as fragments, the ACK beyond them (the reaction), then whole segments and a retransmission', () => {
    const h = new EngineHarness();
    const c = h.connect().handshake();
    h.now = 1005;
    const request = c.request('GET /frag HTTP/1.1');
    h.now = 1010;
    assert.equal(c.serverData(0, filler(1460), request).decision, 'drop');
    const fragments = h.takeSent().length;
    assert.ok(fragments >= 3, `a 1500-byte packet in fragments of 576 bytes: ${fragments}`);
    h.now = 1030;
    assert.equal(c.ack(1000, request).decision, 'accept');
    h.now = 1031;
    assert.equal(c.ack(1460, request).decision, 'accept');
    h.now = 1032;
    assert.equal(c.ack(1460, request).decision, 'accept');
    h.now = 1040;
    assert.equal(c.serverData(1460, filler(1460), request).decision, 'accept');
    h.now = 1060;
    assert.equal(c.serverData(1460, filler(1460), request).decision, 'accept');
    assert.deepEqual(timelineOf(h, c), {
      events: [
        { atMs: 5, direction: 'in', ipLength: IPV4_TCP_HEADERS + request, df: true, action: 'accepted', retransmission: false, offset: 0, length: request },
        { atMs: 10, direction: 'out', ipLength: 1500, df: true, action: 'fragmented', retransmission: false, offset: 0, length: 1460, fragments },
        { atMs: 30, direction: 'in', ipLength: IPV4_TCP_HEADERS, df: true, action: 'ack', retransmission: false, offset: 1000, length: 0 },
        { atMs: 31, direction: 'in', ipLength: IPV4_TCP_HEADERS, df: true, action: 'ack', retransmission: false, offset: 1460, length: 0 },
        { atMs: 40, direction: 'out', ipLength: 1500, df: true, action: 'accepted', retransmission: false, offset: 1460, length: 1460 },
        { atMs: 60, direction: 'out', ipLength: 1500, df: true, action: 'accepted', retransmission: true, offset: 1460, length: 1460 },
      ],
      omitted: 0,
      reactionAtMs: 30,
    });
  });

  it('/frag: a segment whose fragments the rate limit held back is recorded as dropped, and so is its resend once allowed', () => {
    const h = new EngineHarness({ fragmentRate: { perClient: { perSecond: 1, burst: 1 }, global: { perSecond: 100, burst: 100 } } });
    const c = h.connect().handshake();
    const request = c.request('GET /frag HTTP/1.1');
    assert.equal(c.serverData(0, filler(1460), request).decision, 'drop');
    h.now = 1100;
    assert.equal(c.serverData(0, filler(1460), request).decision, 'drop');
    const timeline = timelineOf(h, c);
    assert.ok(timeline);
    assert.deepEqual(
      timeline.events.slice(1).map((e) => [e.atMs, e.direction, e.action, e.retransmission, e.fragments]),
      [
        [0, 'out', 'fragments-held-back', false, undefined],
        [100, 'out', 'fragments-held-back', true, undefined],
      ],
    );
    assert.equal(timeline.reactionAtMs, null);
  });

  it(`keeps the first ${TIMELINE_CAPACITY} events and counts the rest`, () => {
    const h = new EngineHarness();
    const c = h.connect().handshake();
    let offset = c.request('POST /icmp HTTP/1.1');
    for (let i = 0; i < TIMELINE_CAPACITY + 4; i++) {
      h.now += 1;
      c.clientData(offset, filler(100));
      offset += 100;
    }
    const timeline = timelineOf(h, c);
    assert.ok(timeline);
    assert.equal(timeline.events.length, TIMELINE_CAPACITY);
    assert.equal(timeline.omitted, 5);
    assert.equal(timeline.events.at(-1)?.atMs, TIMELINE_CAPACITY - 1);
  });

  it('records nothing for connections that are no test: the page, the API, a request before the engine classified it', () => {
    const h = new EngineHarness();
    const page = h.connect().handshake();
    page.request('GET / HTTP/1.1');
    page.serverData(0, filler(1460));
    assert.equal(timelineOf(h, page), null);
    const bare = h.connect().handshake();
    assert.equal(timelineOf(h, bare), null);
  });
});

describe('TimelineRecorder', () => {
  it('records a Packet Too Big received (for /download) with the MTU it announced', () => {
    const r = new TimelineRecorder(500);
    r.serverData(510, 1500, true, 0, 1448, 'accepted');
    r.packetTooBigReceived(512.5, 576, 1400, 0);
    r.serverData(520, 1400, true, 0, 1348, 'accepted');
    assert.deepEqual(r.report(520), {
      events: [
        { atMs: 10, direction: 'out', ipLength: 1500, df: true, action: 'accepted', retransmission: false, offset: 0, length: 1448 },
        { atMs: 12.5, direction: 'in', ipLength: 576, df: false, action: 'ptb-received', retransmission: false, offset: 0, length: 0, mtu: 1400 },
        { atMs: 20, direction: 'out', ipLength: 1400, df: true, action: 'accepted', retransmission: true, offset: 0, length: 1348 },
      ],
      omitted: 0,
      reactionAtMs: 20,
    });
  });

  it('an ACK carried by data advances silently: only a bare ACK that advances further is an event', () => {
    const r = new TimelineRecorder(0, 4);
    r.clientAck(1, 52, true, 1000, true);
    r.clientAck(2, 52, true, 1000, false);
    r.clientAck(3, 52, true, 2000, false);
    assert.deepEqual(
      r.report(undefined).events.map((e) => [e.atMs, e.offset]),
      [[3, 2000]],
    );
  });

  it('once full, counts without recording', () => {
    const r = new TimelineRecorder(0, 2);
    for (let i = 0; i < 5; i++) r.clientData(i, 100, true, i * 60, (i + 1) * 60, false, 'accepted');
    const report = r.report(undefined);
    assert.deepEqual(
      report.events.map((e) => e.atMs),
      [0, 1],
    );
    assert.equal(report.omitted, 3);
    assert.equal(r.recorded, 2);
  });
});
