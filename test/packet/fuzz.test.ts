import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeFrame } from '../../src/packet/frame.js';
import { fuzzInputs } from '../support/fuzz-inputs.js';

describe('frame decoder under hostile input', () => {
  it('returns a result for 50,000 random and mutated frames without throwing, with offsets inside the frame', () => {
    let errors = 0;
    let n = 0;
    for (const input of fuzzInputs(50_000, 0x5eed)) {
      n++;
      let f;
      try {
        f = decodeFrame(input.linkType, input.data, input.originalLength);
      } catch (err) {
        assert.fail(`input ${n} (link type ${input.linkType}, ${Buffer.from(input.data).toString('hex')}) threw: ${String(err)}`);
      }
      for (const l of f.layers) assert.ok(l.offset >= 0 && l.offset <= input.data.length, `layer offset ${l.offset} outside frame`);
      if (f.error) {
        errors++;
        assert.ok(f.error.offset >= 0 && f.error.offset <= input.data.length, `error offset ${f.error.offset} outside frame of ${input.data.length}`);
        assert.ok(f.error.protocol && f.error.field && f.error.reason);
      }
    }
    // The mutations must actually reach the error paths, or this test proves nothing.
    assert.ok(errors > 1000, `only ${errors} malformed results`);
  });
});
