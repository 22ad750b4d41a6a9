import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PACKET_OUTGOING, RelayDelayMatcher } from '../../bench/relay-delay.js';
import { benchMessage, flowPacket, messageNumber, SERVED, type FlowAddresses } from '../../bench/relay-messages.js';
import { capturedPacket, type CapturedPacket } from '../../src/capture/captured-packet.js';
import { withDscp } from '../../src/relay/dscp-rewrite.js';
import { decodeFrame } from '../../src/packet/frame.js';
import { emitIcmpv4 } from '../../src/packet/icmpv4.js';
import { EtherType, IpProtocol } from '../../src/packet/ip-protocol.js';
import { LinkType } from '../../src/packet/link-type.js';
import { emitSll2, SLL2_HEADER } from '../../src/packet/sll2.js';
import { parseCidrOrAddress } from '../../src/packet/cidr.js';
import { judgePacketTooBig } from '../../src/relay/relay-verdict.js';
import { ipPacket } from '../relay/relay-packets.js';

const A4: FlowAddresses = { client: '10.0.1.1', router: '10.0.1.1', served: SERVED[4] };
const A6: FlowAddresses = { client: 'fd00:0:0:1::1', router: 'fd00:0:0:1::1', served: SERVED[6] };
/** The bench's snap length: every frame below is cut to it, as tcpdump -s 160 cuts them. */
const SNAPLEN = 160;
const PACKET_HOST = 0;
const IN = { ifindex: 2, type: PACKET_HOST };
const OUT_ETH2 = { ifindex: 3, type: PACKET_OUTGOING };
const OUT_ETH3 = { ifindex: 4, type: PACKET_OUTGOING };

/** An IP packet as tcpdump -i any -y LINUX_SLL2 records it, `atUs` microseconds into the capture. */
function seen(ip: Uint8Array, atUs: number, where: { ifindex: number; type: number }): CapturedPacket {
  const protocol = ip[0]! >> 4 === 6 ? EtherType.Ipv6 : EtherType.Ipv4;
  const frame = emitSll2({ protocol, reserved: 0, interfaceIndex: where.ifindex, arphrdType: 1, packetType: where.type, addressLength: 6, address: new Uint8Array(8) }, ip);
  return capturedPacket(LinkType.LinuxSll2, 0, 1_000_000_000n + BigInt(Math.round(atUs * 1000)), frame.length, frame.subarray(0, SNAPLEN));
}

function run(packets: readonly CapturedPacket[]): ReturnType<RelayDelayMatcher['result']> {
  const m = new RelayDelayMatcher();
  for (const p of packets) m.push(p);
  return m.result();
}

describe('bench/relay messages', () => {
  it('are Packets Too Big the relay relays, about the flow the bench means, each with its number in the quote', () => {
    const policy = { served: [parseCidrOrAddress(SERVED[4])!, parseCidrOrAddress(SERVED[6])!], maxMtu: { 4: 1500, 6: 1500 } };
    for (const [a, known, port] of [[A4, true, 20_007], [A6, false, 40_007]] as const) {
      const bytes = benchMessage(a, 7, known, 123_456_789);
      const verdict = judgePacketTooBig(bytes, policy);
      assert.ok(verdict.ok, verdict.ok ? '' : `${verdict.reason}: ${verdict.detail}`);
      assert.deepEqual(verdict.message.flow, { protocol: IpProtocol.Udp, served: a.served, servedPort: 443, peer: a.client, peerPort: port });
      assert.equal(verdict.message.mtu, 1400);
      const frame = decodeFrame(LinkType.Raw, bytes, bytes.length);
      const quotedUdp = frame.layers.find((l) => l.depth === 1 && l.protocol === 'udp');
      assert.ok(quotedUdp !== undefined);
      assert.equal(messageNumber(bytes, quotedUdp.offset), 123_456_789);
    }
  });

  it('differ from one number to the next, so that the relay de-duplicates none of them', () => {
    const policy = { served: [parseCidrOrAddress(SERVED[4])!] };
    const keys = [1, 2].map((n) => {
      const v = judgePacketTooBig(benchMessage(A4, 0, true, n), policy);
      assert.ok(v.ok);
      return v.message.messageKey;
    });
    assert.notEqual(keys[0], keys[1]);
  });

  it('are refused by a relay that does not serve the address (the verdict can say no to them)', () => {
    const v = judgePacketTooBig(benchMessage(A4, 0, true, 1), { served: [parseCidrOrAddress('10.98.0.1')!] });
    assert.ok(!v.ok);
    assert.equal(v.reason, 'target-not-served');
  });

  it('carry no number in anything else: the flow\'s own packet has none', () => {
    const p = flowPacket(A4, 3);
    assert.equal(messageNumber(p, 20), undefined);
  });
});

describe('RelayDelayMatcher', () => {
  it('measures from a message coming in to it going out, in both families, the same number apart', () => {
    const m4 = benchMessage(A4, 0, true, 5);
    const m6 = benchMessage(A6, 0, true, 5);
    const r = run([seen(m4, 0, IN), seen(m6, 10, IN), seen(m6, 60, OUT_ETH3), seen(m4, 250, OUT_ETH2)]);
    assert.deepEqual(r.delaysMs, [0.05, 0.25]);
    assert.equal(r.arrivals, 2);
    assert.equal(r.departures, 2);
    assert.deepEqual(r.copiesPerMessage, { 1: 2 });
    assert.deepEqual(r.departuresByInterface, { 3: 1, 4: 1 });
    assert.equal(r.unanswered, 0);
    assert.equal(r.unmatched, 0);
  });

  it('pairs each copy of a message the relay sends to every next hop with its own arrival, whatever the order', () => {
    const a = benchMessage(A4, 0, false, 1);
    const b = benchMessage(A4, 1, false, 2);
    const copy = (m: Uint8Array): Uint8Array => withDscp(m, 7) ?? m;
    const r = run([seen(a, 0, IN), seen(b, 5, IN), seen(copy(b), 20, OUT_ETH2), seen(copy(a), 30, OUT_ETH2), seen(copy(a), 40, OUT_ETH3), seen(copy(b), 45, OUT_ETH3)]);
    assert.deepEqual(r.delaysMs, [0.015, 0.03, 0.04, 0.04]);
    assert.deepEqual(r.copiesPerMessage, { 2: 2 });
    assert.deepEqual(r.departuresByInterface, { 3: 2, 4: 2 });
  });

  it('times the kernel steering\'s copies from the message\'s arrival, not from their own pass through the ingress (relayed DSCP)', () => {
    for (const a of [benchMessage(A4, 0, false, 1), benchMessage(A6, 0, false, 1)]) {
      const copy = withDscp(a, 7)!;
      const r = run([seen(a, 0, IN), seen(copy, 10, IN), seen(copy, 12, IN), seen(copy, 30, OUT_ETH2), seen(copy, 40, OUT_ETH3)]);
      assert.deepEqual(r.delaysMs, [0.03, 0.04]);
      assert.deepEqual(r.copiesPerMessage, { 2: 1 });
      assert.equal(r.reentered, 2);
      assert.equal(r.repeatedArrivals, 0);
      // Another DSCP is another arrival: the check looks at the relayed one only.
      const other = withDscp(a, 8)!;
      const o = run([seen(a, 0, IN), seen(other, 10, IN), seen(copy, 30, OUT_ETH2)]);
      assert.deepEqual([o.reentered, o.repeatedArrivals, o.delaysMs], [0, 1, [0.02]]);
    }
  });

  it('counts what it cannot pair: a copy before its message, one of a message never seen, a message that never left', () => {
    const a = benchMessage(A4, 0, true, 1);
    const b = benchMessage(A4, 0, true, 2);
    const c = benchMessage(A4, 0, true, 3);
    const r = run([seen(a, 0, OUT_ETH2), seen(a, 10, IN), seen(b, 20, OUT_ETH2), seen(c, 30, IN)]);
    assert.deepEqual(r.delaysMs, []);
    assert.equal(r.unmatched, 2);
    assert.equal(r.unanswered, 2);
    assert.deepEqual(r.copiesPerMessage, { 0: 2 });
  });

  it('counts a number that comes in twice', () => {
    const a = benchMessage(A6, 0, true, 9);
    const r = run([seen(a, 0, IN), seen(a, 100, IN), seen(a, 150, OUT_ETH2)]);
    assert.equal(r.repeatedArrivals, 1);
    assert.deepEqual(r.delaysMs, [0.05]);
  });

  it('ignores packets that are not bench Packets Too Big: the flows\' own packets, other ICMP, a quote without the tag', () => {
    const other = ipPacket({
      src: A4.router,
      dst: A4.served,
      protocol: IpProtocol.Icmp,
      payload: emitIcmpv4({ kind: 'destination-unreachable', code: 3, unused: 0, nextHopMtu: 0, quoted: benchMessage(A4, 0, true, 1).subarray(28, 28 + 48) }),
    });
    const untagged = benchMessage(A4, 0, true, 1).slice();
    untagged[20 + 8 + 20 + 8] = 0;
    const r = run([seen(flowPacket(A4, 0), 0, IN), seen(other, 1, IN), seen(untagged, 2, IN), seen(untagged, 3, OUT_ETH2)]);
    assert.equal(r.arrivals, 0);
    assert.equal(r.departures, 0);
    assert.ok(SLL2_HEADER + 20 + 8 + 20 + 8 + 6 <= SNAPLEN);
  });
});
