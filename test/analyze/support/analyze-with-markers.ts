/**
 * `mtuscope analyze` with the marker detector (marker-detector.ts) instead of the real detectors, as a program of
 * its own: `node dist/test/analyze/support/analyze-with-markers.js ARGS...` behaves exactly as `mtuscope analyze
 * ARGS...` (same option table, output, exit statuses, signals), but its findings are known in advance.
 */
import { fileURLToPath } from 'node:url';
import { analyzeCommandWith } from '../../../src/cli/analyze-command.js';
import { invokeCommand } from '../../../src/cli/command.js';
import { markerParts } from './marker-detector.js';

export const ANALYZE_WITH_MARKERS = fileURLToPath(import.meta.url);

if (process.argv[1] === ANALYZE_WITH_MARKERS) {
  process.exitCode = await invokeCommand(analyzeCommandWith(markerParts), process.argv.slice(2));
}
