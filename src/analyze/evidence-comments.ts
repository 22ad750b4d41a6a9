/**
 * What `mtuscope analyze --extract` writes: the evidence frames of every finding, once each, in frame order, with a
 * pcapng comment saying which finding(s) cite the frame and in what role, e.g.
 * `mtuscope #1 pmtu-blackhole (error): retransmission 2; #3 ptb-ignored (error): the segment the Packet Too Big quotes`.
 */
import type { NumberedFinding } from './analysis-json.js';

export function evidenceComments(findings: readonly NumberedFinding[], prefix = 'mtuscope'): Map<number, string> {
  const parts = new Map<number, string[]>();
  for (const { id, finding } of findings) {
    for (const e of finding.evidence) {
      const text = `#${id} ${finding.kind} (${finding.severity}): ${e.role}`;
      const list = parts.get(e.frame);
      if (list === undefined) parts.set(e.frame, [text]);
      else if (!list.includes(text)) list.push(text);
    }
  }
  const out = new Map<number, string>();
  for (const frame of [...parts.keys()].sort((a, b) => a - b)) out.set(frame, `${prefix} ${parts.get(frame)!.join('; ')}`);
  return out;
}
