/**
 * TraceSession on hand-made event sequences, one per case the tracer must explain: the encap-lb case (inner packet
 * followed into its VXLAN packet, dropped in ip_fragment with an ICMP error about it), an iptables drop, a veth MTU
 * mismatch, a router's PKT_TOO_BIG whose ICMP error a firewall drops, a GSO packet handed on, tracking lost, a
 * reused skb address, delivered packets and benign drops; rows, notes, fates and the summary with exact values.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TraceSession, type TimelineRow, type TraceSummary } from '../../src/trace/trace-session.js';
import type { TraceEvent } from '../../src/trace/trace-event.js';
import { CONTEXT, ev, NS } from './support/session-events.js';
import { fragNeeded, ping4, tcp4, udp4, vxlan4 } from './support/trace-packets.js';

function run(events: readonly TraceEvent[], session = new TraceSession(CONTEXT)): { rows: TimelineRow[]; summary: TraceSummary; session: TraceSession } {
  const rows = events.map((e) => session.observe(e)).filter((r): r is TimelineRow => r !== undefined);
  return { rows, summary: session.summary(), session };
}

const EMPTY_FATES = { delivered: 0, handedOn: [], freedElsewhere: [], unknownFate: 0, trackingLost: 0, icmpErrorsSent: 0, strangerEvents: 0 };

describe('trace session: the encap-lb case', () => {
  const inner = tcp4({ src: '10.9.0.1', dst: '10.9.0.2', srcPort: 40000, dstPort: 80, payload: 1440 });
  const outer = vxlan4('10.1.0.2', '10.3.0.3', inner, 50000, true);
  const error = fragNeeded('10.1.0.2', outer, 1500);
  const events = [
    ev('queued', 0, 'a1', inner, { netns: NS.client, device: 'eth0', mtu: 1500, match: 'matched' }),
    ev('received', 0.01, 'a1', inner, { netns: NS.lb, device: 'veth-lb', mtu: 1500 }),
    ev('queued', 0.02, 'a1', outer, { netns: NS.lb, device: 'eth1', mtu: 1500 }),
    ev('icmp-send', 0.03, 'a1', outer, { netns: NS.lb, device: 'eth1', mtu: 1500, icmpSend: { type: 3, code: 4 } }),
    ev('queued', 0.031, 'b2', error, { netns: NS.lb, device: 'lo', mtu: 65536, match: 'icmp-error' }),
    ev('dropped', 0.032, 'a1', outer, { netns: NS.lb, device: 'eth1', mtu: 1500, reason: 'PKT_TOO_BIG', location: 'ip_fragment' }),
    ev('received', 0.04, 'b2', error, { netns: NS.lb, device: 'lo', mtu: 65536 }),
    ev('freed', 0.05, 'b2', undefined, { netns: NS.lb, device: 'lo', location: 'icmp_rcv' }),
  ];
  const MEANING =
    'dropped in ip_fragment (namespace encap/lb, device eth1): larger than the route MTU (1530 bytes > 1500) with DF set; ' +
    'an ICMP fragmentation-needed (mtu 1500) was sent to 10.1.0.2; it was a packet of 1480 bytes inside vxlan: the encapsulation overhead made it too large';

  it('follows the client\'s packet from the inner to the outer VXLAN packet to the drop, one packet id throughout', () => {
    const { rows } = run(events);
    assert.deepEqual(rows.map((r) => [r.packet, r.namespace, r.note ?? '']), [
      [1, 'encap/client', ''],
      [1, 'encap/lb', ''],
      [1, 'encap/lb', 'encapsulated (vxlan): now 10.1.0.2:50000 > 10.3.0.3:4789 udp, 1530 bytes'],
      [1, 'encap/lb', ''],
      [2, 'encap/lb', 'ICMP error about packet #1 mtu 1500'],
      [1, 'encap/lb', MEANING],
      [2, 'encap/lb', ''],
      [2, 'encap/lb', ''],
    ]);
  });

  it('the packet\'s record: encapsulation, the ICMP error it drew (type, code, MTU, to whom, which packet), the drop', () => {
    const { session } = run(events);
    const [p1, p2] = session.allPackets();
    assert.deepEqual(p1!.encapsulated, { tunnel: 'vxlan', innerLength: 1480 });
    assert.deepEqual(p1!.icmpSent, { type: 3, code: 4, mtu: 1500, to: '10.1.0.2', packet: 2 });
    assert.deepEqual(p1!.drop, { reason: 'PKT_TOO_BIG', function: 'ip_fragment', namespace: 'encap/lb', device: 'eth1', meaning: MEANING });
    assert.equal(p1!.fate, 'dropped');
    assert.equal(p2!.errorAbout, 1);
    assert.equal(p2!.fate, 'delivered', 'the ICMP error reached icmp_rcv');
  });

  it('the summary: one death with its meaning, the ICMP error delivered', () => {
    assert.deepEqual(run(events).summary, {
      packets: 2,
      events: 8,
      deaths: [{ namespace: 'encap/lb', device: 'eth1', function: 'ip_fragment', reason: 'PKT_TOO_BIG', example: 1, meaning: MEANING, count: 1, icmpErrors: 0 }],
      ...EMPTY_FATES,
      delivered: 1,
      icmpErrorsSent: 1,
    });
  });

  it('the inner packet alone, not encapsulated, says nothing about encapsulation (the "no" case)', () => {
    const { rows } = run([
      ev('queued', 0, 'a1', inner, { netns: NS.client, device: 'eth0', mtu: 1400, match: 'matched' }),
      ev('dropped', 0.01, 'a1', inner, { netns: NS.client, device: 'eth0', mtu: 1400, reason: 'PKT_TOO_BIG', location: 'ip_fragment' }),
    ]);
    assert.equal(rows[1]!.note, 'dropped in ip_fragment (namespace encap/client, device eth0): larger than the route MTU (1480 bytes > eth0\'s MTU 1400) with DF set');
  });
});

describe('trace session: drops and their meaning', () => {
  const syn = tcp4({ src: '10.1.0.2', dst: '10.2.0.2', srcPort: 40000, dstPort: 80 });

  it('an iptables drop: netfilter drop in namespace X', () => {
    const { rows, summary } = run([
      ev('received', 0, 'c1', syn, { netns: NS.r1, device: 'eth0', mtu: 1500, match: 'matched' }),
      ev('dropped', 0.01, 'c1', syn, { netns: NS.r1, device: 'eth0', mtu: 1500, reason: 'NETFILTER_DROP', location: 'nft_do_chain' }),
    ]);
    const meaning = 'netfilter drop in namespace lab/r1: a firewall rule (iptables/nftables) dropped it (device eth0)';
    assert.equal(rows[1]!.note, meaning);
    assert.deepEqual(summary.deaths, [{ namespace: 'lab/r1', device: 'eth0', function: 'nft_do_chain', reason: 'NETFILTER_DROP', example: 1, meaning, count: 1, icmpErrors: 0 }]);
  });

  it('a veth MTU mismatch: refused by __dev_forward_skb2 on its way into the other end', () => {
    const big = udp4({ src: '10.1.0.2', dst: '10.2.0.2', srcPort: 5000, dstPort: 6000, payload: 3972, dontFragment: true });
    const { rows } = run([
      ev('queued', 0, 'd1', big, { netns: NS.client, device: 'veth-a', mtu: 9000, match: 'matched' }),
      ev('dropped', 0.01, 'd1', big, { netns: NS.client, device: 'veth-a', mtu: 9000, reason: 'NOT_SPECIFIED', location: '__dev_forward_skb2' }),
    ]);
    assert.equal(
      rows[1]!.note,
      'dropped in __dev_forward_skb2 (namespace encap/client, device veth-a): refused on its way into the other end of the veth pair (4000 bytes): larger than that end\'s MTU (an MTU mismatch between the two ends), or that end is down',
    );
  });

  it('a router drops with PKT_TOO_BIG; the ICMP error about it is dropped by a firewall and never reaches its sender', () => {
    const big = tcp4({ src: '10.1.0.2', dst: '10.2.0.2', srcPort: 40000, dstPort: 80, payload: 1440, ident: 0x501 });
    const error = fragNeeded('10.1.0.1', big, 1400);
    const { rows, summary, session } = run([
      ev('received', 0, 'e1', big, { netns: NS.r1, device: 'eth0', mtu: 1500, match: 'matched' }),
      ev('icmp-send', 0.01, 'e1', big, { netns: NS.r1, device: 'eth0', mtu: 1500, icmpSend: { type: 3, code: 4 } }),
      ev('queued', 0.011, 'e2', error, { netns: NS.r1, device: 'eth0', mtu: 1500, match: 'icmp-error' }),
      ev('dropped', 0.012, 'e1', big, { netns: NS.r1, device: 'eth0', mtu: 1500, reason: 'PKT_TOO_BIG', location: 'ip_forward' }),
      ev('received', 0.02, 'e2', error, { netns: NS.fw, device: 'eth1', mtu: 1500 }),
      ev('dropped', 0.021, 'e2', error, { netns: NS.fw, device: 'eth1', mtu: 1500, reason: 'NETFILTER_DROP', location: 'nft_do_chain' }),
    ]);
    const routerMeaning = 'dropped in ip_forward (namespace lab/r1, device eth0): larger than the route MTU (1480 bytes > 1400) with DF set; an ICMP fragmentation-needed (mtu 1400) was sent to 10.1.0.2';
    const fwMeaning = 'the ICMP error about packet #1 never reached its sender: netfilter drop in namespace lab/fw: a firewall rule (iptables/nftables) dropped it (device eth1)';
    assert.equal(rows[2]!.note, 'ICMP error about packet #1 mtu 1400');
    assert.equal(rows[3]!.note, routerMeaning);
    assert.equal(rows[5]!.note, fwMeaning);
    assert.deepEqual(session.allPackets()[0]!.icmpSent, { type: 3, code: 4, mtu: 1400, to: '10.1.0.2', packet: 2 });
    assert.deepEqual(summary, {
      packets: 2,
      events: 6,
      deaths: [
        { namespace: 'lab/r1', device: 'eth0', function: 'ip_forward', reason: 'PKT_TOO_BIG', example: 1, meaning: routerMeaning, count: 1, icmpErrors: 0 },
        { namespace: 'lab/fw', device: 'eth1', function: 'nft_do_chain', reason: 'NETFILTER_DROP', example: 2, meaning: fwMeaning, count: 1, icmpErrors: 1 },
      ],
      ...EMPTY_FATES,
      icmpErrorsSent: 1,
    });
  });

  it('an ICMP error seen only later, after a lost icmp-send, is linked by the packet it quotes (ident included)', () => {
    const big = tcp4({ src: '10.1.0.2', dst: '10.2.0.2', srcPort: 40000, dstPort: 80, payload: 1440, ident: 0x502 });
    const other = tcp4({ src: '10.1.0.2', dst: '10.2.0.2', srcPort: 40000, dstPort: 80, payload: 1440, ident: 0x503 });
    const { rows } = run([
      ev('received', 0, 'f1', big, { netns: NS.r1, device: 'eth0', mtu: 1500, match: 'matched' }),
      ev('received', 0.001, 'f3', other, { netns: NS.r1, device: 'eth0', mtu: 1500, match: 'matched' }),
      ev('received', 0.02, 'f2', fragNeeded('10.1.0.1', big, 1400), { netns: NS.client, device: 'eth0', mtu: 1500, match: 'icmp-error' }),
      ev('received', 0.03, 'f4', fragNeeded('10.1.0.1', udp4({ src: '10.1.0.2', dst: '10.7.0.7', srcPort: 1, dstPort: 2 }), 1400), { netns: NS.client, device: 'eth0', mtu: 1500, match: 'icmp-error' }),
    ]);
    assert.equal(rows[2]!.note, 'ICMP error about packet #1 mtu 1400', 'the packet with the quoted ident, not the newer one');
    assert.equal(rows[3]!.note, undefined, 'an error about no traced packet is linked to none');
  });

  it('a GSO packet freed in __ip_finish_output is handed on and followed no further', () => {
    const { rows, summary } = run([
      ev('queued', 0, 'g1', syn, { netns: NS.client, device: 'eth0', mtu: 1500, match: 'matched' }),
      ev('freed', 0.01, 'g1', undefined, { netns: NS.client, device: 'eth0', location: '__ip_finish_output' }),
    ]);
    assert.equal(rows[1]!.note, 'freed in __ip_finish_output after the kernel made new packets from it (GSO segmentation, fragmentation or a copy): followed no further');
    assert.deepEqual(summary, { packets: 1, events: 2, deaths: [], ...EMPTY_FATES, handedOn: [{ function: '__ip_finish_output', count: 1 }] });
  });

  it('delivered packets, a packet freed elsewhere, a transmit completion in the namespace of the packet\'s last event', () => {
    const { rows, summary } = run([
      ev('queued', 0, 'h1', syn, { netns: NS.client, device: 'eth0', mtu: 1500, match: 'matched' }),
      ev('transmitted', 0.001, 'h1', undefined, { device: 'eth0', rc: 0 }),
      ev('received', 0.01, 'h1', syn, { netns: NS.server, device: 'eth0', mtu: 1500 }),
      ev('freed', 0.02, 'h1', undefined, { netns: NS.server, device: 'eth0', location: 'tcp_v4_rcv' }),
      ev('received', 0.03, 'h2', ping4('10.1.0.2', '10.2.0.2'), { netns: NS.server, device: 'eth0', mtu: 1500, match: 'matched' }),
      ev('freed', 0.04, 'h2', undefined, { netns: NS.server, device: 'eth0', location: 'icmp_rcv' }),
      ev('received', 0.05, 'h3', syn, { netns: NS.server, device: 'eth0', mtu: 1500, match: 'matched' }),
      ev('freed', 0.06, 'h3', undefined, { netns: NS.server, device: 'eth0', location: 'kfree_skb_list_reason' }),
    ]);
    assert.equal(rows[1]!.namespace, 'encap/client');
    assert.deepEqual(summary, { packets: 3, events: 8, deaths: [], ...EMPTY_FATES, delivered: 2, freedElsewhere: [{ function: 'kfree_skb_list_reason', count: 1 }] });
  });

  it('benign drops (ping_rcv NO_SOCKET, SOCKET_CLOSE) are listed after the real ones, never first', () => {
    const reply = ping4('10.2.0.2', '10.1.0.2', true);
    const { summary, rows } = run([
      ev('received', 0, 'i1', reply, { netns: NS.client, device: 'eth0', mtu: 1500, match: 'matched' }),
      ev('dropped', 0.001, 'i1', reply, { netns: NS.client, device: 'eth0', mtu: 1500, reason: 'NO_SOCKET', location: 'ping_rcv' }),
      ev('received', 0.002, 'i2', reply, { netns: NS.client, device: 'eth0', mtu: 1500, match: 'matched' }),
      ev('dropped', 0.003, 'i2', reply, { netns: NS.client, device: 'eth0', mtu: 1500, reason: 'NO_SOCKET', location: 'ping_rcv' }),
      ev('received', 0.004, 'i3', syn, { netns: NS.client, device: 'eth0', mtu: 1500, match: 'matched' }),
      ev('dropped', 0.005, 'i3', syn, { netns: NS.client, reason: 'SOCKET_CLOSE', location: 'skb_queue_purge_reason' }),
      ev('received', 0.006, 'i4', syn, { netns: NS.r1, device: 'eth0', mtu: 1500, match: 'matched' }),
      ev('dropped', 0.007, 'i4', syn, { netns: NS.r1, device: 'eth0', mtu: 1500, reason: 'NETFILTER_DROP', location: 'nft_do_chain' }),
    ]);
    assert.equal(rows[1]!.note, 'dropped in ping_rcv (namespace encap/client, device eth0): no ICMP socket for this echo reply (normal when the pinger uses a raw socket, as iputils ping does: it got its own copy)');
    assert.equal(rows[5]!.note, 'dropped in skb_queue_purge_reason (namespace encap/client): SOCKET_CLOSE - the queue of a socket being closed, not a loss on the path');
    assert.deepEqual(
      summary.deaths.map((d) => [d.function, d.reason, d.count, d.example]),
      [['nft_do_chain', 'NETFILTER_DROP', 1, 4], ['ping_rcv', 'NO_SOCKET', 2, 1], ['skb_queue_purge_reason', 'SOCKET_CLOSE', 1, 3]],
    );
  });
});

describe('trace session: following by skb address', () => {
  const syn = tcp4({ src: '10.1.0.2', dst: '10.2.0.2', srcPort: 40000, dstPort: 80 });
  const other = udp4({ src: '10.1.0.5', dst: '10.2.0.5', srcPort: 1, dstPort: 2 });

  it('a packet not seen for the follow timeout: its skb address matching again is a new packet, the old one tracking lost', () => {
    const { rows, summary } = run([
      ev('queued', 0, 'j1', syn, { netns: NS.client, device: 'eth0', match: 'matched' }),
      ev('queued', 2500, 'j1', syn, { netns: NS.client, device: 'eth0', match: 'matched' }),
    ]);
    assert.deepEqual(rows.map((r) => r.packet), [1, 2]);
    assert.deepEqual(summary, { packets: 2, events: 2, deaths: [], ...EMPTY_FATES, unknownFate: 1, trackingLost: 1 });
  });

  it('a long trace holds only packets in flight: those not seen for the follow timeout are let go, counted as tracking lost', () => {
    const session = new TraceSession(CONTEXT, 2_000_000_000n, 100);
    const events: TraceEvent[] = [];
    for (let i = 0; i < 5000; i++) events.push(ev('queued', i, `s${i}`, syn, { netns: NS.client, device: 'eth0', match: 'matched' }));
    const { summary } = run(events, session);
    // At event 4096 the packets queued before t = 4095 - 2000 ms were let go; the rest are still in flight.
    assert.equal(session.allPackets().length, 5000 - 2095);
    assert.equal(summary.packets, 5000);
    assert.equal(summary.unknownFate + summary.trackingLost, 5000, 'each packet in one bucket');
    assert.equal(summary.trackingLost, 2095 + (4999 - 2000 - 2095));
  });

  it('a followed address that comes to hold an unrelated packet: the stranger is not shown, the old packet\'s track is lost there', () => {
    const mine = udp4({ src: '10.1.0.1', dst: '10.2.0.2', srcPort: 4000, dstPort: 7001 });
    const stranger = tcp4({ src: '10.7.0.7', dst: '10.8.0.8', srcPort: 5555, dstPort: 443 });
    const { rows, summary } = run([
      ev('queued', 0, 'r1', mine, { netns: NS.client, device: 'eth0', match: 'matched' }),
      ev('received', 0.1, 'r1', mine, { netns: NS.server, device: 'eth0' }),
      // Freed where no tracepoint fires; the address is reused at once by another packet, still "followed" in the kernel.
      ev('queued', 0.2, 'r1', stranger, { netns: NS.other, device: 'eth9' }),
      ev('transmitted', 0.21, 'r1', undefined, { device: 'eth9', rc: 0 }),
      ev('dropped', 0.3, 'r1', stranger, { netns: NS.other, device: 'eth9', reason: 'NETFILTER_DROP', location: 'nft_do_chain+0x1' }),
    ]);
    assert.deepEqual(rows.map((r) => `${r.packet} ${r.event.kind}`), ['1 queued', '1 received']);
    assert.deepEqual(summary.deaths, [], 'the stranger\'s drop is not one of ours');
    assert.equal(summary.trackingLost, 1);
    assert.equal(summary.strangerEvents, 3);
  });

  it('a stranger at a followed address that matches the filter itself is a new packet, shown', () => {
    const mine = udp4({ src: '10.1.0.1', dst: '10.2.0.2', srcPort: 4000, dstPort: 7001 });
    const another = udp4({ src: '10.1.0.9', dst: '10.2.0.9', srcPort: 4001, dstPort: 7001 });
    const { rows } = run([
      ev('queued', 0, 'r2', mine, { netns: NS.client, device: 'eth0', match: 'matched' }),
      ev('queued', 0.2, 'r2', another, { netns: NS.client, device: 'eth0', matchesHere: true }),
    ]);
    assert.deepEqual(rows.map((r) => r.packet), [1, 2]);
  });

  it('a NAT rewrite of one side is the same packet (the "no" case of a stranger)', () => {
    const before = udp4({ src: '10.1.0.1', dst: '10.2.0.2', srcPort: 4000, dstPort: 7001 });
    const snat = udp4({ src: '10.5.0.1', dst: '10.2.0.2', srcPort: 61000, dstPort: 7001 });
    const dnat = udp4({ src: '10.5.0.1', dst: '10.6.0.6', srcPort: 61000, dstPort: 80 });
    const { rows, summary } = run([
      ev('queued', 0, 'r3', before, { netns: NS.client, device: 'eth0', match: 'matched' }),
      ev('queued', 0.1, 'r3', snat, { netns: NS.r1, device: 'eth2' }),
      ev('received', 0.2, 'r3', dnat, { netns: NS.server, device: 'eth0' }),
    ]);
    assert.deepEqual(rows.map((r) => r.packet), [1, 1, 1]);
    assert.match(rows[1]?.note ?? '', /^rewritten \(NAT or a new header\): now 10\.5\.0\.1:61000 > 10\.2\.0\.2:7001 udp/);
    assert.equal(summary.strangerEvents, 0);
  });

  it('within the timeout a followed event stays the same packet (the "no" case)', () => {
    const { rows, summary } = run([
      ev('queued', 0, 'j1', syn, { netns: NS.client, device: 'eth0', match: 'matched' }),
      ev('received', 1999, 'j1', syn, { netns: NS.server, device: 'eth0' }),
    ]);
    assert.deepEqual(rows.map((r) => r.packet), [1, 1]);
    assert.equal(summary.trackingLost, 0);
  });

  it('a reused skb address after the packet was freed is a new packet; a followed event with no packet before says events were lost', () => {
    const { rows, summary } = run([
      ev('received', 0, 'k1', syn, { netns: NS.server, device: 'eth0', match: 'matched' }),
      ev('freed', 1, 'k1', undefined, { netns: NS.server, location: 'tcp_v4_rcv' }),
      ev('queued', 2, 'k1', other, { netns: NS.server, device: 'eth0', match: 'matched' }),
      ev('received', 3, 'k9', other, { netns: NS.server, device: 'eth0', match: 'followed' }),
    ]);
    assert.deepEqual(rows.map((r) => r.packet), [1, 1, 2, 3]);
    assert.equal(rows[2]!.note, undefined, 'not "rewritten": another packet');
    assert.equal(rows[3]!.note, 'followed from an earlier event that was not received (lost events)');
    assert.equal(summary.trackingLost, 0, 'the first packet was delivered, not lost');
  });

  it('a still-tracked skb address matching again within the timeout is a new packet (the kernel freed the old one unseen)', () => {
    const { rows, summary } = run([
      ev('queued', 0, 'l1', syn, { netns: NS.client, device: 'eth0', match: 'matched' }),
      ev('queued', 5, 'l1', other, { netns: NS.client, device: 'eth0', match: 'matched' }),
    ]);
    assert.deepEqual(rows.map((r) => r.packet), [1, 2]);
    assert.equal(summary.packets, 2);
  });

  it('a NAT rewrite and a decapsulation are noted', () => {
    const inner = tcp4({ src: '10.9.0.1', dst: '10.9.0.2', srcPort: 40000, dstPort: 80 });
    const outer = vxlan4('10.1.0.2', '10.3.0.3', inner);
    const natted = tcp4({ src: '10.9.0.1', dst: '10.9.0.99', srcPort: 40000, dstPort: 8080 });
    const { rows } = run([
      ev('received', 0, 'm1', outer, { netns: NS.server, device: 'eth0', match: 'matched' }),
      ev('received', 1, 'm1', inner, { netns: NS.server, device: 'vxlan0' }),
      ev('queued', 2, 'm1', natted, { netns: NS.server, device: 'eth1' }),
    ]);
    assert.equal(rows[1]!.note, 'decapsulated: now 10.9.0.1:40000 > 10.9.0.2:80 tcp');
    assert.equal(rows[2]!.note, 'rewritten (NAT or a new header): now 10.9.0.1:40000 > 10.9.0.99:8080 tcp');
  });

  it('groups and counts: drops of the same place and reason are one group, counted; another device is another group', () => {
    const events: TraceEvent[] = [];
    for (let i = 0; i < 5; i++) {
      events.push(ev('received', i, `n${i}`, syn, { netns: NS.r1, device: i < 3 ? 'eth0' : 'eth1', match: 'matched' }));
      events.push(ev('dropped', i + 0.5, `n${i}`, syn, { netns: NS.r1, device: i < 3 ? 'eth0' : 'eth1', reason: 'NETFILTER_DROP', location: 'nft_do_chain' }));
    }
    const { summary } = run(events);
    assert.deepEqual(summary.deaths.map((d) => [d.device, d.count, d.example]), [['eth0', 3, 1], ['eth1', 2, 4]]);
    assert.equal(summary.packets, 5);
    assert.equal(summary.events, 10);
  });

  it('the packet list is bounded: the oldest finished packets are forgotten first, the count of packets is not', () => {
    const session = new TraceSession(CONTEXT, 2_000_000_000n, 3);
    const events: TraceEvent[] = [ev('queued', 0, 'live', syn, { netns: NS.client, device: 'eth0', match: 'matched' })];
    for (let i = 0; i < 5; i++) {
      events.push(ev('received', 1 + i, `o${i}`, syn, { netns: NS.server, device: 'eth0', match: 'matched' }));
      events.push(ev('freed', 1.5 + i, `o${i}`, undefined, { netns: NS.server, location: 'tcp_v4_rcv' }));
    }
    const { summary } = run(events, session);
    assert.deepEqual(session.allPackets().map((p) => p.id), [1, 5, 6]);
    assert.equal(summary.packets, 6);
  });
});
