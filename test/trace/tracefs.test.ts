import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { missingTracepoints } from '../../src/trace/bpftrace-tracer.js';
import { dropReasonNames, holdTracefs, releaseTracefs, removeStaleTracefsHolds, TRACEFS_DIR } from '../../src/trace/tracefs.js';
import { needsRoot } from '../support/root.js';

describe('tracefs for the tracer', needsRoot('to mount tracefs'), () => {
  it('holds tracefs while tracing and finds the tracepoints the kernel has, and those it lacks', () => {
    const hold = holdTracefs();
    try {
      assert.ok(existsSync(hold));
      assert.deepEqual(missingTracepoints(['skb:kfree_skb', 'net:net_dev_queue']), []);
      assert.deepEqual(missingTracepoints(['skb:kfree_skb', 'skb:no_such_event', 'nosuch:category']), ['skb:no_such_event', 'nosuch:category']);
      const reasons = dropReasonNames();
      assert.equal(reasons.get(2), 'NOT_SPECIFIED');
      assert.ok([...reasons.values()].includes('PKT_TOO_BIG'));
    } finally {
      releaseTracefs(hold);
    }
    assert.ok(!existsSync(hold));
  });

  it('removes the holds of dead processes only', () => {
    const hold = holdTracefs();
    // A process that has certainly exited: its pid is not running.
    const dead = spawnSync('true').pid;
    const stale = join(TRACEFS_DIR, 'instances', `mtt-${dead}-1`);
    mkdirSync(stale);
    try {
      const removed = removeStaleTracefsHolds();
      assert.ok(removed.includes(`mtt-${dead}-1`));
      assert.ok(!removed.some((n) => hold.endsWith(n)), 'our own live hold stays');
      assert.ok(existsSync(hold));
    } finally {
      releaseTracefs(hold);
    }
  });
});
