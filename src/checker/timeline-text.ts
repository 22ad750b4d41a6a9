/**
 * The packet timeline as text lines for curl (`?verbose=1`): one line per packet with fixed columns, in the manner
 * of tcpdump and tracepath, so that people read it and scripts can cut it.
 */
import type { PacketTimeline, TimelineEvent } from '../engine/timeline-event.js';
import { NO_EVENTS_TEXT, NO_TIMELINE_TEXT, TIMELINE_ACTION_STYLES } from './timeline-chart.js';

function direction(e: TimelineEvent): string {
  if (e.action === 'ptb-received') return 'network>server';
  return e.direction === 'in' ? 'client>server' : 'server>client';
}

/** What the server did with the packet and what it carried. */
function what(e: TimelineEvent): string {
  const parts = [e.action === 'fragmented' && e.fragments !== undefined ? `sent as ${e.fragments} fragments` : TIMELINE_ACTION_STYLES[e.action].text];
  if (e.mtu !== undefined) parts.push(`MTU ${e.mtu}`);
  parts.push(e.action === 'ack' ? `acknowledges ${e.offset}` : e.action === 'ptb-received' ? `quotes ${e.offset}` : `data ${e.offset}-${e.offset + e.length}`);
  if (e.retransmission) parts.push('retransmission');
  return parts.join('; ');
}

/** The lines, header first; a result without a timeline, or with no events, says so in one line. */
export function timelineTextLines(timeline: PacketTimeline | undefined): string[] {
  if (timeline === undefined) return [NO_TIMELINE_TEXT];
  if (timeline.events.length === 0) return [NO_EVENTS_TEXT];
  const more = timeline.omitted > 0 ? `; the first ${timeline.events.length}, ${timeline.omitted} more not recorded` : '';
  const reaction = timeline.reactionAtMs === null ? '' : `; the reaction at ${timeline.reactionAtMs.toFixed(2)} ms`;
  return [
    `Packets as the server saw them (times in ms since the connection opened${more}${reaction}):`,
    `  ${'time'.padStart(10)}  ${'direction'.padEnd(14)}  ${'bytes'.padStart(5)}  DF  what the server did`,
    ...timeline.events.map((e) => `  ${e.atMs.toFixed(2).padStart(10)}  ${direction(e).padEnd(14)}  ${String(e.ipLength).padStart(5)}  ${e.df ? 'DF' : '--'}  ${what(e)}`),
  ];
}
