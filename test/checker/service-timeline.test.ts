/**
 * The packet timeline of real tests, with real curl in a lab: the JSON answers of /icmp and /frag carry the events the
 * engine recorded, `?verbose=1` lists them as text lines, and the result's page gives back the same timeline.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestResult } from '../../src/checker/test-result.js';
import type { PacketTimeline, TimelineEvent } from '../../src/engine/timeline-event.js';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { type CheckerLab, startCheckerLab } from '../support/checker-lab.js';
import { needsRoot } from '../support/root.js';

function timelineOf(result: TestResult): PacketTimeline {
  assert.ok(result.timeline, `the answer carries a timeline: ${JSON.stringify(result).slice(0, 300)}`);
  return result.timeline;
}

function assertInOrder(events: readonly TimelineEvent[]): void {
  for (let i = 1; i < events.length; i++) assert.ok(events[i]!.atMs >= events[i - 1]!.atMs, `event ${i} is not before event ${i - 1}`);
}

const count = (events: readonly TimelineEvent[], action: TimelineEvent['action']): number => events.filter((e) => e.action === action).length;

/** The text lines of the timeline in a text answer. */
function eventLines(text: string): string[] {
  return text.split('\n').filter((l) => /^\s+\d+\.\d\d {2}(client|server|network)>/.test(l));
}

describe('the packet timeline of tests run with curl', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;

  before(async () => {
    c = await startCheckerLab({
      name: 'chk-timeline',
      clients: [{ name: 'client' }, { name: 'nodf', sysctls: { 'net.ipv4.ip_no_pmtu_disc': '1' } }],
    });
    serve = await c.serve();
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  it('IPv4 /icmp as JSON: each segment above 905 bytes dropped with a Packet Too Big, its data again in packets of at most 905 bytes at the reaction', async () => {
    const { result } = await c.icmpJson('client', 4);
    await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
    assert.equal(result.verdict, 'pass');
    const { events, omitted, reactionAtMs } = timelineOf(result);
    assertInOrder(events);
    assert.equal(omitted, 0);
    // curl's first segment carries the request line and the start of the body: full-sized, it is dropped too.
    const [request] = events;
    assert.deepEqual([request?.direction, request?.offset, request?.retransmission], ['in', 0, false]);
    const dropped = events.filter((e) => e.action === 'dropped-ptb-sent');
    assert.equal(dropped.length, result.evidence.packetTooBigSent);
    for (const e of dropped) assert.deepEqual([e.direction, e.ipLength > 905, e.df, e.mtu], ['in', true, true, 905]);
    assert.ok(dropped.some((e) => e.ipLength === 1500));
    assert.ok(reactionAtMs !== null);
    const reaction = events.find((e) => e.atMs === reactionAtMs);
    assert.ok(reaction, 'an event at the reaction');
    assert.deepEqual([reaction.action, reaction.retransmission], ['accepted', true]);
    assert.ok(reaction.ipLength <= 905);
    assert.ok(dropped.some((d) => d.offset < reaction.offset + reaction.length && reaction.offset < d.offset + d.length), 'it carries dropped bytes');
    // The whole upload passed through the engine: the highest byte recorded is the end of the request.
    const end = Math.max(...events.filter((e) => e.direction === 'in' && e.action !== 'ack').map((e) => e.offset + e.length));
    assert.ok(end > 8100, `the body of 8100 bytes and the headers: ${end}`);
  });

  it('IPv4 /icmp without DF: every packet passed, none dropped', async () => {
    const { result } = await c.icmpJson('nodf', 4);
    assert.equal(result.verdict, 'no-df');
    const { events, reactionAtMs } = timelineOf(result);
    assert.equal(count(events, 'dropped-ptb-sent'), 0);
    assert.ok(events.some((e) => e.ipLength === 1500 && !e.df && e.action === 'accepted'));
    assert.equal(reactionAtMs, null);
  });

  it('IPv6 /icmp with ?verbose=1: the packets as text lines, before the RESULT line', async () => {
    const r = await c.curl('client', ['-g', c.url(6, '/icmp?verbose=1'), '--data-binary', `@${c.payloadFile}`]);
    await c.lab.mustExec('client', ['ip', '-6', 'route', 'flush', 'cache']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\nRESULT: pass\n$/);
    assert.match(r.stdout, /\nPackets as the server saw them \(times in ms since the connection opened; the reaction at \d+\.\d\d ms\):\n {8}time {2}direction {7}bytes {2}DF {2}what the server did\n/);
    const lines = eventLines(r.stdout);
    assert.ok(lines.length >= 3, r.stdout);
    assert.match(lines[0]!, /client>server +\d+ {2}DF {2}(passed|dropped, Packet Too Big sent; MTU 1280); data 0-\d+$/);
    assert.ok(lines.some((l) => /client>server +1500 {2}DF {2}dropped, Packet Too Big sent; MTU 1280; data \d+-\d+$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /client>server +12\d\d {2}DF {2}passed; data \d+-\d+; retransmission$/.test(l)), lines.join('\n'));
    const plain = await c.curl('client', ['-g', c.url(6, '/icmp'), '--data-binary', `@${c.payloadFile}`]);
    await c.lab.mustExec('client', ['ip', '-6', 'route', 'flush', 'cache']);
    assert.deepEqual(eventLines(plain.stdout), [], 'without verbose, no packet lines');
  });

  it('IPv4 /frag as JSON: segments sent as fragments, the ACK beyond them at the reaction; the result page gives back the same timeline', async () => {
    const { result } = await c.fragJson('client', 4);
    assert.equal(result.verdict, 'pass');
    const timeline = timelineOf(result);
    const { events, reactionAtMs } = timeline;
    assertInOrder(events);
    const fragmented = events.filter((e) => e.action === 'fragmented');
    assert.equal(fragmented.length, result.evidence.segmentsFragmented);
    assert.equal(
      fragmented.reduce((sum, e) => sum + (e.fragments ?? 0), 0),
      result.evidence.fragmentsSent,
    );
    for (const e of fragmented) assert.equal(e.direction, 'out');
    const reaction = events.find((e) => e.atMs === reactionAtMs);
    assert.equal(reaction?.action, 'ack');
    assert.ok(reaction.offset > Math.min(...fragmented.map((e) => e.offset)));

    const id = (result as TestResult & { resultId?: string }).resultId;
    assert.ok(id);
    const stored = JSON.parse((await c.curl('client', [c.url(4, `/api/results/${id}`)])).stdout) as { result: TestResult };
    assert.deepEqual(stored.result.timeline, timeline);
    const list = JSON.parse((await c.curl('client', [c.url(4, '/api/results?limit=5')])).stdout) as { results: { result?: TestResult }[] };
    assert.ok(list.results.length > 0);
    assert.ok(list.results.every((r) => r.result?.timeline === undefined), 'lists leave timelines out');
  });

  it('serves the chart module the page script imports, as JavaScript that loads nothing further', async () => {
    const r = await c.curl('client', ['-D', '-', c.url(4, '/timeline-chart.js')]);
    assert.match(r.stdout, /^HTTP\/1\.1 200 /);
    assert.match(r.stdout, /\r\ncontent-type: text\/javascript; charset=utf-8\r\n/i);
    assert.match(r.stdout, /\r\netag: "[A-Za-z0-9_-]{22}"\r\n/i);
    assert.match(r.stdout, /export function resultTimelineChart\(/);
    assert.doesNotMatch(r.stdout, /^\s*import\b/m);
    const page = await c.curl('client', [c.url(4, '/page.js')]);
    assert.match(page.stdout, /^import \{ resultTimelineChart \} from '\.\.\/timeline-chart\.js';$/m, 'which /page.js resolves to /timeline-chart.js');
  });

  it('IPv6 /frag with ?verbose=1: segments sent as fragments and the ACKs, as text lines', async () => {
    const r = await c.curl('client', ['-g', c.url(6, '/frag?verbose=1')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\nRESULT: pass\n$/);
    const lines = eventLines(r.stdout);
    assert.ok(lines.some((l) => /server>client +\d+ {2}DF {2}sent as [2-9] fragments; data \d+-\d+$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /client>server +\d+ {2}DF {2}acknowledged more data; acknowledges \d+$/.test(l)), lines.join('\n'));
  });
});
