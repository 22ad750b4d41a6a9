/**
 * Ground truth from real kernels: every scenario of the lab catalogue runs with captures at its capture points, the
 * analyzer reads each capture, and it must name the scenario's failure at the place the scenario says it is visible
 * (CapturePoint.expect), and report no error or warning that the scenario does not explain. The healthy variants
 * (the same labs without the fault, and the relay scenarios for ecmp-ptb-wrong-server) must show no error or warning at
 * all. One test per scenario, so that each failing expectation can be routed to the detector it needs.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { listNamespaces } from '../../src/lab/namespaces.js';
import { SCENARIOS } from '../../src/lab/scenarios/catalogue.js';
import type { Scenario } from '../../src/lab/scenarios/scenario.js';
import { needsRoot } from '../support/root.js';
import { HEALTHY_VARIANTS } from './support/healthy-variants.js';
import { findingLine, runAndJudge, type CapturedPointResult } from './support/scenario-captures.js';

/** What went wrong at one capture point, in words an engineer can route: missing findings (and whether their kind appeared at all), false findings. */
function problems(p: CapturedPointResult): string[] {
  if (p.file === undefined || p.analysis === undefined || p.judgement === undefined) return [`${p.point.node}: no capture file`];
  const out: string[] = [];
  if (p.file.problem !== undefined) out.push(`${p.point.node}: capture problem: ${p.file.problem}`);
  const kindsSeen = new Set(p.analysis.findings.map((f) => f.kind));
  for (const m of p.judgement.missing) {
    const kinds = m.slice(m.indexOf(':') + 2, m.indexOf(' (')).split(' or ');
    const why = kinds.some((k) => kindsSeen.has(k as never)) ? 'a finding of that kind was made, but not at this place' : 'DETECTOR MISSING? no finding of that kind at all in this capture';
    out.push(`${p.point.node}: expected ${m} -- ${why}`);
  }
  for (const f of p.judgement.unexplained) out.push(`${p.point.node}: false finding: ${findingLine(f)}`);
  // Not failures: the capture lost packets (dumpcap's own count), so the evidence may not be in it.
  for (const m of p.judgement.excused) console.log(`# ${p.point.node}: expected ${m}`);
  return out;
}

function describeRun(points: readonly CapturedPointResult[]): string {
  return points
    .map((p) => `  ${p.point.node} (${p.file?.interfaces.join(', ') ?? '?'}, ${p.analysis?.packets ?? '?'} packets):\n${(p.analysis?.findings ?? []).map((f) => `    ${findingLine(f)}`).join('\n') || '    no findings'}`)
    .join('\n');
}

async function judgeScenario(scenario: Scenario): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), `mtuscope-captures-${scenario.name}-`));
  try {
    const { report, points } = await runAndJudge(scenario, dir);
    assert.deepEqual(
      listNamespaces().filter((n) => n.startsWith(`mtl-${report.lab.id}-`)),
      [],
      'the lab is gone',
    );
    assert.ok(points.length > 0, `${scenario.name} names capture points`);
    const wrong = points.flatMap(problems);
    assert.deepEqual(wrong, [], `${scenario.name}: the analyzer's findings at its capture points:\n${describeRun(points)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('the analyzer names each lab scenario’s failure where its capture points say it is visible', needsRoot(), () => {
  for (const scenario of SCENARIOS) {
    it(`${scenario.name}: ${(scenario.capturePoints ?? []).map((p) => `${p.node} shows ${[...new Set(p.expect.filter((e) => e.need !== 'tolerated').flatMap((e) => e.kinds))].join('/') || 'nothing wrong'}`).join('; ')}`, async () => {
      await judgeScenario(scenario);
    });
  }
});

describe('the analyzer reports no error or warning on the healthy variants of the scenarios', needsRoot(), () => {
  for (const scenario of HEALTHY_VARIANTS) {
    it(`${scenario.name}: ${scenario.title}`, async () => {
      await judgeScenario(scenario);
    });
  }
});
