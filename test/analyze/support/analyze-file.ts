/** Runs the analyzer with the default detectors over a capture file, as `mtuscope analyze` would. */
import { type AnalysisResult, Analyzer } from '../../../src/analyze/analyzer.js';
import { defaultParts } from '../../../src/analyze/default-parts.js';
import { DEFAULT_LIMITS } from '../../../src/analyze/detector.js';
import type { FactsOptions } from '../../../src/analyze/packet-facts.js';
import { readCaptureBatches } from '../../../src/capture/reader.js';

export async function analyzeFile(path: string, options: FactsOptions = {}): Promise<AnalysisResult> {
  const data = await import('node:fs/promises').then((fs) => fs.readFile(path));
  const pcapng = data.length >= 4 && data.readUInt32LE(0) === 0x0a0d0d0a;
  const analyzer = new Analyzer(defaultParts(DEFAULT_LIMITS), { pcapng, ...options }, DEFAULT_LIMITS);
  for await (const batch of readCaptureBatches(path)) for (const p of batch) analyzer.push(p);
  return analyzer.report(true);
}
