import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { type CheckerLab, startCheckerLab } from '../support/checker-lab.js';
import { needsRoot } from '../support/root.js';

const REACTION_WINDOW_MS = 500;

/**
 * The verdicts when the server's own rate limits hold messages back: what the client was never sent must not count
 * against it. A healthy path; the limits are set so low that the first messages of a test are held back.
 */
describe('checker service with its rate limits reached', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;

  before(async () => {
    c = await startCheckerLab({ name: 'chk-limits', clients: [{ name: 'client' }] });
    serve = await c.serve([
      // 1 fragment a second, bursts of 2: a full-size IPv4 segment leaves as 3 fragments of at most 576 bytes.
      '--fragments-per-client',
      '1',
      '--frag-window',
      '1',
      // 1 Packet Too Big a second, bursts of 2: one test uses up the budget.
      '--icmp-per-client',
      '1',
      '--reaction-window',
      String(REACTION_WINDOW_MS / 1000),
    ]);
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  it('/frag whose fragments the limit held back: inconclusive with the reason, not blocked, and the response arrives', async () => {
    const { result, padding, ms } = await c.fragJson('client', 4);
    const e = result.evidence;
    assert.equal(result.verdict, 'inconclusive', JSON.stringify(result));
    assert.equal(padding, 8192);
    assert.ok(e.fragmentsSuppressed >= 3, JSON.stringify(e));
    assert.match(result.explanation, /rate limit held back/);
    // The window (1 s) from the first segment held back, then the server's next retransmission goes whole.
    assert.ok(ms < 6000, `answer after ${ms} ms`);
    const text = await c.curl('client', [c.url(4, '/frag')]);
    assert.match(text.stdout, /fragments not sent \(rate limit\) +[1-9]\d*\n/);
    assert.match(text.stdout, /\nRESULT: inconclusive\n$/);
  });

  it('/icmp whose first Packet Too Big the limit held back: the reaction counts from the one that was sent, so "pass"', async () => {
    const first = await c.icmpJson('client', 4);
    assert.equal(first.result.verdict, 'pass', JSON.stringify(first.result.evidence));
    await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
    // The first test used up the budget: this one's first drops go unanswered until a token accrues.
    const { result } = await c.icmpJson('client', 4);
    const e = result.evidence;
    assert.ok(e.packetTooBigSuppressed > 0 && e.packetTooBigSent > 0, JSON.stringify(e));
    assert.equal(result.verdict, 'pass', JSON.stringify(e));
    // Linux re-sends at once when a Packet Too Big arrives; a retransmission timer (200 ms at least) is what the
    // time from the first drop would have included.
    assert.ok(e.reactionMs !== null && e.reactionMs < 100, JSON.stringify(e));
    await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
  });
});
