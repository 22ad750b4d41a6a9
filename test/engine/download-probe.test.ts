import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { downloadVerdict } from '../../src/checker/download-verdict.js';
import { reportConnection } from '../../src/engine/connection-report.js';
import { DEFAULT_ENGINE_SETTINGS } from '../../src/engine/engine-settings.js';
import { STARTED_SMALL_SEGMENTS } from '../../src/engine/download-probe.js';
import { parseReceivedPacketTooBig } from '../../src/engine/received-packet-too-big.js';
import { emitIcmpv4, ICMPV4_FRAG_NEEDED_CODE } from '../../src/packet/icmpv4.js';
import { emitIcmpv6 } from '../../src/packet/icmpv6.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { emitIpv4 } from '../../src/packet/ipv4.js';
import { emitIpv6 } from '../../src/packet/ipv6.js';
import { EngineHarness, SERVER_PORT, type TestConnection } from './engine-harness.js';
import { ACK, FIN, filler, tcpPacket } from './engine-packets.js';

const ROUTER = { 4: '10.9.9.1', 6: 'fd00:9::1' } as const;
/** Payload of a full-size segment: MSS 1460 on both sides for IPv4 (1500-byte packets), 1440 for IPv6. */
const FULL_PAYLOAD = { 4: 1460, 6: 1440 } as const;
const MAX_RETRANSMISSIONS = DEFAULT_ENGINE_SETTINGS.downloadMaxRetransmissions;

/** What a router sends the server for one of its segments: from the router, quoting as much as fits. */
function routerPacketTooBig(family: IpFamily, segment: Uint8Array, mtu: number): Uint8Array {
  const server = family === 4 ? '10.0.0.1' : 'fd00::1';
  if (family === 4) {
    const icmp = emitIcmpv4({ kind: 'destination-unreachable', code: ICMPV4_FRAG_NEEDED_CODE, unused: 0, nextHopMtu: mtu, quoted: segment.subarray(0, 548) });
    return emitIpv4(
      { src: ROUTER[4], dst: server, protocol: IpProtocol.Icmp, ttl: 64, dscp: 0, ecn: 0, ident: 1, reservedFlag: false, dontFragment: false, moreFragments: false, fragmentOffset: 0, options: new Uint8Array(0), payloadLength: icmp.length },
      icmp,
    );
  }
  const icmp = emitIcmpv6({ kind: 'packet-too-big', code: 0, mtu, quoted: segment.subarray(0, 1232) }, ROUTER[6], server);
  return emitIpv6({ src: ROUTER[6], dst: server, nextHeader: IpProtocol.Icmpv6, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLength: icmp.length }, icmp);
}

function downloadConnection(h: EngineHarness, family: IpFamily): TestConnection {
  const c = h.connect({ family, mss: FULL_PAYLOAD[family] }).handshake();
  c.request('GET /download?format=json HTTP/1.1');
  assert.equal(c.tracked?.mode, 'download');
  return c;
}

/** The server's FIN right after `dataEnd` bytes, and the client's ACK of it. */
function finishResponse(h: EngineHarness, c: TestConnection, dataEnd: number): void {
  const from = { src: c.server, dst: c.client, srcPort: SERVER_PORT, dstPort: c.clientPort };
  h.handle('output', tcpPacket({ ...from, seq: c.serverIsn + 1 + dataEnd, ack: c.clientIsn + 1, flags: FIN | ACK }));
  c.ack(dataEnd + 1);
}

function verdictOf(c: TestConnection, h: EngineHarness): string {
  const tracked = c.tracked;
  assert.ok(tracked);
  return downloadVerdict(reportConnection(tracked, h.now).download, MAX_RETRANSMISSIONS);
}

for (const family of [4, 6] as const) {
  const full = FULL_PAYLOAD[family];
  describe(`PacketEngine: /download, IPv${family}`, () => {
    it('a router Packet Too Big is read, accepted for the kernel, and the shrunk retransmission is a pass; the path MTU is forgotten once the response arrived', () => {
      const h = new EngineHarness();
      const c = downloadConnection(h, family);
      for (let i = 0; i < 3; i++) assert.equal(c.serverData(i * full, filler(full, i)).decision, 'accept');
      const ptb = h.handle('input', routerPacketTooBig(family, c.serverPacket(0, filler(full, 0)), 1400));
      assert.equal(ptb.decision, 'accept');
      const probe = c.tracked?.download;
      assert.ok(probe);
      assert.deepEqual([probe.packetTooBigReceived, probe.router, probe.reportedMtu, probe.outcome], [1, ROUTER[family], 1400, undefined]);
      h.now += 1;
      // A new small segment is no reaction: only re-sent full-size data in packets that fit is.
      assert.equal(c.serverData(3 * full, filler(100)).decision, 'accept');
      assert.equal(probe.outcome, undefined);
      assert.equal(c.serverData(0, filler(1400 - (family === 4 ? 40 : 60))).decision, 'accept');
      assert.equal(probe.outcome, 'shrank');
      assert.equal(verdictOf(c, h), 'pass');
      const tracked = c.tracked;
      assert.ok(tracked);
      assert.equal(reportConnection(tracked, h.now).download?.reactionMs, 1);
      assert.deepEqual(h.forgotten, []);
      finishResponse(h, c, 3 * full + 100);
      assert.deepEqual(h.forgotten, [c.client]);
      assert.equal(h.engine.counters.packetTooBigReceived, 1);
    });

    it('a Packet Too Big for another connection of the client (the page) has the kernel forget it before the test starts', async () => {
      const h = new EngineHarness();
      const page = h.connect({ family, mss: full }).handshake();
      page.request('GET / HTTP/1.1');
      page.serverData(0, filler(full));
      h.handle('input', routerPacketTooBig(family, page.serverPacket(0, filler(full)), 1400));
      assert.deepEqual(h.forgotten, [], 'not a /download connection');
      const c = downloadConnection(h, family);
      assert.deepEqual(h.forgotten, [c.client]);
      assert.equal(c.tracked?.download?.flushedBeforeStart, true);
      const tracked = c.tracked;
      assert.ok(tracked);
      await h.engine.ready(tracked);
      const again = downloadConnection(h, family);
      assert.equal(again.tracked?.download?.flushedBeforeStart, false, 'forgotten once, not at every test');
    });

    it('a Packet Too Big after which nothing shrinks is no pass', () => {
      const h = new EngineHarness({ downloadWindowMs: 1000 });
      const c = downloadConnection(h, family);
      assert.equal(c.serverData(0, filler(full)).decision, 'accept');
      h.handle('input', routerPacketTooBig(family, c.serverPacket(0, filler(full)), 1400));
      assert.equal(c.serverData(0, filler(full)).decision, 'accept');
      h.now += 1000;
      h.engine.sweep();
      assert.equal(c.tracked?.download?.outcome, 'timed-out');
      assert.equal(verdictOf(c, h), 'inconclusive');
    });

    it('an acknowledged full-size segment is clear; nothing was taught to the kernel, so nothing is flushed', () => {
      const h = new EngineHarness();
      const c = downloadConnection(h, family);
      assert.equal(c.serverData(0, filler(full)).decision, 'accept');
      c.ack(full - 1);
      assert.equal(c.tracked?.download?.outcome, undefined, 'an ACK short of its end proves nothing');
      c.ack(full);
      assert.equal(c.tracked?.download?.outcome, 'acknowledged');
      assert.equal(verdictOf(c, h), 'clear');
      finishResponse(h, c, full);
      assert.deepEqual(h.forgotten, []);
    });

    it('a full-size segment acknowledged only after it was sent again proves nothing', () => {
      const h = new EngineHarness();
      const c = downloadConnection(h, family);
      c.serverData(0, filler(full));
      c.serverData(0, filler(full));
      c.ack(full);
      assert.equal(c.tracked?.download?.fullSizeAcknowledged, 0);
      assert.equal(verdictOf(c, h), 'inconclusive');
    });

    it(`${MAX_RETRANSMISSIONS} unanswered full-size retransmissions: blackhole, and the engine tells its own kernel a small MTU, again whenever it forgets`, () => {
      const h = new EngineHarness();
      const c = downloadConnection(h, family);
      for (let i = 0; i < 4; i++) c.serverData(i * full, filler(full, i));
      for (let r = 1; r < MAX_RETRANSMISSIONS; r++) assert.equal(c.serverData(0, filler(full, 0)).decision, 'accept', `retransmission ${r}`);
      assert.deepEqual(h.takeSent(), []);
      const last = c.serverData(0, filler(full, 0));
      assert.equal(last.decision, 'drop');
      const [sent, ...more] = h.takeSent();
      assert.deepEqual(more, []);
      assert.ok(sent);
      assert.equal(sent.destination, c.server, 'to the server itself');
      const told = parseReceivedPacketTooBig(sent.packet);
      assert.ok(told.ok);
      assert.deepEqual(
        [told.value.mtu, told.value.serverAddress, told.value.clientAddress, told.value.serverPort, told.value.clientPort, told.value.seq],
        [family === 4 ? 576 : 1280, c.server, c.client, SERVER_PORT, c.clientPort, (c.serverIsn + 1) >>> 0],
      );
      assert.equal(verdictOf(c, h), 'blackhole');
      // Segments that fit the rescue MTU pass; a full-size one (the kernel's route exception was flushed) is rescued again.
      assert.equal(c.serverData(0, filler(family === 4 ? 536 : 1220)).decision, 'accept');
      assert.equal(c.serverData(4 * full, filler(full)).decision, 'drop');
      assert.equal(h.takeSent().length, 1);
      assert.equal(h.engine.counters.downloadRescues, 2);
      finishResponse(h, c, 5 * full);
      assert.deepEqual(h.forgotten, [c.client]);
    });

    it(`${STARTED_SMALL_SEGMENTS} segments and none full-size: the server's segments started small, inconclusive at once`, () => {
      const h = new EngineHarness();
      const c = downloadConnection(h, family);
      for (let i = 0; i < STARTED_SMALL_SEGMENTS; i++) c.serverData(i * 1300, filler(1300, i));
      assert.equal(c.tracked?.download?.outcome, 'started-small');
      assert.equal(verdictOf(c, h), 'inconclusive');
    });
  });
}

describe('parseReceivedPacketTooBig', () => {
  it('says no to what is not a Packet Too Big quoting TCP', () => {
    const h = new EngineHarness();
    const c = h.connect({ family: 4 });
    const segment = c.serverPacket(0, filler(100));
    assert.equal(parseReceivedPacketTooBig(segment).ok, false, 'a TCP segment');
    const ptb = routerPacketTooBig(4, segment, 1400);
    assert.ok(parseReceivedPacketTooBig(ptb).ok);
    const portUnreachable = ptb.slice();
    portUnreachable[21] = 3;
    assert.equal(parseReceivedPacketTooBig(portUnreachable).ok, false, 'another code of destination unreachable');
    const cut = routerPacketTooBig(4, segment.subarray(0, 24), 1400);
    assert.equal(parseReceivedPacketTooBig(cut).ok, false, 'a quote without the sequence number');
  });
});
