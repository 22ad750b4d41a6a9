import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { withScratchDir } from '../../bench/remove-on-signal.js';

describe('the benchmarks\' scratch directory', () => {
  it('exists while it is used and is gone afterwards, also when the work fails', async () => {
    let seen = '';
    assert.equal(await withScratchDir('mtuscope-test-scratch-', async (dir) => ((seen = dir), existsSync(dir) ? 7 : 0)), 7);
    assert.match(seen, /mtuscope-test-scratch-/);
    assert.equal(existsSync(seen), false);
    await assert.rejects(withScratchDir('mtuscope-test-scratch-', async (dir) => {
      seen = dir;
      throw new Error('bench failed');
    }), /bench failed/);
    assert.equal(existsSync(seen), false);
  });
});
