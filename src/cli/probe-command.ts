import { missingCapabilities } from '../host/capabilities.js';
import type { IpFamily } from '../packet/ip-family.js';
import { PROBE_PROTOCOLS, type ProbeProtocol } from '../probe/probe-packets.js';
import { DEFAULT_SERVER_PORT } from '../probe/cooperating-server-part.js';
import { PROBE_PARTS } from '../probe/probe-parts.js';
import { reportText } from '../probe/probe-report.js';
import { runProbe } from '../probe/probe-run.js';
import { errorMessage } from '../util/error-message.js';
import { CommandFailure, defineCommand, EXIT_FAILURE, EXIT_OK, UsageError } from './command.js';
import { integer, numberOptionValue, seconds } from './number-options.js';
import { runServerTest, SERVER_TEST_OPTIONS } from './probe-server-test.js';
import { Progress } from './progress.js';

const OPTIONS = {
  ipv4: { type: 'boolean', short: '4', description: 'IPv4 only' },
  ipv6: { type: 'boolean', short: '6', description: 'IPv6 only' },
  family: { type: 'string', value: 'ipv4|ipv6|both', default: 'both', description: 'the families to probe: each one the target has an address of' },
  protocol: {
    type: 'string',
    short: 'P',
    value: 'udp|icmp|tcp',
    default: 'udp',
    description: 'probe protocol: UDP to a closed port (as tracepath), ICMP echo, or TCP SYN (with data to make it large)',
  },
  port: { type: 'string', short: 'p', value: 'PORT', defaultText: '33434 for udp, 443 for tcp', description: 'destination port of UDP and TCP probes' },
  json: { type: 'boolean', description: 'the report as JSON (schema in docs/probe.md)' },
  'max-hops': integer({ group: 'Bounds', description: 'hops probed at most', min: 1, max: 64, value: 'N' }, 30),
  timeout: seconds({ group: 'Bounds', description: 'the whole run ends within this time, with what it found so far', min: 1, max: 3600 }, 60_000),
  'probe-timeout': seconds({ group: 'Bounds', description: 'longest wait for one probe; shorter once round-trip times are known', min: 0.05, max: 10 }, 1000),
  tries: integer({ group: 'Bounds', description: 'sends of a probe before it counts as unanswered', min: 1, max: 10 }, 3),
  parallel: integer({ group: 'Bounds', description: 'hops probed at once', min: 1, max: 64 }, 8),
  'no-middlebox': {
    type: 'boolean',
    group: 'Parts',
    description: 'skip the TCP SYN trace that finds where a middlebox changes packets (MSS clamping, DSCP/ECN, options, NAT) from the routers\' ICMP quotes',
  },
  'server-port': {
    type: 'string',
    group: 'Parts',
    value: 'PORT',
    default: String(DEFAULT_SERVER_PORT),
    description: 'port of a cooperating `mtuscope serve` on the target (UDP responder and HTTP tests: the article\'s four scenarios)',
  },
  'no-server': { type: 'boolean', group: 'Parts', description: 'do not look for a cooperating mtuscope server on the target' },
  ...SERVER_TEST_OPTIONS,
} as const;

function families(values: { ipv4: boolean; ipv6: boolean; family: string }): IpFamily[] {
  if (values.ipv4 && values.ipv6) return [4, 6];
  if (values.ipv4) return [4];
  if (values.ipv6) return [6];
  switch (values.family) {
    case 'ipv4':
      return [4];
    case 'ipv6':
      return [6];
    case 'both':
      return [4, 6];
    default:
      throw new UsageError(`--family: "${values.family}" is not ipv4, ipv6 or both`);
  }
}

export const probeCommand = defineCommand({
  name: 'probe',
  summary: 'find where, along the path to a host, large packets die (hop-by-hop path MTU, black holes, diagnosis)',
  usage: 'TARGET | --server-test URL',
  description:
    'Traces the path to TARGET (an IPv4 or IPv6 address or a name) hop by hop with small and large probes sent through raw ' +
    'sockets: per hop the router, its round-trip time and the MTU it reports in Packet Too Big, and the path MTU to the ' +
    "target; the kernel's cached path MTU is ignored. When large probes vanish without Packet Too Big, an RFC 8899 search " +
    'finds the largest size that still gets through and a TTL bisection the hop where larger ones die, and the diagnosis ' +
    'tells a router that sends no Packet Too Big (or whose message is dropped on the way back) from a silent link-MTU ' +
    'mismatch. Prints a tracepath-like table per family and a diagnosis in plain words. Needs root or CAP_NET_RAW.',
  options: OPTIONS,
  positionals: { min: 0, max: 1 },
  notes:
    'Exit status: 0 the path is healthy (or nothing wrong could be shown), 1 a problem was found or the probe could not run, ' +
    '2 a usage error. The method, the JSON schema and why raw sockets: docs/probe.md.',
  run: async ({ values, positionals }) => {
    if (values['server-test'] !== undefined) {
      if (positionals.length > 0) throw new UsageError(`--server-test takes the server from its URL: give no TARGET ("${positionals[0]}")`);
      return runServerTest({ ...values, 'server-test': values['server-test'] }, { stdout: process.stdout, stderr: process.stderr, families: families(values) });
    }
    if (positionals.length === 0) throw new UsageError('a TARGET is needed (an address or a name), or --server-test URL');
    const serverPort = Number(values['server-port']);
    if (!/^\d{1,5}$/.test(values['server-port']) || !(serverPort >= 1 && serverPort <= 65535)) {
      throw new UsageError(`--server-port: "${values['server-port']}" is not a port number (1-65535)`);
    }
    const protocol = values.protocol as ProbeProtocol;
    if (!PROBE_PROTOCOLS.includes(protocol)) throw new UsageError(`--protocol: "${values.protocol}" is not udp, icmp or tcp`);
    const port = values.port === undefined ? (protocol === 'tcp' ? 443 : 33434) : Number(values.port);
    if (!/^\d{1,5}$/.test(values.port ?? '1') || !(port >= 1 && port <= 65535)) throw new UsageError(`--port: "${values.port}" is not a port number (1-65535)`);
    const missing = missingCapabilities(['CAP_NET_RAW']);
    if (missing.length > 0) throw new CommandFailure(`needs root or CAP_NET_RAW to send probes through raw sockets (missing: ${missing.join(', ')})`);
    const progress = new Progress();
    try {
      const report = await runProbe({
        target: positionals[0]!,
        families: families(values),
        protocol,
        port,
        maxHops: numberOptionValue('max-hops', OPTIONS['max-hops'], values['max-hops']),
        timeoutMs: numberOptionValue('timeout', OPTIONS.timeout, values.timeout),
        probeTimeoutMs: numberOptionValue('probe-timeout', OPTIONS['probe-timeout'], values['probe-timeout']),
        tries: numberOptionValue('tries', OPTIONS.tries, values.tries),
        parallel: numberOptionValue('parallel', OPTIONS.parallel, values.parallel),
        parts: PROBE_PARTS,
        options: values,
        progress: (text) => progress.update(text),
      });
      progress.done();
      process.stdout.write(values.json ? JSON.stringify(report) + '\n' : reportText(report));
      return report.diagnosis.problem ? EXIT_FAILURE : EXIT_OK;
    } catch (err) {
      progress.done();
      if (err instanceof UsageError || err instanceof CommandFailure) throw err;
      throw new CommandFailure(errorMessage(err));
    }
  },
});
