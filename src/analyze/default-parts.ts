import type { AnalyzerParts } from './analyzer.js';
import { CLEAN_CAPTURE } from './capture-conditions.js';
import type { AnalyzerLimits } from './detector.js';
import { DEFAULT_LIMITS } from './detector.js';
import { EncapsulationDetector } from './encapsulation.js';

/** Every detector `mtuscope analyze` runs, sized from `limits`. */
export function defaultParts(limits: AnalyzerLimits = DEFAULT_LIMITS): AnalyzerParts {
  return {
    conditions: { conditions: CLEAN_CAPTURE, observe: () => undefined, report: () => [], evictions: () => [] },
    detectors: [new EncapsulationDetector(limits)],
  };
}
