/**
 * `mtuscope probe --server-test URL`: the options of the server test (a fragment of probe-command.ts's option table)
 * and the function the command calls when --server-test is given. The work is in src/probe/server-test-*.ts.
 */
import { privilegeProblem, ENGINE_CAPABILITIES } from '../host/capabilities.js';
import type { IpFamily } from '../packet/ip-family.js';
import { testServer, IPV6_MIN_MTU, ServerTestSetupError } from '../probe/server-test-host.js';
import { serverTestFoundProblem, serverTestJson, serverTestText } from '../probe/server-test-report.js';
import { ServerTestRulesInUseError } from '../probe/server-test-rules.js';
import { CommandFailure, EXIT_FAILURE, EXIT_OK, UsageError } from './command.js';
import { integer, numberOptionValue, seconds, type NumberOption } from './number-options.js';
import { Progress } from './progress.js';

const SERVER_TEST = 'Server test (--server-test URL)';

export const SERVER_TEST_DEFAULTS = {
  connections: 8,
  ptbMtu: 1280,
  windowMs: 5000,
  connectionTimeoutMs: 20_000,
} as const;

export const SERVER_TEST_OPTIONS = {
  'server-test': {
    type: 'string',
    group: SERVER_TEST,
    value: 'URL',
    description:
      'download URL (http or https) and answer the server\'s packets bigger than the test MTU with Packet Too Big: does it re-send smaller (and how fast), or keep sending full-size packets (a black hole)?',
  },
  connections: integer({ group: SERVER_TEST, description: 'connections per address family, one after another (behind ECMP or anycast some may fail)', min: 1, max: 16 }, SERVER_TEST_DEFAULTS.connections),
  'ptb-mtu': integer({ group: SERVER_TEST, description: 'MTU the last connection\'s Packet Too Big reports; each earlier one reports 8 more (IPv6 needs at least 1280)', min: 576, max: 9000 }, SERVER_TEST_DEFAULTS.ptbMtu),
  'reaction-window': seconds({ group: SERVER_TEST, description: 'time after the first Packet Too Big for the server to re-send smaller', min: 0.1, max: 60 }, SERVER_TEST_DEFAULTS.windowMs),
  'connection-timeout': seconds({ group: SERVER_TEST, description: 'bound on each connection', min: 1, max: 300 }, SERVER_TEST_DEFAULTS.connectionTimeoutMs),
} as const;

/** What runServerTest reads: the options above, plus --json and the families the probe command decides. */
export interface ServerTestValues {
  readonly 'server-test': string;
  readonly connections: string;
  readonly 'ptb-mtu': string;
  readonly 'reaction-window': string;
  readonly 'connection-timeout': string;
  readonly json?: boolean;
}

export interface ServerTestIo {
  readonly stdout: { write(text: string, done: () => void): unknown };
  /** Progress lines go here when it is a terminal. */
  readonly stderr: NodeJS.WriteStream;
  /** The families to test (both unless the command was told one). */
  readonly families: readonly IpFamily[];
}

function n(values: ServerTestValues, flag: keyof typeof SERVER_TEST_OPTIONS & keyof ServerTestValues): number {
  return numberOptionValue(flag, SERVER_TEST_OPTIONS[flag] as NumberOption, values[flag]);
}

export function serverTestUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--server-test: "${text}" is not a URL (e.g. https://www.example.com/big-file)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--server-test: "${text}": only http and https URLs can be tested, not ${url.protocol}`);
  return url;
}

/** Runs the server test and prints its report; returns the exit status (1: a problem found). */
export async function runServerTest(values: ServerTestValues, io: ServerTestIo): Promise<number> {
  const url = serverTestUrl(values['server-test']);
  const ptbMtu = n(values, 'ptb-mtu');
  if (ptbMtu < IPV6_MIN_MTU && io.families.includes(6) && io.families.length === 1) {
    throw new UsageError(`--ptb-mtu: ${ptbMtu} is below the IPv6 minimum of ${IPV6_MIN_MTU}, which IPv6 servers must ignore (RFC 8201)`);
  }
  const problem = privilegeProblem(ENGINE_CAPABILITIES, 'queue the server\'s packets and send Packet Too Big', 'Run it as root.');
  if (problem !== undefined) throw new CommandFailure(problem);
  const progress = new Progress(io.stderr);
  let report;
  try {
    report = await testServer({
      url,
      families: io.families,
      connections: n(values, 'connections'),
      ptbMtu,
      windowMs: n(values, 'reaction-window'),
      connectionTimeoutMs: n(values, 'connection-timeout'),
      onProgress: (line) => progress.update(line),
    });
  } catch (err) {
    if (err instanceof ServerTestSetupError || err instanceof ServerTestRulesInUseError) throw new CommandFailure(err.message);
    throw err;
  } finally {
    progress.done();
  }
  const status = serverTestFoundProblem(report) ? EXIT_FAILURE : EXIT_OK;
  // The netfilter queue binding cannot be closed (src/host/packet-queue.ts) and would keep the process alive
  // after its rules are gone: the process ends once the report is written.
  io.stdout.write(values.json === true ? `${JSON.stringify(serverTestJson(report))}\n` : serverTestText(report), () => process.exit(status));
  return status;
}
