// The analyzer pipeline over one capture file, for bench/analyze until `mtuscope analyze` exists: reads FILE with
// readCaptureBatches, pushes every packet into `new Analyzer(defaultParts())`, calls report(true) and prints the
// findings as JSON, one object per line (what `mtuscope analyze FILE --json` is timed for).
//
//   node dist/bench/analyze-driver.js FILE
import { Analyzer } from '../src/analyze/analyzer.js';
import { defaultParts } from '../src/analyze/default-parts.js';
import { readCaptureBatches } from '../src/capture/reader.js';
import { runBench } from './run-bench.js';

runBench('analyze-driver', async () => {
  const file = process.argv[2];
  if (file === undefined) throw new Error('usage: node dist/bench/analyze-driver.js FILE');
  const analyzer = new Analyzer(defaultParts());
  for await (const batch of readCaptureBatches(file)) for (const p of batch) analyzer.push(p);
  const result = analyzer.report(true);
  let out = '';
  for (const f of result.findings) out += `${JSON.stringify(f)}\n`;
  process.stdout.write(out);
  process.stderr.write(`${result.packets} packets, ${result.findings.length} findings, ${result.flows.length} flows\n`);
  return 0;
});
