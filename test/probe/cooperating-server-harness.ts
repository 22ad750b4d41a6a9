/**
 * Runs runCooperatingServer (src/probe/cooperating-server.ts) against ADDRESS PORT and prints its report as JSON: what
 * the lab tests run inside a client node until `mtuscope probe` calls the function itself.
 *
 *   node dist/test/probe/cooperating-server-harness.js ADDRESS PORT [--no-http] [--tries N] [--wait-ms MS]
 */
import { isIP } from 'node:net';
import { runCooperatingServer } from '../../src/probe/cooperating-server.js';

const [address, portText, ...rest] = process.argv.slice(2);
if (address === undefined || isIP(address) === 0 || portText === undefined) {
  process.stderr.write('usage: cooperating-server-harness ADDRESS PORT [--no-http] [--tries N] [--wait-ms MS]\n');
  process.exit(2);
}
const flag = (name: string): string | undefined => {
  const i = rest.indexOf(name);
  return i < 0 ? undefined : rest[i + 1];
};
const tries = flag('--tries');
const waitMs = flag('--wait-ms');
const report = await runCooperatingServer(
  { address, family: isIP(address) === 6 ? 6 : 4, port: Number(portText) },
  {
    http: !rest.includes('--no-http'),
    ...(tries === undefined ? {} : { tries: Number(tries) }),
    ...(waitMs === undefined ? {} : { waitMs: Number(waitMs) }),
    httpTimeoutMs: 30_000,
  },
  (line) => process.stderr.write(`${line}\n`),
);
process.stdout.write(`${JSON.stringify(report)}\n`);
