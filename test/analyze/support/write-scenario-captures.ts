/**
 * Writes the captures of every lab scenario (and of its healthy variant) for people building detectors:
 * `node dist/test/analyze/support/write-scenario-captures.js OUTDIR [NAME...]` runs each scenario with captures at its
 * capture points into OUTDIR/<scenario>/<node>.pcapng, with a README.txt saying what happens at each node, and prints
 * what the analyzer currently finds in each. Needs root; scenarios run one after the other.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SCENARIOS } from '../../../src/lab/scenarios/catalogue.js';
import { HEALTHY_VARIANTS } from './healthy-variants.js';
import { captureReadme, findingLine, runAndJudge } from './scenario-captures.js';

async function main(): Promise<void> {
  const [outDir, ...names] = process.argv.slice(2);
  if (outDir === undefined) throw new Error('usage: write-scenario-captures OUTDIR [SCENARIO...]');
  const all = [...SCENARIOS, ...HEALTHY_VARIANTS];
  const chosen = names.length === 0 ? all : all.filter((s) => names.includes(s.name));
  for (const scenario of chosen) {
    const dir = join(outDir, scenario.name);
    await rm(dir, { recursive: true, force: true });
    const started = Date.now();
    const { report, points } = await runAndJudge(scenario, dir);
    await writeFile(join(dir, 'README.txt'), captureReadme(scenario, report));
    console.log(`== ${scenario.name}: ${((Date.now() - started) / 1000).toFixed(1)} s, ${report.asExpected ? 'as expected' : `unmet: ${report.unmet.join('; ')}`}`);
    for (const p of points) {
      console.log(`  ${p.point.node}: ${p.file?.path ?? 'no file'} ${p.file?.packets ?? '?'} packets ${JSON.stringify(p.file?.dropped ?? {})}${p.file?.problem ?? ''}`);
      for (const f of p.analysis?.findings ?? []) console.log(`    ${findingLine(f)}`);
      for (const m of p.judgement?.missing ?? []) console.log(`    MISSING ${m}`);
      for (const m of p.judgement?.excused ?? []) console.log(`    NOT SEEN (capture loss) ${m}`);
      for (const f of p.judgement?.unexplained ?? []) console.log(`    UNEXPLAINED ${f.kind} ${f.severity}`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
