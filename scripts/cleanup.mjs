// Removes what crashed labs, test runs and checker services left behind: namespaces named mtl-<id>-* whose lab is
// gone or whose owning process died (with the processes inside them), stale registry entries and drop-trace
// instances, and the NFQUEUE rule sets of `mtuscope serve` runs that were killed (in this network namespace). Labs
// still in use, labs brought up with `mtuscope lab up` and rules of running services are left alone.
import { gcLabs } from '../dist/src/lab/gc.js';
import { removeStaleQueueRules } from '../dist/src/engine/queue-rules.js';

const report = await gcLabs();
const rules = await removeStaleQueueRules();
const removed = [
  ...report.namespaces,
  ...report.traces.map((t) => `trace ${t}`),
  ...rules.map((r) => `IPv${r.family} rules for port ${r.port}${r.pid === null ? '' : ` (pid ${r.pid})`}`),
];
console.log(removed.length === 0 ? 'cleanup: nothing left over' : `cleanup: removed ${removed.join(', ')}`);
if (report.failed.length > 0) {
  console.error(`cleanup: could not delete ${report.failed.join(' ')}`);
  process.exitCode = 1;
}
