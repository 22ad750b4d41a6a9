import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analysisText, findingHeadline, flowVerdicts, resultLine, timelineLines, utcText } from '../../src/analyze/analysis-text.js';
import { findingJson, type NumberedFinding, summaryJson } from '../../src/analyze/analysis-json.js';
import { Analyzer, type AnalysisResult } from '../../src/analyze/analyzer.js';
import { DEFAULT_LIMITS } from '../../src/analyze/detector.js';
import { anyOfFilters } from '../../src/analyze/display-filters.js';
import { evidenceComments } from '../../src/analyze/evidence-comments.js';
import type { Finding } from '../../src/analyze/finding.js';
import { FINDING_KINDS, isFindingKind } from '../../src/analyze/finding-kinds.js';
import { capturedPacket } from '../../src/capture/captured-packet.js';
import { liveKey, numberFindings } from '../../src/cli/analyze-run.js';
import { FIXTURE_FINDINGS, fixtureFrames } from './support/analyze-fixture.js';
import { markerParts } from './support/marker-detector.js';

function analyse(frames = fixtureFrames()): AnalysisResult {
  const analyzer = new Analyzer(markerParts(), { pcapng: true });
  for (const f of frames) {
    const linkType = f.interfaceId === 0 ? 1 : 101;
    analyzer.push(capturedPacket(linkType, f.interfaceId, f.timeNs, f.originalLength ?? f.data.length, f.data, f.interfaceId === 0 ? 'eth0' : undefined));
  }
  return analyzer.report(true);
}

function numbered(result: AnalysisResult): NumberedFinding[] {
  return numberFindings(result.findings, new Map());
}

const INFO = { file: 'x.pcapng', interfaces: ['eth0', '#1'], readError: undefined };

describe('analysis output: text', () => {
  const result = analyse();
  const findings = numbered(result);
  const text = analysisText(INFO, result, findings);
  const lines = text.split('\n');

  it('numbers the findings in the order the analyzer reports them (time of the first evidence)', () => {
    assert.deepEqual(
      findings.map((f) => [f.id, f.finding.kind, f.finding.evidence.map((e) => e.frame)]),
      FIXTURE_FINDINGS.map((f, i) => [i + 1, f.kind, [...f.frames]]),
    );
  });

  it('starts with the header: file, packets, time span, interfaces, flows', () => {
    assert.deepEqual(lines.slice(0, 5), [
      'file: x.pcapng',
      'packets: 10',
      'time: 2025-12-06T05:46:40.000000Z to 2025-12-06T05:46:41.500000Z (1.500 s)',
      'interfaces: eth0, #1',
      'flows: 6 (2 with findings, 4 with no problem seen)',
    ]);
  });

  it('gives each flow with findings its worst finding, then its evidence in frame order with times from the first', () => {
    const at = lines.findIndex((l) => l.includes('pmtu-blackhole +1'));
    assert.ok(at > 0, text);
    assert.match(lines[at]!, /^ {2}pmtu-blackhole \+1 +error {4}eth0 {2}packets 4 +largest 1488 +10\.1\.0\.2:40000 → 10\.2\.0\.2:80 \(TCP\)$/);
    assert.equal(lines[at + 1], '      filter: (frame.number in {2, 4}) || (frame.number in {5})');
    assert.deepEqual(lines.slice(at + 2, at + 5), [
      '       +0.000 s  frame 2  segment seq 1000 len 1448 DF  #1',
      '       +0.200 s  frame 4  segment seq 1000 len 1448 DF  #1',
      '       +0.200 s  frame 5  Packet Too Big MTU 1400  #2',
    ]);
    assert.ok(lines.includes('  no problem seen: 4 flows'));
  });

  it('lists every finding with severity, confidence, kind, interface, flow, sentence, evidence and filter', () => {
    const at = lines.indexOf('findings (id, severity, confidence, kind, interface, flow):');
    assert.ok(at > 0);
    assert.equal(lines[at + 1], '  #1  error    high    pmtu-blackhole             eth0  10.1.0.2:40000 → 10.2.0.2:80 (TCP)');
    assert.match(lines[at + 2]!, /^ {6}Test marker: large DF segments/);
    assert.equal(lines[at + 3], '      evidence: frames 2 4');
    assert.equal(lines[at + 4], '      filter: frame.number in {2, 4}');
    assert.equal(lines[at + 5], '      caveat: a test marker, not a real finding');
    // A finding without a flow prints "-" in the flow column.
    assert.ok(lines.includes('  #4  info     high    capture-caveat             eth0  -'), text);
  });

  it('ends with the result line counting problems and info findings', () => {
    assert.equal(lines.at(-2), 'result: 2 problems (1 error, 1 warning), 2 info');
    assert.equal(resultLine([]), 'result: no problem found');
  });

  it('says "no problem found" and lists no verdicts for a capture without findings', () => {
    const clean = analyse(fixtureFrames().filter((_, i) => [0, 2, 7, 9].includes(i)));
    const out = analysisText(INFO, clean, numbered(clean));
    assert.doesNotMatch(out, /flow verdicts|findings \(/);
    assert.match(out, /^flows: 3 \(0 with findings, 3 with no problem seen\)$/m);
    assert.match(out, /^result: no problem found\n$/m);
  });

  it('says plainly what a full table forgot, and that the capture was cut short', () => {
    const evicting: AnalysisResult = { ...result, evictions: [{ table: 'TCP flows', evicted: 1234, capacity: 100_000 }, { table: 'fragments', evicted: 0, capacity: 10 }] };
    const out = analysisText({ ...INFO, readError: 'pcapng Enhanced Packet Block: block total length 7 is below the minimum of 32 at byte offset 4242' }, evicting, findings);
    assert.match(out, /^evicted: the table of TCP flows was full \(100,000 entries\): 1,234 evicted; findings about them may be missing$/m);
    assert.doesNotMatch(out, /table of fragments/);
    assert.match(out, /^read error: .* at byte offset 4242; the analysis covers the 10 packets before it$/m);
    assert.match(out, /^packets: 10 \(the capture is cut short: see "read error"\)$/m);
  });

  it('keeps a long timeline short and counts the rest', () => {
    const many: NumberedFinding = { id: 7, finding: { ...findings[0]!.finding, evidence: Array.from({ length: 20 }, (_, i) => ({ frame: 100 + i, timeUs: 1_000_000 + i * 1000, role: `r${i}` })) } };
    const out = timelineLines([many], 12);
    assert.equal(out.length, 13);
    assert.equal(out[0], '   +0.000 s  frame 100  r0  #7');
    assert.equal(out[12], '    ... 8 more evidence frames (listed with the findings below)');
  });

  it('writes times as UTC with microseconds', () => {
    assert.equal(utcText(1_765_000_000_000_001), '2025-12-06T05:46:40.000001Z');
    assert.equal(findingHeadline(findings[1]!, 4), '#2  info     medium  ptb-honoured               #1    10.1.0.2:40000 → 10.2.0.2:80 (TCP)');
  });

  it('matches findings to flows in either direction and leaves findings about unseen flows out of the verdicts', () => {
    const reversed: Finding = { ...findings[0]!.finding, flow: { family: 4, protocol: 'tcp', src: '10.2.0.2', srcPort: 80, dst: '10.1.0.2', dstPort: 40000 } };
    const unseen: Finding = { ...findings[0]!.finding, flow: { family: 4, protocol: 'tcp', src: '10.9.9.9', srcPort: 1, dst: '10.1.0.2', dstPort: 2 } };
    const v = flowVerdicts(result.flows, [{ id: 1, finding: reversed }, { id: 2, finding: unseen }]);
    assert.equal(v.withFindings.length, 1);
    assert.equal(v.withFindings[0]!.flow.flow.src, '10.1.0.2');
    assert.equal(v.clean, result.flows.length - 1);
  });
});

describe('analysis output: JSON', () => {
  const result = analyse();
  const findings = numbered(result);

  it('gives every field of a finding, null where it does not apply', () => {
    const j = findingJson('x.pcapng', findings[0]!);
    assert.deepEqual(Object.keys(j), ['type', 'file', 'id', 'kind', 'severity', 'confidence', 'problem', 'flow', 'interface', 'evidence', 'evidenceOmitted', 'sentence', 'displayFilter', 'facts', 'caveats']);
    assert.deepEqual(j.flow, { family: 4, protocol: 'tcp', src: '10.1.0.2', srcPort: 40000, dst: '10.2.0.2', dstPort: 80 });
    assert.equal(j.problem, true);
    assert.deepEqual(j.evidence[0], { frame: 2, timeUs: 1_765_000_000_012_500, role: 'segment seq 1000 len 1448 DF' });
    const caveat = findingJson('x.pcapng', findings[3]!);
    assert.equal(caveat.flow, null);
    assert.equal(caveat.problem, false);
    const frag = findingJson('x.pcapng', findings[2]!);
    assert.equal(frag.flow?.srcPort, null);
  });

  it('sums up a capture: packets, times, interfaces, flows, findings by severity, evictions', () => {
    const s = summaryJson(INFO, result, findings, 2);
    assert.deepEqual(s, {
      type: 'summary',
      file: 'x.pcapng',
      complete: true,
      error: null,
      packets: 10,
      firstUs: 1_765_000_000_000_000,
      lastUs: 1_765_000_001_500_000,
      interfaces: ['eth0', '#1'],
      flows: 6,
      flowsWithFindings: 2,
      findings: 4,
      problems: 2,
      severities: { error: 1, warning: 1, info: 2 },
      evictions: [
        { table: 'flow summaries', evicted: 0, capacity: DEFAULT_LIMITS.maxFlows },
        { table: 'test markers', evicted: 0, capacity: 1000 },
      ],
    });
  });
});

describe('analysis output: display filters, extract comments, numbering, kinds', () => {
  it('joins display filters with || in parentheses, once each', () => {
    assert.equal(anyOfFilters(['a || b', 'c', 'a || b', ' ']), '(a || b) || (c)');
    assert.equal(anyOfFilters(['tcp.stream == 3']), 'tcp.stream == 3');
    assert.equal(anyOfFilters([]), 'frame.number == 0');
  });

  it('comments each evidence frame once, in frame order, naming every finding that cites it', () => {
    const findings = numbered(analyse());
    const shared: NumberedFinding = { id: 9, finding: { ...findings[1]!.finding, evidence: [{ frame: 4, timeUs: 0, role: 'the quoted segment' }] } };
    const comments = evidenceComments([...findings, shared]);
    assert.deepEqual([...comments.keys()], [2, 4, 5, 6, 7, 9]);
    assert.equal(comments.get(4), 'mtuscope #1 pmtu-blackhole (error): segment seq 1000 len 1448 DF; #9 ptb-honoured (info): the quoted segment');
    assert.equal(comments.get(9), 'mtuscope #4 capture-caveat (info): cut by the snaplen');
  });

  it('keeps the number of a finding printed before (live) and numbers new ones after the last', () => {
    const findings = analyse().findings;
    const ids = new Map<string, number>([[liveKey(findings[2]!), 1]]);
    const n = numberFindings(findings, ids);
    assert.deepEqual(
      n.map((f) => [f.id, f.finding.kind]),
      [
        [1, 'fragment-tiny'],
        [2, 'pmtu-blackhole'],
        [3, 'ptb-honoured'],
        [4, 'capture-caveat'],
      ],
    );
  });

  it('knows every finding kind, and no other word', () => {
    assert.equal(new Set(FINDING_KINDS).size, FINDING_KINDS.length);
    assert.ok(isFindingKind('pmtu-blackhole'));
    assert.ok(!isFindingKind('blackhole'));
    assert.ok(!isFindingKind('toString'));
  });
});
