import type { IpFamily } from '../packet/ip-family.js';
import type { HopTraceResult } from './hop-trace.js';
import type { ProbeFinding } from './probe-finding.js';
import type { ProbeFlow, ProbeProtocol } from './probe-packets.js';
import type { ProbeTransport } from './probe-transport.js';
import type { RouteFacts } from './route-facts.js';

/**
 * The extension point of `mtuscope probe`: a part runs after the hop trace of each family (middlebox detection from
 * ICMP quotes, the cooperating server's UDP and HTTP tests) and reports
 * ProbeFindings, which the diagnosis orders and merges with the trace's, plus a JSON section of its own under
 * `families[].parts.<name>`. Add a part to PROBE_PARTS (src/probe/probe-parts.ts) and, when it has options of its own,
 * those to the option table of src/cli/probe-command.ts; they reach it in `context.options`.
 */

/** JSON a part adds to the report (no functions, no undefined inside arrays). */
export type ProbeJson = null | boolean | number | string | readonly ProbeJson[] | { readonly [key: string]: ProbeJson | undefined };

/** The command's option values by long name, as parsed (`--server-test URL` is `options['server-test']`). */
export type ProbeOptionValues = Readonly<Record<string, string | boolean | readonly string[] | undefined>>;

export interface ProbeContext {
  /** The target as the user wrote it (a name or an address). */
  readonly target: string;
  readonly family: IpFamily;
  /** The target's address of this family. */
  readonly destination: string;
  readonly route: RouteFacts;
  readonly protocol: ProbeProtocol;
  readonly port: number;
  /** The trace's flow (a part that sends probes of its own should use another source port or echo identifier). */
  readonly flow: ProbeFlow;
  /** The trace of this family. */
  readonly trace: HopTraceResult;
  /** The open transport, shared (subscribe with onPacket, unsubscribe when done; never close it). */
  readonly transport: ProbeTransport;
  /** performance.now() after which the part must stop sending and return what it has. */
  readonly deadlineMs: number;
  /** Longest wait for one probe and tries per probe, as the user set them. */
  readonly probeTimeoutMs: number;
  readonly tries: number;
  readonly options: ProbeOptionValues;
  /** One line of progress (shown on a terminal only). */
  readonly progress: (text: string) => void;
}

export interface ProbePartResult {
  readonly findings: readonly ProbeFinding[];
  readonly json?: ProbeJson;
}

export interface ProbePart {
  /** Its key in the JSON report (`families[].parts.<name>`), kebab-case. */
  readonly name: string;
  /** Whether the part runs for these options (default: always). */
  enabled?(options: ProbeOptionValues): boolean;
  run(context: ProbeContext): Promise<ProbePartResult>;
}
