// Removes what crashed labs and test runs left behind: namespaces named mtl-<id>-* whose lab is gone or whose owning
// process died (with the processes inside them), stale registry entries and drop-trace instances. Labs still in use,
// and labs brought up with `mtuscope lab up`, are left alone. The same as `mtuscope lab gc`.
import { gcLabs } from '../dist/src/lab/gc.js';

const report = await gcLabs();
const removed = [...report.namespaces, ...report.traces.map((t) => `trace ${t}`)];
console.log(removed.length === 0 ? 'cleanup: nothing left over' : `cleanup: removed ${removed.join(' ')}`);
if (report.failed.length > 0) {
  console.error(`cleanup: could not delete ${report.failed.join(' ')}`);
  process.exitCode = 1;
}
