/**
 * The picture of a test: its packet timeline as an SVG chart, packet size over time, with the test MTU as a line,
 * a mark for each packet by what the server did with it, and the client's reaction. A pure function from the
 * timeline to SVG text, used by the result page on the server and by the web page's script in the browser, which
 * loads this file as a module of its own: so it imports types only, and treats the timeline as untrusted input (it
 * comes from the network there): every number is checked, every text escaped, unknown actions skipped.
 */
import type { PacketTimeline, TimelineAction, TimelineEvent } from '../engine/timeline-event.js';
import type { TestResult } from './test-result.js';

export interface TimelineChartInput {
  /** Undefined for a result stored without its timeline. */
  readonly timeline: PacketTimeline | undefined;
  /** Drawn as a horizontal line, e.g. 905. */
  readonly testMtu: number;
  /** What the line means, e.g. `test MTU` or `largest fragment`. */
  readonly testMtuLabel: string;
}

/** Where things are on the chart, in SVG user units. */
export const CHART = { width: 720, height: 300, left: 56, right: 16, top: 18, bottom: 92 } as const;
const PLOT_WIDTH = CHART.width - CHART.left - CHART.right;
const PLOT_HEIGHT = CHART.height - CHART.top - CHART.bottom;

interface ActionStyle {
  /** What the server did, as the chart's tooltips, its legend and the text lines say it. */
  readonly text: string;
  readonly legend: string;
  readonly color: string;
  /** The mark around (0, 0). */
  readonly shape: string;
}

const cross = (color: string, dash = ''): string =>
  `<path d="M-4 -4L4 4M-4 4L4 -4" stroke="${color}" stroke-width="2"${dash === '' ? '' : ` stroke-dasharray="${dash}"`} fill="none"/>`;
const diamond = (color: string, filled: boolean): string =>
  `<path d="M0 -5L5 0L0 5L-5 0Z" stroke="${color}" stroke-width="1.5" fill="${filled ? color : 'white'}"/>`;

export const TIMELINE_ACTION_STYLES: Readonly<Record<TimelineAction, ActionStyle>> = {
  accepted: { text: 'passed', legend: 'packet passed', color: '#1f6feb', shape: '<circle r="3" fill="#1f6feb"/>' },
  'dropped-ptb-sent': { text: 'dropped, Packet Too Big sent', legend: 'dropped, Packet Too Big sent', color: '#cf222e', shape: cross('#cf222e') },
  'dropped-ptb-held-back': {
    text: 'dropped, Packet Too Big held back (rate limit)',
    legend: 'dropped, Packet Too Big held back',
    color: '#bc4c00',
    shape: cross('#bc4c00', '2 1'),
  },
  'dropped-with-packet': {
    text: 'dropped with the packet it arrived in (one answer for the packet)',
    legend: 'dropped with its packet',
    color: '#cf222e',
    shape: '<path d="M-3 -3L3 3M-3 3L3 -3" stroke="#cf222e" stroke-width="1.5" fill="none"/>',
  },
  fragmented: { text: 'sent as fragments', legend: 'sent as fragments', color: '#9a6700', shape: diamond('#9a6700', true) },
  'fragments-held-back': { text: 'dropped, fragments held back (rate limit)', legend: 'fragments held back', color: '#9a6700', shape: diamond('#9a6700', false) },
  ack: { text: 'acknowledged more data', legend: 'ACK advancing', color: '#1a7f37', shape: '<circle r="2.5" fill="#1a7f37"/>' },
  'ptb-received': { text: 'Packet Too Big received', legend: 'Packet Too Big received', color: '#8250df', shape: '<path d="M0 -5L5 4L-5 4Z" fill="#8250df"/>' },
};

const OUT_SHAPE = '<rect x="-3" y="-3" width="6" height="6" fill="#57606a"/>';
const RETRANSMISSION_RING = '<circle r="7" fill="none" stroke="#57606a" stroke-width="1"/>';
const REACTION_COLOR = '#1a7f37';

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A coordinate or value as SVG text: one decimal, no exponent. */
function num(n: number): string {
  return String(Math.round(n * 10) / 10);
}

/** A time as the timeline has it: to 0.01 ms. */
function ms(n: number): string {
  return String(Math.round(n * 100) / 100);
}

function finite(n: unknown, min = 0): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n >= min;
}

function styleOf(action: unknown): ActionStyle | undefined {
  return typeof action === 'string' && Object.hasOwn(TIMELINE_ACTION_STYLES, action) ? TIMELINE_ACTION_STYLES[action as TimelineAction] : undefined;
}

/** The events that can be drawn: known action, finite non-negative numbers. */
export function drawableEvents(timeline: PacketTimeline): TimelineEvent[] {
  const events: unknown = timeline.events;
  if (!Array.isArray(events)) return [];
  return events.filter(
    (e): e is TimelineEvent =>
      typeof e === 'object' && e !== null && finite(e.atMs) && finite(e.ipLength) && styleOf(e.action) !== undefined && (e.direction === 'in' || e.direction === 'out'),
  );
}

/** A step of 1, 2 or 5 times a power of ten that cuts [0, max] into at most `most` parts. */
export function niceStep(max: number, most: number): number {
  if (!(max > 0)) return 1;
  const raw = max / most;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

/** One line of what happened to a packet, for tooltips and the text report. */
export function describeTimelineEvent(e: TimelineEvent): string {
  const style = styleOf(e.action);
  const from = e.action === 'ptb-received' ? 'network → server' : e.direction === 'in' ? 'client → server' : 'server → client';
  const parts = [`${from}, ${e.ipLength} bytes${e.df ? ', DF' : ''}`, style?.text ?? String(e.action)];
  if (e.action === 'fragmented' && finite(e.fragments)) parts[1] = `sent as ${e.fragments} fragments`;
  if (finite(e.mtu)) parts.push(`MTU ${e.mtu}`);
  if (finite(e.offset) && finite(e.length)) parts.push(e.action === 'ack' ? `acknowledges ${e.offset}` : `data ${e.offset}-${e.offset + e.length}`);
  if (e.retransmission === true) parts.push('retransmission');
  return parts.join('; ');
}

/** What a chart says instead of drawing nothing. */
export const NO_EVENTS_TEXT = 'No packets were recorded for this test.';
export const NO_TIMELINE_TEXT = 'This result was stored without its packet timeline.';

function emptyChart(text: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" class="timeline-chart timeline-empty" viewBox="0 0 ${CHART.width} 48" width="${CHART.width}" height="48" role="img" aria-label="${esc(text)}">
<rect x="0.5" y="0.5" width="${CHART.width - 1}" height="47" fill="#f6f8fa" stroke="#d0d7de"/>
<text x="${CHART.width / 2}" y="29" text-anchor="middle" font-size="14" fill="#57606a">${esc(text)}</text>
</svg>`;
}

/**
 * The chart as SVG text. Each event is a `<g class="event event-ACTION">` at `translate(x,y)` (x: time, y: IP length)
 * with data-at-ms, data-ip-length and data-action, and a tooltip; a timeline without events (or none at all) gives
 * a chart that says so.
 */
export function timelineChart(input: TimelineChartInput): string {
  const { timeline } = input;
  if (timeline === undefined || timeline === null) return emptyChart(NO_TIMELINE_TEXT);
  const events = drawableEvents(timeline);
  if (events.length === 0) return emptyChart(NO_EVENTS_TEXT);
  const testMtu = finite(input.testMtu, 1) ? input.testMtu : undefined;
  const reactionAt = finite(timeline.reactionAtMs) ? timeline.reactionAtMs : undefined;

  const lastAt = Math.max(...events.map((e) => e.atMs), reactionAt ?? 0);
  const xStep = niceStep(lastAt, 6);
  const xMax = Math.max(xStep, Math.ceil(lastAt / xStep) * xStep);
  const largest = Math.max(...events.map((e) => e.ipLength), testMtu ?? 0, 1500);
  const yStep = niceStep(largest, 5);
  const yMax = Math.ceil(largest / yStep) * yStep;
  const x = (t: number): number => CHART.left + (t / xMax) * PLOT_WIDTH;
  const y = (len: number): number => CHART.top + PLOT_HEIGHT - (len / yMax) * PLOT_HEIGHT;
  const bottom = CHART.top + PLOT_HEIGHT;
  const right = CHART.left + PLOT_WIDTH;

  const out: string[] = [];
  const summary = `Packet timeline: ${events.length} packets over ${ms(lastAt)} ms${testMtu === undefined ? '' : `, ${input.testMtuLabel} ${testMtu} bytes`}`;
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="timeline-chart" viewBox="0 0 ${CHART.width} ${CHART.height}" width="${CHART.width}" height="${CHART.height}" role="img" aria-label="${esc(summary)}" font-family="system-ui, sans-serif" font-size="11">`,
    `<title>${esc(summary)}</title>`,
    `<rect class="plot" x="${CHART.left}" y="${CHART.top}" width="${PLOT_WIDTH}" height="${PLOT_HEIGHT}" fill="white" stroke="#d0d7de"/>`,
  );
  for (let t = 0; t <= xMax + xStep / 1000; t += xStep) {
    out.push(
      `<line x1="${num(x(t))}" y1="${bottom}" x2="${num(x(t))}" y2="${bottom + 4}" stroke="#57606a"/><text x="${num(x(t))}" y="${bottom + 15}" text-anchor="middle" fill="#57606a">${num(t)}</text>`,
    );
  }
  for (let v = 0; v <= yMax; v += yStep) {
    out.push(
      `<line x1="${CHART.left}" y1="${num(y(v))}" x2="${right}" y2="${num(y(v))}" stroke="#eaeef2"/><text x="${CHART.left - 6}" y="${num(y(v) + 4)}" text-anchor="end" fill="#57606a">${v}</text>`,
    );
  }
  out.push(
    `<text x="${CHART.left + PLOT_WIDTH / 2}" y="${bottom + 30}" text-anchor="middle" fill="#1d1d1f">ms since the connection opened</text>`,
    `<text transform="translate(13 ${CHART.top + PLOT_HEIGHT / 2}) rotate(-90)" text-anchor="middle" fill="#1d1d1f">IP packet bytes</text>`,
  );
  if (testMtu !== undefined) {
    out.push(
      `<line class="test-mtu" x1="${CHART.left}" y1="${num(y(testMtu))}" x2="${right}" y2="${num(y(testMtu))}" stroke="#cf222e" stroke-dasharray="6 4" data-mtu="${testMtu}"/>`,
      `<text x="${right - 4}" y="${num(y(testMtu) - 4)}" text-anchor="end" fill="#cf222e">${esc(input.testMtuLabel)} ${testMtu}</text>`,
    );
  }
  if (reactionAt !== undefined) {
    out.push(
      `<line class="reaction" x1="${num(x(reactionAt))}" y1="${CHART.top}" x2="${num(x(reactionAt))}" y2="${bottom}" stroke="${REACTION_COLOR}" stroke-width="1.5" data-at-ms="${ms(reactionAt)}"/>`,
      `<text x="${num(x(reactionAt) + 4)}" y="${CHART.top + 12}" fill="${REACTION_COLOR}">reaction</text>`,
    );
  }
  out.push('<g class="events">');
  for (const e of events) {
    const style = styleOf(e.action)!;
    const shape = e.action === 'accepted' && e.direction === 'out' ? OUT_SHAPE : style.shape;
    out.push(
      `<g class="event event-${e.action}" transform="translate(${num(x(e.atMs))},${num(y(e.ipLength))})" data-at-ms="${ms(e.atMs)}" data-ip-length="${e.ipLength}" data-action="${e.action}" data-direction="${e.direction}">${e.retransmission === true ? RETRANSMISSION_RING : ''}${shape}<title>${esc(`${ms(e.atMs)} ms: ${describeTimelineEvent(e)}`)}</title></g>`,
    );
  }
  out.push('</g>');
  out.push(legend(events, testMtu !== undefined, reactionAt !== undefined, input.testMtuLabel));
  if (finite(timeline.omitted, 1)) {
    out.push(`<text class="omitted" x="${right}" y="${CHART.top - 5}" text-anchor="end" fill="#57606a">first ${events.length} packets shown; ${timeline.omitted} more not recorded</text>`);
  }
  out.push('</svg>');
  return out.join('\n');
}

/** One entry per kind of mark present, in a row below the axis. */
function legend(events: readonly TimelineEvent[], mtuLine: boolean, reaction: boolean, mtuLabel: string): string {
  const entries: { shape: string; text: string }[] = [];
  const present = new Set(events.map((e) => (e.action === 'accepted' ? `accepted-${e.direction}` : e.action)));
  if (present.has('accepted-in')) entries.push({ shape: TIMELINE_ACTION_STYLES.accepted.shape, text: 'client packet passed' });
  if (present.has('accepted-out')) entries.push({ shape: OUT_SHAPE, text: 'server packet passed' });
  for (const action of Object.keys(TIMELINE_ACTION_STYLES) as TimelineAction[]) {
    if (action !== 'accepted' && present.has(action)) entries.push({ shape: TIMELINE_ACTION_STYLES[action].shape, text: TIMELINE_ACTION_STYLES[action].legend });
  }
  if (events.some((e) => e.retransmission === true)) entries.push({ shape: RETRANSMISSION_RING, text: 'retransmission' });
  if (mtuLine) entries.push({ shape: '<line x1="-6" x2="6" stroke="#cf222e" stroke-dasharray="3 2"/>', text: mtuLabel });
  if (reaction) entries.push({ shape: `<line y1="-6" y2="6" stroke="${REACTION_COLOR}" stroke-width="1.5"/>`, text: 'reaction' });
  let at = CHART.left;
  let row = CHART.top + PLOT_HEIGHT + 50;
  const items: string[] = [];
  for (const entry of entries) {
    const width = 22 + entry.text.length * 6;
    if (at + width > CHART.width - CHART.right) {
      at = CHART.left;
      row += 16;
    }
    items.push(`<g transform="translate(${at + 6},${row})">${entry.shape}<text x="10" y="4" fill="#1d1d1f">${esc(entry.text)}</text></g>`);
    at += width;
  }
  return `<g class="legend">${items.join('')}</g>`;
}

/**
 * The chart of a test's result: its timeline, with its test MTU as the line (for /frag the largest fragment; for
 * /download the MTU a router reported, and no line when none did).
 */
export function resultTimelineChart(result: Pick<TestResult, 'test' | 'evidence' | 'timeline'>): string {
  if (result.test === 'download') {
    return timelineChart({ timeline: result.timeline, testMtu: result.evidence.download?.reportedMtu ?? 0, testMtuLabel: 'MTU a router reported' });
  }
  return timelineChart({
    timeline: result.timeline,
    testMtu: result.evidence.testMtu,
    testMtuLabel: result.test === 'frag' ? 'largest fragment' : 'test MTU',
  });
}
