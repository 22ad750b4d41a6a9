import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { likelyEncapsulation, mtuWithLikelyCause } from '../../src/probe/encapsulation-names.js';
import type { HopTraceResult } from '../../src/probe/hop-trace.js';
import { ptbFromTargetFinding } from '../../src/probe/cooperating-server-verdict.js';
import { diagnose } from '../../src/probe/probe-diagnosis.js';
import type { ProbeFinding } from '../../src/probe/probe-finding.js';
import { traceFindings } from '../../src/probe/trace-findings.js';

const FACTS = { family: 4 as const, destination: '10.0.5.2', deviceMtu: 1500 };
const HOPS = [1, 2, 3, 4, 5].map((hop) => ({ hop, address: `10.0.${hop}.2`, isDestination: hop === 5 }));

function trace(over: Partial<HopTraceResult>): HopTraceResult {
  return { hops: HOPS, destinationHop: 5, packetTooBig: [], blackHoles: [], probesSent: 10, durationMs: 100, timedOut: false, ...over };
}

describe('probe findings and diagnosis', () => {
  it('a clear path is healthy with high confidence, and says so; a Packet Too Big that arrived is no problem', () => {
    const d = diagnose(traceFindings(trace({ pathMtu: 1500, pathMtuFrom: 'trace' }), FACTS));
    assert.equal(d.problem, false);
    assert.equal(d.confidence, 'high');
    assert.match(d.paragraph, /^Healthy: IPv4: 1500-byte packets, the full size of this host's link, reach 10\.0\.5\.2 at hop 5\./);
    const ptb = diagnose(traceFindings(trace({ pathMtu: 1420, packetTooBig: [{ hop: 2, router: '10.0.2.2', mtu: 1420, estimated: false, probeSize: 1500, invalid: false }] }), FACTS));
    assert.equal(ptb.problem, false);
    assert.match(ptb.findings.map((f) => f.sentence).join(' '), /hop 2 \(10\.0\.2\.2\) reports an MTU of 1420 \(likely WireGuard/);
  });

  it('a black hole is a problem naming the hop, the sizes and what it means for TCP, UDP/QUIC and DNS', () => {
    const hole = { size: 1500, afterHop: 2, beforeHop: 3, foundBy: 'scan' as const };
    const missing = diagnose(traceFindings(trace({ pathMtu: 1400, pathMtuFrom: 'search', blackHoles: [{ ...hole, fragmentedCopyPassed: true }] }), FACTS));
    assert.equal(missing.problem, true);
    assert.equal(missing.confidence, 'medium');
    assert.equal(missing.findings[0]?.code, 'ptb-missing');
    assert.deepEqual(missing.findings[0]?.where, { afterHop: 2, beforeHop: 3, address: '10.0.2.2' });
    assert.match(missing.paragraph, /1500-byte packets with DF vanish between hop 2 \(10\.0\.2\.2\) and hop 3 \(10\.0\.3\.2\)/);
    assert.match(missing.paragraph, /TCP.*QUIC.*DNS/);
    const mismatch = diagnose(traceFindings(trace({ pathMtu: 1400, blackHoles: [{ ...hole, fragmentedCopyPassed: false }] }), FACTS));
    assert.equal(mismatch.findings[0]?.code, 'silent-mtu-mismatch');
    const unknown = diagnose(traceFindings(trace({ pathMtu: 1400, blackHoles: [hole] }), { ...FACTS, family: 6 }));
    assert.equal(unknown.findings[0]?.code, 'black-hole');
    assert.equal(unknown.confidence, 'low');
  });

  it('a silent destination or a run cut short is "cannot tell", not healthy', () => {
    const neverReached: HopTraceResult = { hops: HOPS.slice(0, 4), packetTooBig: [], blackHoles: [], probesSent: 90, durationMs: 9000, timedOut: false };
    const silent = diagnose(traceFindings(neverReached, FACTS));
    assert.equal(silent.problem, false);
    assert.match(silent.paragraph, /^Cannot tell: /);
    const cut = diagnose(traceFindings(trace({ pathMtu: 1500, timedOut: true }), FACTS));
    assert.match(cut.paragraph, /^Cannot tell: .*time limit/);
  });

  it("other parts' findings are merged: problems first, surest first, duplicates once", () => {
    const other: ProbeFinding = { code: 'mss-clamped', problem: true, confidence: 'high', where: { afterHop: 1, beforeHop: 2 }, sentence: 'MSS clamped from 1460 to 1344 between hop 1 and hop 2.' };
    const d = diagnose([...traceFindings(trace({ pathMtu: 1500 }), FACTS), other, other]);
    assert.equal(d.problem, true);
    assert.deepEqual(d.findings.map((f) => f.code), ['mss-clamped', 'path-clear']);
    assert.match(d.paragraph, /^Problem \(confidence high\): MSS clamped/);
  });

  it('a search probe lost once and answered when sent again is named as a random loss, with what the path MTU stands on; without one, nothing is said', () => {
    const base = { method: 'rfc8899-binary' as const, basePlpmtu: 1200, maxPlpmtu: 1499, state: 'SEARCH_COMPLETE' as const, probes: [], reachedHops: [] };
    const search = { ...base, pathMtu: 1450, smallestFailing: 1451 };
    const hole = { size: 1500, afterHop: 2, beforeHop: 3, foundBy: 'scan' as const, fragmentedCopyPassed: true };
    const d = diagnose(traceFindings(trace({ pathMtu: 1450, pathMtuFrom: 'search', blackHoles: [hole], search: { ...search, notReproduced: [1425] } }), FACTS));
    assert.equal(d.findings[0]?.code, 'ptb-missing');
    const loss = d.findings.find((f) => f.code === 'loss-not-reproduced');
    assert.deepEqual(loss, {
      code: 'loss-not-reproduced',
      family: 'ipv4',
      problem: false,
      confidence: 'high',
      direction: 'to-target',
      sentence:
        'IPv4: a 1425-byte probe to 10.0.5.2 was lost once while the small probe sent right behind it was answered, but got through when sent ' +
        'again: a random loss (congestion, a queue drop), not the path MTU, and the search did not count it. The path MTU 1450 stands: 1451-byte ' +
        'probes were lost twice, each time while the small probe behind them was answered.',
    });
    // The scan's own size lost twice, then through: no black hole, a healthy path that says what happened.
    const clear = diagnose(traceFindings(trace({ pathMtu: 1500, pathMtuFrom: 'search', search: { ...base, pathMtu: 1500, notReproduced: [1500] } }), FACTS));
    assert.equal(clear.problem, false);
    assert.match(clear.paragraph, /^Healthy: IPv4: 1500-byte packets, the full size of this host's link, reach 10\.0\.5\.2 at hop 5\./);
    assert.match(clear.findings.map((f) => f.sentence).join(' '), /a 1500-byte probe .* got through when sent again.* 1500-byte packets reach the destination\./);
    // Not as expected: a search without such a loss says nothing of the kind.
    const plain = diagnose(traceFindings(trace({ pathMtu: 1450, pathMtuFrom: 'search', blackHoles: [hole], search }), FACTS));
    assert.equal(plain.findings.some((f) => f.code === 'loss-not-reproduced'), false);
  });

  it('names only likely encapsulations, and none for an MTU that suggests none', () => {
    assert.equal(likelyEncapsulation(1492), 'PPPoE: 8 bytes');
    assert.equal(mtuWithLikelyCause(1420), '1420 (likely WireGuard, its default MTU: 80 bytes for an IPv6 outer header)');
    assert.match(mtuWithLikelyCause(1450), /VXLAN over IPv4/);
    assert.match(mtuWithLikelyCause(1476), /GRE/);
    assert.equal(likelyEncapsulation(1337), undefined);
    assert.equal(mtuWithLikelyCause(1500), '1500');
  });

  describe('a black hole with the cooperating server\'s Packet Too Big test', () => {
    const hole = { size: 1500, afterHop: 3, beforeHop: 4, foundBy: 'scan' as const };
    const missing = traceFindings(trace({ pathMtu: 1400, pathMtuFrom: 'search', blackHoles: [{ ...hole, fragmentedCopyPassed: true }] }), FACTS);
    const measured =
      'IPv4: 1500-byte packets with DF vanish between hop 3 (10.0.3.2) and hop 4 (10.0.4.2) without any Packet Too Big, while small packets get through. ' +
      '1400-byte packets still reach the destination (path MTU 1400 (likely an IPsec or VPN default), found without ICMP). The same size without DF got ' +
      'through in fragments, so the router at hop 3 (10.0.3.2) knows its next link is smaller: either it does not send Packet Too Big, or a router ' +
      'between here and it drops the message on its way back (from here the two look the same).';
    const test = { requestSize: 128, requestsSent: 3, controlsArrived: 3 };
    const arrived = ptbFromTargetFinding(4, '10.0.5.2', { ...test, requestsSent: 1, controlsArrived: 1, result: 'arrived', ms: 1 });
    const lost = ptbFromTargetFinding(4, '10.0.5.2', { ...test, result: 'lost' });
    const where = { afterHop: 3, beforeHop: 4, address: '10.0.3.2' };

    it('without the server the finding stays "cannot tell which" (ptb-missing, medium)', () => {
      const d = diagnose(missing);
      assert.deepEqual(d.findings[0], { code: 'ptb-missing', family: 'ipv4', problem: true, confidence: 'medium', where, direction: 'to-target', sentence: measured });
      // A test of the other family does not pair with it.
      const other = diagnose([...missing, ptbFromTargetFinding(6, 'fd00:5::2', { ...test, result: 'arrived' })]);
      assert.equal(other.findings[0]?.code, 'ptb-missing');
    });

    it('a Packet Too Big from the target arrived: hop 3 does not send one (ptb-not-sent, confidence raised to high)', () => {
      const d = diagnose([...missing, arrived]);
      assert.deepEqual(d.findings[0], {
        code: 'ptb-not-sent',
        family: 'ipv4',
        problem: true,
        confidence: 'high',
        where,
        direction: 'to-target',
        sentence:
          `${measured} The target's mtuscope server tells the two apart: a Packet Too Big it sent toward this host crossed the same path back, so the ` +
          'router at hop 3 (10.0.3.2) does not send Packet Too Big (or its own firewall drops it).',
      });
      assert.equal(d.confidence, 'high');
      assert.match(d.paragraph, /^Problem \(confidence high\): IPv4: 1500-byte packets .* does not send Packet Too Big \(or its own firewall drops it\)\. For TCP/);
      assert.match(d.paragraph, /have the operator of the router at or just after hop 3 \(10\.0\.3\.2\) make it send ICMP "fragmentation needed"/);
      assert.deepEqual(d.findings.map((f) => f.code), ['ptb-not-sent', 'ptb-from-target-arrives']);
    });

    it('a Packet Too Big from the target was lost while its controls arrived: hop 3 most likely sends one and a router on the way back drops it', () => {
      const d = diagnose([...missing, lost]);
      const refined = d.findings.find((f) => f.code === 'ptb-dropped-on-return');
      assert.deepEqual(refined, {
        code: 'ptb-dropped-on-return',
        family: 'ipv4',
        problem: true,
        confidence: 'medium',
        where,
        direction: 'to-target',
        sentence:
          `${measured} The target's mtuscope server tells the two apart: a Packet Too Big it sent toward this host did not arrive while its UDP answers ` +
          'did, so the router at hop 3 (10.0.3.2) most likely sends one, but a router on the way back drops forwarded Packet Too Big (the target\'s own ' +
          'message was lost the same way).',
      });
      // The measured loss of the target's own message is surer than what it explains: it leads.
      assert.deepEqual(d.findings.map((f) => [f.code, f.confidence]), [['ptb-from-target-dropped', 'high'], ['ptb-dropped-on-return', 'medium']]);
      assert.match(d.paragraph, /^Problem \(confidence high\): IPv4: an ICMP "fragmentation needed" the server at 10\.0\.5\.2 sent toward this host did not arrive/);
      assert.match(d.paragraph, /let it through \(RFC 4890\)\. 1 more problem below\.$/);
    });

    it('IPv6 (a mismatch still possible): arrived gives ptb-not-sent at medium naming the mismatch too; lost gives ptb-dropped-on-return at medium', () => {
      const v6 = traceFindings(trace({ pathMtu: 1400, blackHoles: [hole] }), { ...FACTS, family: 6 });
      assert.deepEqual([v6[0]?.code, v6[0]?.confidence], ['black-hole', 'low']);
      const up = diagnose([...v6, ptbFromTargetFinding(6, 'fd00:5::2', { ...test, result: 'arrived' })]);
      assert.deepEqual([up.findings[0]?.code, up.findings[0]?.confidence], ['ptb-not-sent', 'medium']);
      assert.match(
        up.findings[0]?.sentence ?? '',
        /The target's mtuscope server narrows it down: a Packet Too Big it sent toward this host crossed the same path back, so the router at hop 3 \(10\.0\.3\.2\) does not send Packet Too Big \(or its own firewall drops it\), unless the two ends of its next link disagree on the MTU/,
      );
      const down = diagnose([...v6, ptbFromTargetFinding(6, 'fd00:5::2', { ...test, result: 'lost' })]);
      assert.deepEqual(down.findings.map((f) => [f.code, f.confidence]), [['ptb-from-target-dropped', 'high'], ['ptb-dropped-on-return', 'medium']]);
      // A test that could not be done changes nothing.
      const none = diagnose([...v6, ptbFromTargetFinding(6, 'fd00:5::2', { ...test, controlsArrived: 0, result: 'not-tested', reason: 'no answer' })]);
      assert.deepEqual([none.findings[0]?.code, none.confidence], ['black-hole', 'low']);
    });

    it('a silent mismatch is not refined: the test says nothing about a router that believes the packet fits', () => {
      const mismatch = traceFindings(trace({ pathMtu: 1400, blackHoles: [{ ...hole, fragmentedCopyPassed: false }] }), FACTS);
      assert.equal(diagnose([...mismatch, arrived]).findings[0]?.code, 'silent-mtu-mismatch');
    });

    it('a clear path with the test passed is healthy; with the test failed it is a problem (a smaller link would be a black hole)', () => {
      const clear = traceFindings(trace({ pathMtu: 1500, pathMtuFrom: 'trace' }), FACTS);
      const ok = diagnose([...clear, arrived]);
      assert.equal(ok.problem, false);
      assert.match(ok.paragraph, /^Healthy: /);
      const bad = diagnose([...clear, lost]);
      assert.deepEqual([bad.problem, bad.findings[0]?.code], [true, 'ptb-from-target-dropped']);
    });
  });
});
