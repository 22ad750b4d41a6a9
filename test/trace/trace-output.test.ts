/**
 * The shapes `mtuscope trace` prints: text rows in fixed columns with the note on a second line, the summary text,
 * and the JSON objects (schema version 1) with exactly their documented keys. Users parse these: any change here
 * is a change of the output format.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventText, icmpText, rowJson, rowText, summaryJson, summaryText, TEXT_HEADER, TRACE_SCHEMA_VERSION } from '../../src/trace/trace-output.js';
import { type TimelineRow, TraceSession, type TraceSummary } from '../../src/trace/trace-session.js';
import { CONTEXT, ev, NS, REASONS } from './support/session-events.js';
import { fragNeeded, tcp4, vxlan4 } from './support/trace-packets.js';

const reasonName = (n: number): string => REASONS[n] ?? String(n);

function encapRows(): { rows: TimelineRow[]; summary: TraceSummary } {
  const session = new TraceSession(CONTEXT);
  const inner = tcp4({ src: '10.9.0.1', dst: '10.9.0.2', srcPort: 40000, dstPort: 80, payload: 1440 });
  const outer = vxlan4('10.1.0.2', '10.3.0.3', inner, 50000, true);
  const rows = [
    ev('queued', 0, 'ffff8880a1', inner, { netns: NS.client, device: 'eth0', mtu: 1500, match: 'matched' }),
    ev('queued', 0.02, 'ffff8880a1', outer, { netns: NS.lb, device: 'eth1', mtu: 1500 }),
    ev('icmp-send', 0.03, 'ffff8880a1', outer, { netns: NS.lb, device: 'eth1', mtu: 1500, icmpSend: { type: 3, code: 4 } }),
    ev('queued', 0.031, 'ffff8880b2', fragNeeded('10.1.0.2', outer, 1500), { netns: NS.lb, device: 'lo', mtu: 65536, match: 'icmp-error' }),
    ev('dropped', 0.032, 'ffff8880a1', outer, { netns: NS.lb, device: 'eth1', mtu: 1500, reason: 'PKT_TOO_BIG', location: 'ip_fragment+0x1a' }),
    ev('transmitted', 0.04, 'ffff8880b2', undefined, { device: 'lo', rc: -105 }),
  ]
    .map((e) => session.observe(e))
    .filter((r): r is TimelineRow => r !== undefined);
  return { rows, summary: session.summary() };
}

describe('trace output: text', () => {
  it('the header and one row per event in fixed columns; a note on an indented second line', () => {
    assert.equal(TEXT_HEADER, 'TIME        CPU PACKET  NETNS                  DEVICE       LEN  EVENT  TUPLE');
    const { rows } = encapRows();
    const text = rows.map((r, i) => rowText(r, i * 0.5, reasonName));
    assert.deepEqual(text, [
      '0.000000    0   #1      encap/client           eth0        1480  queued  10.9.0.1:40000 > 10.9.0.2:80 tcp',
      '0.500000    0   #1      encap/lb               eth1        1530  queued  10.1.0.2:50000 > 10.3.0.3:4789 udp [vxlan: 10.9.0.1:40000 > 10.9.0.2:80 tcp]\n' +
        '            -> encapsulated (vxlan): now 10.1.0.2:50000 > 10.3.0.3:4789 udp, 1530 bytes',
      '1.000000    0   #1      encap/lb               eth1        1530  icmp-send icmp fragmentation needed (3/4)  10.1.0.2:50000 > 10.3.0.3:4789 udp [vxlan: 10.9.0.1:40000 > 10.9.0.2:80 tcp]',
      '1.500000    0   #2      encap/lb               lo           576  queued  10.1.0.2 > 10.1.0.2 icmp icmp fragmentation needed (3/4) mtu 1500 about [10.1.0.2:50000 > 10.3.0.3:4789 udp]\n' +
        '            -> ICMP error about packet #1 mtu 1500',
      '2.000000    0   #1      encap/lb               eth1        1530  dropped PKT_TOO_BIG in ip_fragment+0x1a  10.1.0.2:50000 > 10.3.0.3:4789 udp [vxlan: 10.9.0.1:40000 > 10.9.0.2:80 tcp]\n' +
        "            -> dropped in ip_fragment (namespace encap/lb, device eth1): larger than the route MTU (1530 bytes > 1500) with DF set; an ICMP fragmentation-needed (mtu 1500) was sent to 10.1.0.2; it was a packet of 1480 bytes inside vxlan: the encapsulation overhead made it too large",
      '2.500000    0   #2      encap/lb               lo             0  transmit failed (rc -105)',
    ]);
  });

  it('event and ICMP words', () => {
    assert.equal(icmpText(4, 3, 4, 1400), 'icmp fragmentation needed (3/4) mtu 1400');
    assert.equal(icmpText(4, 3, 1), 'icmp unreachable (3/1)');
    assert.equal(icmpText(6, 2, 0, 1280), 'icmp6 packet too big (2/0) mtu 1280');
    assert.equal(icmpText(6, 3, 4), 'icmp6 time exceeded (3/4)', 'type 3 code 4 is no fragmentation-needed in ICMPv6');
    assert.equal(icmpText(4, 200, 0), 'icmp type 200 (200/0)');
    assert.equal(eventText(ev('freed', 0, 'x', undefined, { location: 'tcp_v4_rcv' }), reasonName), 'freed in tcp_v4_rcv');
    assert.equal(eventText(ev('transmitted', 0, 'x', undefined, { rc: 0 }), reasonName), 'transmitted');
    assert.equal(eventText(ev('received', 0, 'x', undefined), reasonName), 'received');
  });

  it('the summary: totals, where packets died with the meaning, fates, ICMP errors, and a warning for lost events', () => {
    const { summary } = encapRows();
    assert.equal(
      summaryText(summary, { seconds: 3.04, lost: 2, endedBy: 'Ctrl-C' }),
      [
        'summary: 2 packets traced (6 events, 2 lost) in 3.0 s, ended by Ctrl-C',
        'where packets died:',
        '       1  encap/lb eth1  ip_fragment  PKT_TOO_BIG  (first: packet #1)',
        "          dropped in ip_fragment (namespace encap/lb, device eth1): larger than the route MTU (1530 bytes > 1500) with DF set; an ICMP fragmentation-needed (mtu 1500) was sent to 10.1.0.2; it was a packet of 1480 bytes inside vxlan: the encapsulation overhead made it too large",
        'fates: delivered 0; fate unknown 1 (still in flight or queued at the end, or freed where no tracepoint fires)',
        'ICMP errors sent by the kernel about traced packets: 1',
        'warning: 2 events lost (the perf buffer overflowed): timelines may have gaps; narrow the filter',
      ].join('\n'),
    );
  });

  it('the summary of nothing dropped, lost events unknown, every fate kind (the "no" cases)', () => {
    const s: TraceSummary = {
      packets: 1, events: 1, deaths: [], delivered: 3, handedOn: [{ function: '__ip_finish_output', count: 2 }], freedElsewhere: [{ function: 'kfree_skb_list_reason', count: 1 }],
      unknownFate: 0, trackingLost: 4, icmpErrorsSent: 0, strangerEvents: 0,
    };
    assert.equal(
      summaryText(s, { seconds: 10, lost: undefined, endedBy: '--duration' }),
      [
        'summary: 1 packet traced (1 event, lost events unknown (the tracer did not end normally)) in 10.0 s, ended by --duration',
        'no traced packet was dropped',
        'fates: delivered 3; followed no further 2 in __ip_finish_output (the kernel made new packets from them: GSO segmentation, fragmentation or a copy); freed 1 in kfree_skb_list_reason; tracking lost 4 (not seen for the follow timeout)',
      ].join('\n'),
    );
    assert.doesNotMatch(summaryText(s, { seconds: 1, lost: 0, endedBy: 'x' }), /warning/);
  });
});

const ROW_KEYS = [
  'type', 'schema', 'time', 'elapsed', 'monotonicNs', 'cpu', 'packet', 'skb', 'netns', 'device', 'ifindex', 'deviceMtu', 'event', 'match', 'length',
  'skbLength', 'mark', 'tuple', 'tunnel', 'inner', 'icmp', 'reason', 'reasonCode', 'location', 'icmpSend', 'rc', 'note',
];
const SUMMARY_KEYS = [
  'type', 'schema', 'packets', 'events', 'deaths', 'delivered', 'handedOn', 'freedElsewhere', 'unknownFate', 'trackingLost', 'icmpErrorsSent', 'strangerEvents', 'seconds', 'lostEvents', 'endedBy',
];

describe('trace output: JSON (schema version 1)', () => {
  it('an event object has exactly the schema\'s keys, in order, and survives JSON.stringify', () => {
    const { rows } = encapRows();
    const drop = rowJson(rows[4]!, 2, Date.UTC(2025, 0, 2, 3, 4, 5, 678), reasonName, NS.lb);
    assert.deepEqual(Object.keys(drop), ROW_KEYS);
    assert.equal(TRACE_SCHEMA_VERSION, 1);
    const round = JSON.parse(JSON.stringify(drop)) as Record<string, unknown>;
    assert.deepEqual(
      { ...round, tuple: undefined, inner: undefined },
      {
        type: 'event', schema: 1, time: '2025-01-02T03:04:05.678Z', elapsed: 2, monotonicNs: '32000', cpu: 0, packet: 1, skb: 'ffff8880a1',
        netns: { inode: NS.lb, name: 'encap/lb' }, device: 'eth1', ifindex: 3, deviceMtu: 1500, event: 'dropped', match: 'followed', length: 1530,
        skbLength: 1530, mark: 0, tuple: undefined, tunnel: 'vxlan', inner: undefined, icmp: null, reason: 'PKT_TOO_BIG', reasonCode: 46,
        location: 'ip_fragment+0x1a', icmpSend: null, rc: null, note: rows[4]!.note,
      },
    );
    assert.deepEqual(round.tuple, { family: 4, src: '10.1.0.2', dst: '10.3.0.3', protocol: 17, srcPort: 50000, dstPort: 4789, length: 1530, ident: 0x5151, dontFragment: true });
    assert.deepEqual(round.inner, { family: 4, src: '10.9.0.1', dst: '10.9.0.2', protocol: 6, srcPort: 40000, dstPort: 80, length: 1480, ident: 0x1234, dontFragment: true });
  });

  it('an event without a packet or device has nulls, never missing keys', () => {
    const { rows } = encapRows();
    const t = rowJson(rows[5]!, 2.5, 0, reasonName, 0);
    assert.deepEqual(rowJson({ ...rows[5]!, event: { ...rows[5]!.event, device: '', ifindex: 0 } }, 2.5, 0, reasonName, 0).device, null);
    assert.equal(rowJson({ ...rows[5]!, event: { ...rows[5]!.event, device: '', ifindex: 0 } }, 2.5, 0, reasonName, 0).ifindex, null);
    assert.deepEqual(Object.keys(t), ROW_KEYS);
    assert.deepEqual(
      [t.tuple, t.length, t.tunnel, t.inner, t.icmp, t.deviceMtu, t.reason, t.reasonCode, t.location, t.icmpSend, t.rc, t.note],
      [null, null, null, null, null, null, null, null, null, null, -105, null],
    );
  });

  it('the summary object has exactly its keys; lost events unknown is null', () => {
    const { summary } = encapRows();
    const j = summaryJson(summary, { seconds: 3.14159, lost: undefined, endedBy: 'Ctrl-C' });
    assert.deepEqual(Object.keys(j), SUMMARY_KEYS);
    assert.deepEqual([j.type, j.schema, j.seconds, j.lostEvents, j.endedBy], ['summary', 1, 3.142, null, 'Ctrl-C']);
    assert.doesNotThrow(() => JSON.stringify(j));
  });
});
