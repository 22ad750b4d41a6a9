/** Runs the analyzer with chosen detectors over a capture file (the frame numbers are the file's, as tshark's). */
import { Analyzer, type AnalysisResult } from '../../../src/analyze/analyzer.js';
import { CLEAN_CAPTURE } from '../../../src/analyze/capture-conditions.js';
import type { Detector } from '../../../src/analyze/detector.js';
import { readCaptureBatches } from '../../../src/capture/reader.js';

export async function analyzeFile(path: string, detectors: readonly Detector[]): Promise<AnalysisResult> {
  const analyzer = new Analyzer({ conditions: { conditions: CLEAN_CAPTURE, observe: () => undefined, report: () => [], evictions: () => [] }, detectors });
  for await (const batch of readCaptureBatches(path)) for (const p of batch) analyzer.push(p);
  return analyzer.report(true);
}
