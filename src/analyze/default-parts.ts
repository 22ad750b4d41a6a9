import type { AnalyzerParts } from './analyzer.js';
import { CaptureConditionsDetector } from './capture-conditions-detector.js';
import type { AnalyzerLimits } from './detector.js';
import { DEFAULT_LIMITS } from './detector.js';
import { EncapsulationDetector } from './encapsulation.js';
import { FragmentDetector } from './fragment-detector.js';
import { MssClampDetector } from './mss-clamp-detector.js';
import { MssTunnelDetector } from './mss-tunnel-detector.js';
import { SegmentExceedsMssDetector } from './segment-exceeds-mss-detector.js';
import { TcpPmtuDetector } from './tcp-pmtu-detector.js';

/** Every detector `mtuscope analyze` runs, sized from `limits`. */
export function defaultParts(limits: AnalyzerLimits = DEFAULT_LIMITS): AnalyzerParts {
  return {
    conditions: new CaptureConditionsDetector(limits),
    detectors: [
      new TcpPmtuDetector(limits),
      new MssClampDetector(limits),
      new MssTunnelDetector(limits),
      new SegmentExceedsMssDetector(limits),
      new FragmentDetector(limits),
      new EncapsulationDetector(limits),
    ],
  };
}
