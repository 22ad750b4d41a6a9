import assert from 'node:assert/strict';
import { readdir, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readCaptureFile } from '../../src/capture/reader.js';
import { startLab } from '../../src/lab/lab.js';
import type { LabSpec } from '../../src/lab/spec.js';
import { ANALYZE_WITH_MARKERS } from '../analyze/support/analyze-with-markers.js';
import { needsRoot } from '../support/root.js';

const SPEC: LabSpec = {
  name: 'analyze-live',
  nodes: [
    { name: 'a', kind: 'host' },
    { name: 'b', kind: 'host' },
  ],
  links: [{ endpoints: [{ node: 'a', ifname: 'eth1' }, { node: 'b', ifname: 'eth1' }] }],
};

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('mtuscope analyze --live', needsRoot(), () => {
  it('reports findings as they appear, and Ctrl-C ends it with the summary, the evidence file and no tcpdump left', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mts-live-'));
    const spoolsBefore = (await readdir(tmpdir())).filter((f) => f.startsWith('mtuscope-analyze-'));
    const lab = await startLab(SPEC);
    try {
      const out = join(dir, 'live.pcapng');
      const proc = lab.spawn('a', [process.execPath, ANALYZE_WITH_MARKERS, '--live', 'eth1', '--report-interval', '0.2', '--extract', out]);
      await proc.waitForOutput(/capturing on eth1 with tcpdump \(pid \d+\)/, 10_000);
      const tcpdumpPid = Number(/tcpdump \(pid (\d+)\)/.exec(proc.stderr)![1]);
      assert.ok(alive(tcpdumpPid));
      // 3000 bytes of ping without DF: each echo request leaves a as three fragments (marker: fragment-tiny, warning).
      await lab.mustExec('a', ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '1', '-M', 'dont', '-s', '3000', lab.address('b', 4)], { timeoutMs: 10_000 });
      await proc.waitForOutput(/fragment-tiny/, 10_000);
      // Printed before the end: the live heading, and no summary yet.
      assert.match(proc.stdout, /^findings as they appear on live:eth1 \(id, severity, confidence, kind, interface, flow\):$/m);
      assert.doesNotMatch(proc.stdout, /^result: /m);
      const end = await proc.stop('SIGINT', 10_000);
      assert.equal(end.code, 1, proc.stderr);
      assert.match(proc.stdout, /^file: live:eth1$/m);
      assert.match(proc.stdout, /^interrupted: the capture was ended by a signal/m);
      assert.match(proc.stdout, /^ {2}#1 {2}warning {2}low {5}fragment-tiny/m);
      assert.match(proc.stdout, /^result: \d+ problems? \(0 errors, \d+ warnings?\)/m);
      assert.ok(!alive(tcpdumpPid), `tcpdump ${tcpdumpPid} still runs`);
      assert.doesNotMatch(proc.stderr, /^\s+at /m);
      const evidence = await readCaptureFile(out);
      assert.ok(evidence.length >= 3, `${evidence.length} evidence frames`);
      // Its own spool only (mtuscope-analyze-<pid>-<n>; `ip netns exec` runs it as the spawned pid): other test files
      // run analyze on stdin with --extract beside this one (analyze-command.test.ts), and their spools come and go.
      assert.ok(proc.pid !== undefined);
      const spoolsAfter = (await readdir(tmpdir())).filter((f) => f.startsWith(`mtuscope-analyze-${proc.pid}-`) && !spoolsBefore.includes(f));
      assert.deepEqual(spoolsAfter, []);
    } finally {
      await lab.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 naming tcpdump\'s complaint when the interface does not exist', async () => {
    const lab = await startLab(SPEC);
    try {
      const r = await lab.exec('a', [process.execPath, ANALYZE_WITH_MARKERS, '--live', 'nosuch0'], { timeoutMs: 10_000 });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^mtuscope analyze: tcpdump -i nosuch0 failed: .*nosuch0/m);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    } finally {
      await lab.destroy();
    }
  });
});
