/**
 * Ground truth for the capture-conditions detector: real kernel captures with TSO/GSO/GRO left on (the capture hosts
 * then record super-packets of up to 64 KiB), checked against tshark's IP lengths; the oversized segments they hold
 * must not become segment-exceeds-mss findings, but a caveat saying why.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AnalysisResult } from '../../src/analyze/analyzer.js';
import { LARGEST_COMMON_MTU } from '../../src/packet/super-packet.js';
import { type KernelCapture, makeKernelCaptures } from '../support/kernel-captures.js';
import { needsRoot } from '../support/root.js';
import { tsharkFields } from '../support/tshark.js';
import { analyzeFile } from './support/analyze-file.js';

/** Frames whose outermost IP packet (first occurrence, not a quote) is longer than `limit`, by tshark. */
async function longerThan(path: string, limit: number): Promise<number[]> {
  const rows = await tsharkFields(path, ['frame.number', 'ip.len', 'ipv6.plen'], { displayFilter: `ip.len > ${limit} || ipv6.plen > ${limit - 40}` });
  return rows
    .filter((r) => {
      const v4 = r['ip.len']!.split(',')[0]!;
      const v6 = r['ipv6.plen']!.split(',')[0]!;
      return (v4 !== '' && Number(v4) > limit) || (v6 !== '' && 40 + Number(v6) > limit);
    })
    .map((r) => Number(r['frame.number']));
}

describe('captures of real kernels with offloads left on', needsRoot(), () => {
  let dir: string;
  let captures: KernelCapture[];
  const results = new Map<string, AnalysisResult>();
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'offload-caps-'));
    captures = await makeKernelCaptures(dir, { offloads: true });
    for (const c of captures) results.set(c.name, await analyzeFile(c.path, { linkMtu: 1500 }));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('counts as super-packets exactly the frames tshark shows longer than the 1500-byte link, on the client and the server', async () => {
    for (const name of ['client-eth0', 'server-eth0']) {
      const cap = captures.find((c) => c.name === name)!;
      const theirs = await longerThan(cap.path, 1500);
      const caveat = results.get(name)!.findings.find((f) => f.kind === 'capture-caveat' && f.facts.condition === 'super-packets');
      assert.ok(theirs.length > 0, `${name}: the kernel made super-packets`);
      assert.ok(caveat !== undefined, `${name}: super-packets reported`);
      assert.equal(caveat.facts.count, theirs.length, name);
      assert.deepEqual(caveat.evidence.map((e) => e.frame), theirs.slice(0, caveat.evidence.length), name);
      assert.match(caveat.sentence, /TSO\/GRO super-packets/);
      // Its display filter shows them all, and nothing else.
      assert.deepEqual((await tsharkFields(cap.path, ['frame.number'], { displayFilter: caveat.displayFilter })).map((r) => Number(r['frame.number'])), theirs);
    }
  });

  it('without the link MTU counts only packets longer than any common link, as tshark shows them', async () => {
    const cap = captures.find((c) => c.name === 'client-eth0')!;
    const r = await analyzeFile(cap.path);
    const theirs = await longerThan(cap.path, LARGEST_COMMON_MTU);
    const caveat = r.findings.find((f) => f.kind === 'capture-caveat' && f.facts.condition === 'super-packets');
    assert.equal(caveat?.facts.count ?? 0, theirs.length);
  });

  it('reports no segment larger than the MSS, but says the offloads explain the oversized segments, and offers the caveat to other detectors', () => {
    for (const [name, r] of results) {
      assert.deepEqual(r.findings.filter((f) => f.kind === 'segment-exceeds-mss').map((f) => f.sentence), [], name);
      assert.deepEqual(r.findings.filter((f) => f.severity !== 'info' && f.kind.startsWith('mss')).map((f) => f.sentence), [], name);
    }
    const client = results.get('client-eth0')!;
    const note = client.findings.find((f) => f.kind === 'capture-caveat' && f.facts.condition === 'segments-over-mss-explained');
    assert.ok(note !== undefined, 'a note on the oversized segments');
    assert.match(note.sentence, /not reported as segment-exceeds-mss: the capture host's offloads explain them/);
    assert.ok(note.caveats.some((c) => /^the capture holds \d+ TSO\/GRO super-packets \(offloads on the capture host\)$/.test(c)), note.caveats.join(' / '));
  });
});
