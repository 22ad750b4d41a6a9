import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { missingTracepoints } from '../../src/trace/bpftrace-tracer.js';
import { dropReasonNames, holdTracefs, TRACEFS_MOUNT_SOURCE, releaseTracefs, removeStaleTracefsHolds, TRACEFS_DIR, tracefsMounted, tracefsMountSources } from '../../src/trace/tracefs.js';
import { needsRoot } from '../support/root.js';
import { until } from '../support/until.js';

const CHURN = fileURLToPath(new URL('../support/tracefs-churn.js', import.meta.url));

function churn(rounds: number, holdMs: number, pids: number[]): Promise<{ rounds: number; unseen: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHURN, String(rounds), String(holdMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) pids.push(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`tracefs-churn exited ${String(code)}: ${err}`));
      else resolve(JSON.parse(out) as { rounds: number; unseen: number });
    });
  });
}

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

  it('keeps tracefs mounted for every holder while parallel users mount and unmount it', async (t) => {
    if (tracefsMountSources().some((source) => source !== TRACEFS_MOUNT_SOURCE)) {
      t.skip('tracefs is mounted by someone else here, so nobody unmounts it');
      return;
    }
    // Another test file's tracer may hold it (the suite runs two files at a time): wait for it to finish, so that the
    // churners themselves mount and unmount.
    await until(() => !tracefsMounted(), 60_000, 'tracefs unmounted by its other users').catch(() => undefined);
    // Each round of one process mounts or unmounts while the other holds: an unmount between the other's hold and its
    // use is what made bpftrace miss its tracepoints.
    const pids: number[] = [];
    const results = await Promise.all([churn(150, 3, pids), churn(150, 3, pids), churn(150, 3, pids)]);
    assert.deepEqual(results.map((r) => r.unseen), [0, 0, 0], 'holds that found tracefs gone');
    const left = tracefsMounted() ? readdirSync(join(TRACEFS_DIR, 'instances')).filter((n) => pids.some((pid) => n.startsWith(`mtt-${pid}-`))) : [];
    assert.deepEqual(left, [], 'instances the churners left');
  });
});
