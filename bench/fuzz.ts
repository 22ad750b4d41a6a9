// Fuzzes the frame decoder with at least a million random and mutated frames (default 1,000,000; pass a count
// and a seed to change). Exits non-zero, printing the input, if any exception escapes the decoder.
import { decodeFrame } from '../src/packet/frame.js';
import { fuzzInputs } from '../test/support/fuzz-inputs.js';

const count = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? Date.now() % 0xffffffff);
const started = process.hrtime.bigint();
let malformed = 0;
let truncated = 0;
let n = 0;
for (const input of fuzzInputs(count, seed)) {
  n++;
  try {
    const f = decodeFrame(input.linkType, input.data, input.originalLength);
    if (f.error) malformed++;
    if (f.truncated) truncated++;
  } catch (err) {
    console.error(`seed ${seed} input ${n}: link type ${input.linkType} bytes ${Buffer.from(input.data).toString('hex')}`);
    console.error(err);
    process.exit(1);
  }
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(`fuzz: ${n} inputs (seed ${seed}) in ${seconds.toFixed(1)} s, no exception; ${malformed} malformed, ${truncated} truncated`);
