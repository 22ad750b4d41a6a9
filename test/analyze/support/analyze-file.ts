/**
 * Runs the analyzer over a capture file (the frame numbers are the file's, as tshark's): with the default detectors, as
 * `mtuscope analyze` would (given facts options, or none), or with chosen detectors on a capture known to be clean.
 */
import { type AnalysisResult, Analyzer } from '../../../src/analyze/analyzer.js';
import { CLEAN_CAPTURE } from '../../../src/analyze/capture-conditions.js';
import { defaultParts } from '../../../src/analyze/default-parts.js';
import { DEFAULT_LIMITS, type Detector } from '../../../src/analyze/detector.js';
import type { FactsOptions } from '../../../src/analyze/packet-facts.js';
import { readCaptureBatches } from '../../../src/capture/reader.js';

function isDetectorList(x: readonly Detector[] | FactsOptions): x is readonly Detector[] {
  return Array.isArray(x);
}

export async function analyzeFile(path: string, using: readonly Detector[] | FactsOptions = {}): Promise<AnalysisResult> {
  let analyzer: Analyzer;
  if (isDetectorList(using)) {
    analyzer = new Analyzer({ conditions: { conditions: CLEAN_CAPTURE, observe: () => undefined, report: () => [], evictions: () => [] }, detectors: using });
  } else {
    const data = await import('node:fs/promises').then((fs) => fs.readFile(path));
    const pcapng = data.length >= 4 && data.readUInt32LE(0) === 0x0a0d0d0a;
    analyzer = new Analyzer(defaultParts(DEFAULT_LIMITS), { pcapng, ...using }, DEFAULT_LIMITS);
  }
  for await (const batch of readCaptureBatches(path)) for (const p of batch) analyzer.push(p);
  return analyzer.report(true);
}
