import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectionEvidence } from '../../src/checker/evidence.js';
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
      retransmissions: 1,
      reactionMs: 60,
      durationMs: 1201,
    });
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
