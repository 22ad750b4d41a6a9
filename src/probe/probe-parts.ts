import { cooperatingServerPart } from './cooperating-server-part.js';
import { middleboxPart } from './middlebox-part.js';
import type { ProbePart } from './probe-part.js';

/**
 * The parts `mtuscope probe` runs besides the hop trace, in this order (see probe-part.ts). Each engineer's part is one
 * import and one entry here.
 */
export const PROBE_PARTS: readonly ProbePart[] = [middleboxPart, cooperatingServerPart];
