/**
 * The timeline chart and the timeline's text lines, with exact points computed by hand for a known timeline: the
 * plot is 648 × 190 units from (56, 18); this timeline spans 0 to 5 ms (ticks of 1 ms) and 0 to 1500 bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NO_EVENTS_TEXT, NO_TIMELINE_TEXT, niceStep, resultTimelineChart, timelineChart } from '../../src/checker/timeline-chart.js';
import { timelineTextLines } from '../../src/checker/timeline-text.js';
import type { PacketTimeline } from '../../src/engine/timeline-event.js';
import { sampleResult, sampleTimeline } from './results-fixtures.js';

interface DrawnEvent {
  readonly action: string;
  readonly x: number;
  readonly y: number;
  readonly atMs: number;
  readonly ipLength: number;
}

/** The event marks of a chart, in order, with their points. */
function drawnEvents(svg: string): DrawnEvent[] {
  const marks = [...svg.matchAll(/<g class="event event-([a-z-]+)" transform="translate\(([\d.]+),([\d.]+)\)" data-at-ms="([\d.]+)" data-ip-length="(\d+)"/g)];
  return marks.map((m) => ({ action: m[1]!, x: Number(m[2]), y: Number(m[3]), atMs: Number(m[4]), ipLength: Number(m[5]) }));
}

function attribute(svg: string, element: string, name: string): string | undefined {
  const tag = new RegExp(`<${element}[^>]*>`).exec(svg)?.[0];
  return tag === undefined ? undefined : new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
}

describe('timelineChart', () => {
  it('puts every packet at (time, IP length): x = 56 + t/5 × 648, y = 208 − length/1500 × 190', () => {
    const svg = timelineChart({ timeline: sampleTimeline(), testMtu: 905, testMtuLabel: 'test MTU' });
    assert.deepEqual(drawnEvents(svg), [
      { action: 'accepted', x: 250.4, y: 180, atMs: 1.5, ipLength: 221 },
      { action: 'dropped-ptb-sent', x: 315.2, y: 18, atMs: 2, ipLength: 1500 },
      { action: 'dropped-ptb-sent', x: 347.6, y: 18, atMs: 2.25, ipLength: 1500 },
      { action: 'accepted', x: 574.4, y: 93.4, atMs: 4, ipLength: 905 },
      { action: 'accepted', x: 639.2, y: 93.4, atMs: 4.5, ipLength: 905 },
    ]);
    assert.equal(attribute(svg, 'line class="test-mtu"', 'y1'), '93.4', 'the test MTU line is at 905 bytes');
    assert.equal(attribute(svg, 'line class="test-mtu"', 'y2'), '93.4');
    assert.equal(attribute(svg, 'line class="reaction"', 'x1'), '574.4', 'the reaction at 4 ms');
    assert.match(svg, />test MTU 905</);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" class="timeline-chart" viewBox="0 0 720 300"/);
    assert.match(svg, /<\/svg>$/);
    // Ticks: 0 to 5 ms, 0 to 1500 bytes.
    assert.deepEqual([...svg.matchAll(/text-anchor="middle" fill="#57606a">([\d.]+)</g)].map((m) => m[1]), ['0', '1', '2', '3', '4', '5']);
    assert.deepEqual([...svg.matchAll(/text-anchor="end" fill="#57606a">(\d+)</g)].map((m) => m[1]), ['0', '500', '1000', '1500']);
    // Marks by what the server did, with retransmissions ringed, and a legend of what is present only.
    assert.equal(svg.match(/<circle r="7"/g)?.length, 2 + 1, 'two retransmissions and the legend entry');
    assert.match(svg, /dropped, Packet Too Big sent/);
    assert.doesNotMatch(svg, /fragments held back|sent as fragments/);
    assert.match(svg, /<title>2 ms: client → server, 1500 bytes, DF; dropped, Packet Too Big sent; MTU 905; data 181-1641<\/title>/);
  });

  it('draws server packets, fragments and ACKs of /frag with its largest fragment as the line', () => {
    const timeline: PacketTimeline = {
      events: [
        { atMs: 0, direction: 'in', ipLength: 110, df: true, action: 'accepted', retransmission: false, offset: 0, length: 70 },
        { atMs: 10, direction: 'out', ipLength: 1500, df: true, action: 'fragmented', retransmission: false, offset: 0, length: 1460, fragments: 3 },
        { atMs: 30, direction: 'in', ipLength: 52, df: true, action: 'ack', retransmission: false, offset: 1460, length: 0 },
        { atMs: 40, direction: 'out', ipLength: 1500, df: true, action: 'accepted', retransmission: false, offset: 1460, length: 1460 },
      ],
      omitted: 0,
      reactionAtMs: 30,
    };
    const svg = resultTimelineChart({ test: 'frag', evidence: sampleResult({ evidence: { testMtu: 576 } }).evidence, timeline });
    // 0 to 40 ms in steps of 10; 576 bytes at 208 − 576/1500 × 190 = 135.04.
    assert.deepEqual(
      drawnEvents(svg).map((e) => [e.action, e.x, e.y]),
      [
        ['accepted', 56, 194.1],
        ['fragmented', 218, 18],
        ['ack', 542, 201.4],
        ['accepted', 704, 18],
      ],
    );
    assert.equal(attribute(svg, 'line class="test-mtu"', 'y1'), '135');
    assert.match(svg, />largest fragment 576</);
    assert.match(svg, /sent as 3 fragments/);
    assert.match(svg, /data-direction="out"><rect/, 'a server packet passed is a square');
  });

  it('says that nothing was recorded instead of drawing an empty plot, and says when a result has no timeline at all', () => {
    const empty = timelineChart({ timeline: { events: [], omitted: 0, reactionAtMs: null }, testMtu: 905, testMtuLabel: 'test MTU' });
    assert.match(empty, /class="timeline-chart timeline-empty"/);
    assert.ok(empty.includes(`>${NO_EVENTS_TEXT}</text>`));
    assert.deepEqual(drawnEvents(empty), []);
    assert.doesNotMatch(empty, /test-mtu/);
    const none = resultTimelineChart({ test: 'icmp', evidence: sampleResult().evidence, timeline: undefined });
    assert.ok(none.includes(`>${NO_TIMELINE_TEXT}</text>`));
    assert.notEqual(NO_EVENTS_TEXT, NO_TIMELINE_TEXT);
  });

  it('says how many packets were not recorded', () => {
    const svg = timelineChart({ timeline: { ...sampleTimeline(), omitted: 42 }, testMtu: 905, testMtuLabel: 'test MTU' });
    assert.match(svg, />first 5 packets shown; 42 more not recorded</);
    assert.doesNotMatch(timelineChart({ timeline: sampleTimeline(), testMtu: 905, testMtuLabel: 'test MTU' }), /not recorded/);
  });

  it('takes the timeline as untrusted input: unknown actions and bad numbers are skipped, text is escaped', () => {
    const hostile = {
      events: [
        { atMs: 1, direction: 'in', ipLength: 1500, df: true, action: '"><script>alert(1)</script>', retransmission: false, offset: 0, length: 1 },
        { atMs: '2"><script>', direction: 'in', ipLength: 1500, df: true, action: 'accepted', retransmission: false, offset: 0, length: 1 },
        { atMs: Number.NaN, direction: 'in', ipLength: 1500, df: true, action: 'accepted', retransmission: false, offset: 0, length: 1 },
        { atMs: 3, direction: 'sideways', ipLength: 1500, df: true, action: 'accepted', retransmission: false, offset: 0, length: 1 },
        { atMs: 4, direction: 'in', ipLength: -5, df: true, action: 'accepted', retransmission: false, offset: 0, length: 1 },
        null,
      ],
      omitted: '<b>',
      reactionAtMs: '<i>',
    } as unknown as PacketTimeline;
    const svg = timelineChart({ timeline: hostile, testMtu: 905, testMtuLabel: '<script>x</script>' });
    assert.ok(svg.includes(NO_EVENTS_TEXT), 'nothing drawable is left');
    assert.doesNotMatch(svg, /<script|<b>|<i>/);

    const good = { atMs: 5, direction: 'in', ipLength: 905, df: true, action: 'accepted', retransmission: false, offset: 0, length: 1 };
    const oneGood = { ...hostile, events: [...hostile.events, good] } as unknown as PacketTimeline;
    const drawn = timelineChart({ timeline: oneGood, testMtu: 905, testMtuLabel: '<script>x</script>' });
    assert.equal(drawnEvents(drawn).length, 1);
    assert.doesNotMatch(drawn, /<script|<b>|<i>|class="reaction"|not recorded/);
    assert.match(drawn, /&#60;script&#62;x&#60;\/script&#62; 905/);
  });

  it('cuts axes into steps of 1, 2 or 5 times a power of ten', () => {
    assert.deepEqual(
      [niceStep(4.5, 6), niceStep(1500, 5), niceStep(10_400, 6), niceStep(37, 6), niceStep(0, 6)],
      [1, 500, 2000, 10, 1],
    );
  });
});

describe('timelineTextLines (?verbose=1)', () => {
  it('gives one line per packet with fixed columns', () => {
    assert.deepEqual(timelineTextLines(sampleTimeline()), [
      'Packets as the server saw them (times in ms since the connection opened; the reaction at 4.00 ms):',
      '        time  direction       bytes  DF  what the server did',
      '        1.50  client>server     221  DF  passed; data 0-181',
      '        2.00  client>server    1500  DF  dropped, Packet Too Big sent; MTU 905; data 181-1641',
      '        2.25  client>server    1500  DF  dropped, Packet Too Big sent; MTU 905; data 1641-3101',
      '        4.00  client>server     905  DF  passed; data 181-1046; retransmission',
      '        4.50  client>server     905  DF  passed; data 1046-1911; retransmission',
    ]);
  });

  it('names fragments, ACKs, packets without DF and what was not recorded', () => {
    const lines = timelineTextLines({
      events: [
        { atMs: 10, direction: 'out', ipLength: 1500, df: false, action: 'fragmented', retransmission: false, offset: 0, length: 1460, fragments: 3 },
        { atMs: 30.5, direction: 'in', ipLength: 52, df: true, action: 'ack', retransmission: false, offset: 1460, length: 0 },
        { atMs: 31, direction: 'in', ipLength: 576, df: false, action: 'ptb-received', retransmission: false, offset: 0, length: 0, mtu: 1400 },
      ],
      omitted: 7,
      reactionAtMs: null,
    });
    assert.deepEqual(lines, [
      'Packets as the server saw them (times in ms since the connection opened; the first 3, 7 more not recorded):',
      '        time  direction       bytes  DF  what the server did',
      '       10.00  server>client    1500  --  sent as 3 fragments; data 0-1460',
      '       30.50  client>server      52  DF  acknowledged more data; acknowledges 1460',
      '       31.00  network>server    576  --  Packet Too Big received; MTU 1400; quotes 0',
    ]);
  });

  it('says so when there is nothing to list', () => {
    assert.deepEqual(timelineTextLines({ events: [], omitted: 0, reactionAtMs: null }), [NO_EVENTS_TEXT]);
    assert.deepEqual(timelineTextLines(undefined), [NO_TIMELINE_TEXT]);
  });
});
