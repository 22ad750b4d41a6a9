import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectionEvidence } from '../../src/checker/evidence.js';
import { icmpVerdict } from '../../src/checker/icmp-verdict.js';
import { reportConnection } from '../../src/engine/connection-report.js';
import { EngineHarness } from '../engine/engine-harness.js';
import { filler } from '../engine/engine-packets.js';

describe('connectionEvidence of an engine report', () => {
  it('/icmp: the figures of the engine record, reaction time from the first Packet Too Big', () => {
    const h = new EngineHarness();
    h.now = 100;
    const c = h.connect({ mss: 1400 }).handshake();
    const body = c.request('POST /icmp HTTP/1.1');
    h.now = 200;
    c.clientData(body, filler(1460));
    c.clientData(body + 1460, filler(1460));
    h.now = 260.4;
    c.clientData(body, filler(865));
    const t = c.tracked;
    assert.ok(t);
    const e = connectionEvidence(reportConnection(t, 1300.6), 905);
    assert.deepEqual(e, {
      family: 'ipv4',
      clientAddress: c.client,
      clientPort: c.clientPort,
      serverAddress: c.server,
      serverPort: 8080,
      clientMss: 1400,
      largestClientPacket: 1500,
      largestPacketAfterReaction: 905,
      testMtu: 905,
      oversizedPackets: 2,
      oversizedWithoutDf: 0,
      packetTooBigSent: 2,
      packetTooBigSuppressed: 0,
      segmentsFragmented: 0,
      fragmentsSent: 0,
      fragmentsSuppressed: 0,
      retransmissions: 1,
      reactionMs: 60,
      durationMs: 1201,
    });
  });

  it('/icmp: a client that reacted 10 ms after the one Packet Too Big it was sent is "pass", whatever was held back before', () => {
    const h = new EngineHarness({ icmpRate: { perClient: { perSecond: 1, burst: 1 }, global: { perSecond: 1000, burst: 1000 } } });
    const earlier = h.connect().handshake();
    earlier.clientData(earlier.request('POST /icmp HTTP/1.1'), filler(1460));
    const c = h.connect().handshake();
    const body = c.request('POST /icmp HTTP/1.1');
    h.now = 1500;
    c.clientData(body, filler(1460));
    h.now = 4000;
    c.clientData(body, filler(1460));
    h.now = 4010;
    c.clientData(body, filler(865));
    const t = c.tracked;
    assert.ok(t);
    const e = connectionEvidence(reportConnection(t, h.now), 905);
    assert.deepEqual([e.oversizedPackets, e.packetTooBigSent, e.packetTooBigSuppressed, e.reactionMs], [2, 1, 1, 10]);
    assert.equal(icmpVerdict({ oversized: e.oversizedPackets, oversizedWithoutDf: e.oversizedWithoutDf, packetTooBigSent: e.packetTooBigSent, reactionMs: e.reactionMs }, 2000), 'pass');
  });

  it('/frag: fragments held back by the rate limit are evidence too', () => {
    const h = new EngineHarness({ fragmentRate: { perClient: { perSecond: 1, burst: 2 }, global: { perSecond: 1000, burst: 1000 } } });
    const c = h.connect().handshake();
    c.request('GET /frag HTTP/1.1');
    c.serverData(0, filler(1460));
    const t = c.tracked;
    assert.ok(t);
    const e = connectionEvidence(reportConnection(t, h.now), 576);
    assert.deepEqual([e.segmentsFragmented, e.fragmentsSent, e.fragmentsSuppressed], [0, 0, 3]);
  });

  it('/frag: fragment figures and the server retransmissions; no reaction yet is null', () => {
    const h = new EngineHarness();
    const c = h.connect({ family: 6 }).handshake();
    c.request('GET /frag HTTP/1.1');
    c.serverData(0, filler(1440));
    h.now += 300;
    c.serverData(0, filler(1440));
    const t = c.tracked;
    assert.ok(t);
    const e = connectionEvidence(reportConnection(t, h.now), 1280);
    assert.deepEqual(
      [e.family, e.clientMss, e.segmentsFragmented, e.fragmentsSent, e.retransmissions, e.reactionMs, e.oversizedPackets, e.largestPacketAfterReaction],
      ['ipv6', null, 2, 4, 1, null, 0, null],
    );
    h.now += 50;
    c.ack(1440, 18);
    assert.equal(connectionEvidence(reportConnection(t, h.now), 1280).reactionMs, 350);
  });
});
