/**
 * Runs the server test the way `mtuscope probe --server-test URL` will (runServerTest of src/cli/probe-server-test.ts
 * with its option table), for the lab tests until the probe command dispatches to it: `node server-test-harness.js
 * --server-test URL [--json] [--family 4|6] [options]`. Exit status as the command's: 0, 1 a problem found, 2 usage.
 */
import { parseArgs } from 'node:util';
import { CommandFailure, UsageError } from '../../src/cli/command.js';
import { runServerTest, SERVER_TEST_OPTIONS } from '../../src/cli/probe-server-test.js';
import type { IpFamily } from '../../src/packet/ip-family.js';

const { values } = parseArgs({
  options: { ...SERVER_TEST_OPTIONS, json: { type: 'boolean' }, family: { type: 'string' } },
  strict: true,
});
const families: IpFamily[] = values.family === '4' ? [4] : values.family === '6' ? [6] : [4, 6];
try {
  if (values['server-test'] === undefined) throw new UsageError('--server-test URL is required');
  const text = (k: keyof typeof SERVER_TEST_OPTIONS): string => String(values[k]);
  const given = {
    'server-test': values['server-test'],
    connections: text('connections'),
    'ptb-mtu': text('ptb-mtu'),
    'reaction-window': text('reaction-window'),
    'connection-timeout': text('connection-timeout'),
    json: values.json === true,
  };
  process.exitCode = await runServerTest(given, { stdout: process.stdout, stderr: process.stderr, families });
} catch (err) {
  process.stderr.write(`mtuscope probe: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = err instanceof UsageError ? 2 : err instanceof CommandFailure ? 1 : 1;
}
