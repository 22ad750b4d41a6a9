import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatReport, median, summarize, type FamilyFigures, type OurRun } from '../../bench/probe-report.js';

function our(ms: number, complete = true): OurRun {
  return { ms, exitCode: 1, traceProbes: 55, partProbes: 11, complete, found: complete ? 'black holes: after hop 6 before hop 7 (1500 bytes); path MTU 1400' : 'black holes: none; path MTU unknown' };
}

function fam(ours: OurRun[], tracepathMs: number[]): FamilyFigures {
  return { family: 4, ours, tracepath: tracepathMs.map((ms) => ({ ms, output: ' 7:  no reply\n     Resume: pmtu 1500\n', resumePmtu: 1500 })) };
}

describe('bench/probe report', () => {
  it('medians of odd and even counts, none of nothing', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([]), undefined);
  });

  it('ours in under 2x tracepath with every diagnosis complete meets the target; 2x or more, or one incomplete run, misses it', () => {
    const met = summarize(fam([our(2600), our(2800), our(2700)], [18000, 18100, 17900]));
    assert.equal(met.oursMs, 2700);
    assert.equal(met.tracepathMs, 18000);
    assert.equal(met.ratio, 0.15);
    assert.equal(met.traceProbes, 55);
    assert.equal(met.met, true);
    assert.equal(summarize(fam([our(40_000)], [18000])).met, false);
    const incomplete = summarize(fam([our(2600), our(2700, false)], [18000, 18000]));
    assert.equal(incomplete.completeRuns, 1);
    assert.equal(incomplete.met, false);
  });

  it('the printout has the ratio per family, tracepath output verbatim, and says MISSED with the incomplete diagnosis', () => {
    const run = { routers: 10, blackHoleHop: 6, linkMtu: 1400, rateLimits: 'off on every node', tracepathMaxHops: 12, ourArgs: ['--json', '--no-server'] };
    const good = formatReport({ ...run, families: [fam([our(2700)], [18000])] });
    assert.equal(good.ok, true);
    assert.match(good.text, /IPv4 +2\.70 s +18\.00 s +0\.15x +55 \+ 11 +1\/1 +met/);
    assert.match(good.text, / 7: {2}no reply\n {5}Resume: pmtu 1500/);
    const bad = formatReport({ ...run, families: [fam([our(2700, false)], [18000])] });
    assert.equal(bad.ok, false);
    assert.match(bad.text, /MISSED/);
    assert.match(bad.text, /incomplete diagnosis: black holes: none; path MTU unknown/);
  });
});
