// Removes what crashed labs, test runs and checker services left behind: namespaces named mtl-<id>-* whose lab is
// gone or whose owning process died (with the processes inside them), stale registry entries, the tracefs instances of
// tracers that died (and the drop-trace instances of earlier versions), the NFQUEUE rule sets of `mtuscope serve` runs that were killed and the rules and policy routes of a killed
// `mtuscope relay` and of a killed `mtuscope probe --server-test` (in this network namespace). Labs still in use, labs brought up with `mtuscope lab up` and rules of
// running services and relays are left alone.
import { gcLabs } from '../dist/src/lab/gc.js';
import { removeStaleQueueRules } from '../dist/src/engine/queue-rules.js';
import { RelayRulesInUseError, removeStaleRelayRules } from '../dist/src/relay/relay-rules.js';
import { removeStaleServerTestRules } from '../dist/src/probe/server-test-rules.js';

const report = await gcLabs();
const rules = await removeStaleQueueRules();
let relay = false;
try {
  relay = removeStaleRelayRules();
} catch (err) {
  if (!(err instanceof RelayRulesInUseError)) throw err;
}
const serverTest = removeStaleServerTestRules();
const removed = [
  ...(relay ? ['the rules and routes of a killed relay'] : []),
  ...(serverTest ? ['the queue rules of a killed probe --server-test'] : []),
  ...report.namespaces,
  ...report.traces.map((t) => `tracefs instance ${t}`),
  ...rules.map((r) => `IPv${r.family} rules for port ${r.port}${r.pid === null ? '' : ` (pid ${r.pid})`}`),
];
console.log(removed.length === 0 ? 'cleanup: nothing left over' : `cleanup: removed ${removed.join(', ')}`);
if (report.failed.length > 0) {
  console.error(`cleanup: could not delete ${report.failed.join(' ')}`);
  process.exitCode = 1;
}
