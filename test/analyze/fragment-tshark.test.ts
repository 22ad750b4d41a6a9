/**
 * tshark (reassembling with ip.defragment / ipv6.defragment on, its default) as an oracle for the overlap and too-long
 * findings on crafted fragments: the datagrams tshark marks `ip.fragment.overlap` (`.conflict`), `toolongfragment` or
 * `multipletails` are the datagrams the analyzer names, and the analyzer's evidence frames are fragments of that
 * datagram as tshark lists them. tshark flags the frame where it reassembled the datagram; the analyzer cites the
 * fragments involved. One difference is by design: a fragment reaching past 65535 bytes (ping of death) never lets
 * tshark reassemble, so tshark flags nothing there while the analyzer reports fragment-too-large.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Analyzer } from '../../src/analyze/analyzer.js';
import { defaultParts } from '../../src/analyze/default-parts.js';
import type { Finding } from '../../src/analyze/finding.js';
import { readCaptureFile } from '../../src/capture/reader.js';
import { openCaptureWriter } from '../../src/capture/writer.js';
import { LinkType } from '../../src/packet/link-type.js';
import { filled, v4Fragment, v6Fragment } from '../frag/fragment-builders.js';
import { tsharkFields } from '../support/tshark.js';

const ON = ['ip.defragment:TRUE', 'ipv6.defragment:TRUE'];

/** Datagrams by identification: 1 overlap (same bytes), 2 overlap conflict, 3 clean, 4 ping of death, 5 IPv6 conflict, 6 two tails, 7 clean after a tiny-free overlap check. */
function packets(): Uint8Array[] {
  return [
    v4Fragment({ ident: 1 }, 0, true, filled(48, 0x41)),
    v4Fragment({ ident: 1 }, 24, false, filled(64, 0x41)),
    v4Fragment({ ident: 2 }, 0, true, filled(48, 0x41)),
    v4Fragment({ ident: 2 }, 24, false, filled(64, 0x42)),
    v4Fragment({ ident: 3 }, 0, true, filled(1480, 1)),
    v4Fragment({ ident: 3 }, 1480, false, filled(100, 1)),
    v4Fragment({ ident: 4 }, 0, true, filled(1480, 1)),
    v4Fragment({ ident: 4 }, 65528, false, filled(100, 1)),
    v6Fragment({ ident: 5 }, 0, true, filled(1232, 0x41)),
    v6Fragment({ ident: 5 }, 1224, false, filled(100, 0x43)),
    v4Fragment({ ident: 6 }, 0, true, filled(1480, 1)),
    v4Fragment({ ident: 6 }, 2960, false, filled(100, 1)),
    v4Fragment({ ident: 6 }, 2960, false, filled(200, 1)),
    v4Fragment({ ident: 6 }, 1480, true, filled(1480, 1)),
    v4Fragment({ ident: 7 }, 0, true, filled(1480, 7)),
    v4Fragment({ ident: 7 }, 1480, false, filled(800, 7)),
  ];
}

describe('tshark and the analyzer flag the same overlapping and too-long fragments', () => {
  let dir = '';
  let findings: Finding[] = [];
  let rows: Record<string, string>[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mts-frag-analyze-'));
    const path = join(dir, 'attacks.pcap');
    const w = openCaptureWriter(path, { format: 'pcap', linkType: LinkType.Raw });
    let t = 1_700_000_000_000_000_000n;
    for (const p of packets()) await w.write({ timestampNs: (t += 1_000_000n), data: p });
    await w.close();
    const analyzer = new Analyzer(defaultParts());
    for (const p of await readCaptureFile(path)) analyzer.push(p);
    findings = [...analyzer.report(true).findings];
    rows = await tsharkFields(
      path,
      ['frame.number', 'ip.id', 'ipv6.fraghdr.ident', 'ip.fragment', 'ipv6.fragment', 'ip.fragment.error', 'ip.fragment.overlap', 'ip.fragment.overlap.conflict', 'ipv6.fragment.overlap', 'ipv6.fragment.overlap.conflict', 'ip.fragment.toolongfragment', 'ip.fragment.multipletails'],
      { prefs: ON },
    );
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const ident = (r: Record<string, string>): number => Number(r['ip.id'] || r['ipv6.fraghdr.ident']);
  const flagged = (field: string): Set<number> => new Set(rows.filter((r) => (r[field] ?? '') !== '').map(ident));
  const named = (...kinds: string[]): Set<number> => new Set(findings.filter((f) => kinds.includes(f.kind)).map((f) => Number(f.facts.identification)));
  /** The frames tshark counts as the datagram's: its fragment list, its error frame and the reassembling frame. */
  const tsharkFrames = (id: number): Set<number> => {
    const out = new Set<number>();
    for (const r of rows.filter((x) => ident(x) === id)) {
      out.add(Number(r['frame.number']));
      for (const f of ['ip.fragment', 'ipv6.fragment', 'ip.fragment.error']) for (const n of (r[f] ?? '').split(',').filter((s) => s !== '')) out.add(Number(n));
    }
    return out;
  };

  it('overlaps: the same datagrams, and the conflicting ones among them', () => {
    const overlapping = new Set([...flagged('ip.fragment.overlap'), ...flagged('ipv6.fragment.overlap')]);
    assert.deepEqual([...overlapping].sort(), [1, 2, 5, 6]);
    assert.deepEqual([...named('fragment-overlap', 'fragment-overlap-conflict')].sort(), [...overlapping].sort());
    const conflicting = new Set([...flagged('ip.fragment.overlap.conflict'), ...flagged('ipv6.fragment.overlap.conflict')]);
    assert.deepEqual([...named('fragment-overlap-conflict')].sort(), [...conflicting].sort());
  });

  it('too long: every datagram tshark marks too long or with two tails, plus the ping of death tshark cannot reassemble', () => {
    const tooLong = new Set([...flagged('ip.fragment.toolongfragment'), ...flagged('ip.fragment.multipletails')]);
    assert.deepEqual([...tooLong], [6]);
    assert.deepEqual([...named('fragment-too-large')].sort(), [4, 6]);
  });

  it("cites as evidence only frames tshark counts as the datagram's", () => {
    for (const f of findings.filter((x) => x.kind.startsWith('fragment-overlap') || x.kind === 'fragment-too-large')) {
      const id = Number(f.facts.identification);
      if (id === 4) continue;
      const theirs = tsharkFrames(id);
      for (const e of f.evidence) assert.ok(theirs.has(e.frame), `${f.kind} id ${id}: frame ${e.frame} not among tshark's ${[...theirs].join(',')}`);
    }
  });

  it('says nothing about the clean datagrams', () => {
    const clean = findings.filter((f) => [3, 7].includes(Number(f.facts.identification)));
    assert.deepEqual(clean, []);
    // Datagram 6 completed despite its second tail; only the ping of death's first fragment waits in vain.
    assert.deepEqual(findings.filter((f) => f.kind === 'fragments-incomplete').map((f) => f.facts.identification), [4]);
  });
});
