/**
 * A process that uses the queue rules the way the engine will, for queue-rules.test.ts to run inside a throwaway
 * network namespace (`ip netns exec NS node queue-rule-driver.js ...`). It reports on stdout, one JSON object a line:
 *
 *   hold SPEC_JSON     install, registerRuleCleanup, report {event:'installed',...}, then obey stdin lines:
 *                      remove | remove-sync (report {event:'removed'}), throw (an uncaught exception),
 *                      exit (stop reading stdin, so the process ends on its own)
 *   find-stale         report {event:'stale', stale}
 *   remove-stale       report {event:'removed-stale', removed}
 *
 * A failure is reported as {event:'error', name, message} with exit status 3.
 */
import { createInterface } from 'node:readline';
import { findStaleQueueRules, installQueueRules, registerRuleCleanup, removeStaleQueueRules, type QueueRuleSpec } from '../../src/engine/queue-rules.js';
import { errorMessage } from '../../src/util/error-message.js';

function report(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function hold(spec: QueueRuleSpec): Promise<void> {
  const rules = await installQueueRules(spec);
  registerRuleCleanup(rules);
  report({ event: 'installed', pid: process.pid, replacedStale: rules.replacedStale, replaced: rules.replaced, chains: rules.chains });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line === 'remove') {
      await rules.remove();
      report({ event: 'removed', removed: rules.removed });
    } else if (line === 'remove-sync') {
      rules.removeSync();
      report({ event: 'removed', removed: rules.removed });
    } else if (line === 'throw') {
      setImmediate(() => {
        throw new Error('driver: an uncaught exception, on purpose');
      });
    } else if (line === 'exit') {
      lines.close();
      process.stdin.destroy();
    }
  }
}

async function main(): Promise<void> {
  const [command, arg] = process.argv.slice(2);
  if (command === 'hold' && arg !== undefined) await hold(JSON.parse(arg) as QueueRuleSpec);
  else if (command === 'find-stale') report({ event: 'stale', stale: await findStaleQueueRules() });
  else if (command === 'remove-stale') report({ event: 'removed-stale', removed: await removeStaleQueueRules() });
  else throw new Error(`usage: queue-rule-driver.js hold SPEC_JSON | find-stale | remove-stale (got ${process.argv.slice(2).join(' ')})`);
}

main().catch((err: unknown) => {
  report({ event: 'error', name: err instanceof Error ? err.name : 'unknown', message: errorMessage(err) });
  process.exitCode = 3;
});
