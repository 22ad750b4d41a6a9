import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { type CheckerLab, startCheckerLab } from '../support/checker-lab.js';
import { needsRoot } from '../support/root.js';

describe('checker service behind a router that clamps the MSS to 536', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;

  before(async () => {
    c = await startCheckerLab({ name: 'chk-clamp', router: { clampMss: 536 }, clients: [{ name: 'client' }] });
    serve = await c.serve();
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  it('inconclusive for both families, reporting the clamped MSS and the largest packet', async () => {
    for (const family of [4, 6] as const) {
      const { result } = await c.icmpJson('client', family);
      assert.equal(result.verdict, 'inconclusive', JSON.stringify(result.evidence));
      assert.equal(result.evidence.clientMss, 536);
      assert.equal(result.evidence.largestClientPacket, family === 4 ? 576 : 596);
      assert.equal(result.evidence.packetTooBigSent, 0);
      assert.match(result.explanation, /clamped MSS/);
    }
  });
});
