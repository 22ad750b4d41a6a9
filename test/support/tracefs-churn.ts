/**
 * Takes and gives back a tracefs hold ROUNDS times, as parallel tracer runs do, for test/trace/tracefs.test.ts; each
 * hold lasts HOLD_MS (bpftrace's start-up, in miniature) and then checks that the tracepoints are still visible (what
 * bpftrace needs). Prints {"rounds": N, "unseen": M}: M holds at whose end tracefs was gone.
 *
 *   node dist/test/support/tracefs-churn.js ROUNDS HOLD_MS
 *
 * A script, not a module: importing it would start churning.
 */
import { hasTracepoint, holdTracefs, releaseTracefs } from '../../src/trace/tracefs.js';

const rounds = Number(process.argv[2]);
const holdMs = Number(process.argv[3]);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(holdMs) || holdMs < 0) {
  process.stderr.write('usage: tracefs-churn ROUNDS HOLD_MS\n');
  process.exit(2);
}
const sleeper = new Int32Array(new SharedArrayBuffer(4));
let unseen = 0;
for (let i = 0; i < rounds; i++) {
  const hold = holdTracefs();
  try {
    Atomics.wait(sleeper, 0, 0, holdMs);
    if (!hasTracepoint('sched:sched_switch')) unseen++;
  } finally {
    releaseTracefs(hold);
  }
}
process.stdout.write(`${JSON.stringify({ rounds, unseen })}\n`);
