import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { type CheckerLab, startCheckerLab } from '../support/checker-lab.js';
import { needsRoot } from '../support/root.js';

const WINDOW_S = 10;

/** A router that drops ICMP "fragmentation needed" / Packet Too Big and IP fragments; the client relies on PMTUD alone. */
describe('checker service on a path that drops ICMP and fragments', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;

  before(async () => {
    c = await startCheckerLab({
      name: 'chk-broken',
      router: { dropPacketTooBig: true, dropFragments: true },
      clients: [{ name: 'plain' }],
    });
    serve = await c.serve(['--window', String(WINDOW_S)]);
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  it('blackhole for both families, and the verdict still arrives soon after the window', async () => {
    const [v4, v6] = await Promise.all([c.icmpJson('plain', 4), c.icmpJson('plain', 6)]);
    for (const { result, ms } of [v4, v6]) {
      assert.equal(result.verdict, 'blackhole', JSON.stringify(result.evidence));
      assert.ok(result.evidence.packetTooBigSent > 1);
      assert.ok(result.evidence.retransmissions > 1);
      assert.equal(result.evidence.reactionMs, null);
      // The window, then at most one backed-off retransmission timer of the client (Linux: 0.2 s doubling, 6.4 s).
      assert.ok(ms < (WINDOW_S + 8) * 1000, `verdict after ${ms} ms`);
      assert.ok(ms >= WINDOW_S * 1000, `verdict after ${ms} ms, before the window ended`);
    }
  });

  it('/frag: blocked for both families, and the whole response still arrives', async () => {
    const [v4, v6] = await Promise.all([c.fragJson('plain', 4), c.fragJson('plain', 6)]);
    for (const { result, padding, ms } of [v4, v6]) {
      assert.equal(result.verdict, 'blocked', JSON.stringify(result.evidence));
      assert.equal(padding, 8192);
      assert.ok(result.evidence.fragmentsSent > 0);
      assert.ok(result.evidence.retransmissions >= 3);
      assert.ok(ms < 15_000, `response took ${ms} ms`);
    }
    const text = await c.curl('plain', [c.url(4, '/frag')]);
    assert.match(text.stdout, /Verdict: blocked\. .*\n(.*\n)*RESULT: blocked\n$/);
  });
});
