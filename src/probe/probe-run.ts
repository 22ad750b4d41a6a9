import { lookup } from 'node:dns/promises';
import { formatIp, parseIpText } from '../packet/address.js';
import { familyName, familyOfAddress, type IpFamily } from '../packet/ip-family.js';
import { errorMessage } from '../util/error-message.js';
import { type HopTraceResult, traceHops } from './hop-trace.js';
import type { ProbeFinding } from './probe-finding.js';
import { diagnose } from './probe-diagnosis.js';
import { ProbeRunner } from './probe-io.js';
import { maximumProbeSize, type ProbeFlow, type ProbeProtocol } from './probe-packets.js';
import type { ProbeContext, ProbeJson, ProbeOptionValues, ProbePart } from './probe-part.js';
import { type FamilyReport, PROBE_REPORT_VERSION, type ProbeReport } from './probe-report.js';
import { ProbeTiming } from './probe-timing.js';
import { ProbeTransport } from './probe-transport.js';
import { routeFacts, type RouteFacts } from './route-facts.js';
import { traceFindings } from './trace-findings.js';

/**
 * One `mtuscope probe` run on this host: resolve the target, then per family read the route, trace the hops over the
 * raw-socket transport, run the parts, and diagnose everything together. The thin host layer around the pure pieces.
 */

export interface ProbeRunOptions {
  readonly target: string;
  /** Families to probe; each one the target has an address of (a name may have both). */
  readonly families: readonly IpFamily[];
  readonly protocol: ProbeProtocol;
  readonly port: number;
  readonly maxHops: number;
  /** The whole run's bound. */
  readonly timeoutMs: number;
  readonly probeTimeoutMs: number;
  readonly tries: number;
  readonly parallel: number;
  readonly parts: readonly ProbePart[];
  readonly options: ProbeOptionValues;
  readonly progress: (text: string) => void;
}

/** The target's addresses, one per family asked for; a literal has exactly its own family. */
export async function resolveTarget(target: string, families: readonly IpFamily[]): Promise<Map<IpFamily, string>> {
  const literal = parseIpText(target);
  const out = new Map<IpFamily, string>();
  if (literal !== undefined) {
    const family = familyOfAddress(target);
    if (families.includes(family)) out.set(family, formatIp(literal));
    return out;
  }
  const found = await lookup(target, { all: true, verbatim: true });
  for (const a of found) {
    const family = a.family === 6 ? 6 : 4;
    const bytes = parseIpText(a.address);
    if (families.includes(family) && !out.has(family) && bytes !== undefined) out.set(family, formatIp(bytes));
  }
  return out;
}

export async function runProbe(options: ProbeRunOptions): Promise<ProbeReport> {
  const startedAt = performance.now();
  const addresses = await resolveTarget(options.target, options.families);
  if (addresses.size === 0) {
    const which = options.families.length === 1 ? `IPv${options.families[0]} address` : 'address';
    throw new Error(`${options.target} has no ${which}`);
  }
  const transport = ProbeTransport.open();
  const reports: FamilyReport[] = [];
  const findings: ProbeFinding[] = [];
  const enabled = options.parts.filter((p) => p.enabled?.(options.options) ?? true);
  try {
    const entries = [...addresses.entries()].sort(([a], [b]) => a - b);
    let index = 0;
    for (const [family, destination] of entries) {
      index += 1;
      // Each family gets its share of the time left, so that one family's black hole cannot starve the other.
      const deadlineMs = startedAt + (options.timeoutMs * index) / entries.length;
      let route: RouteFacts;
      try {
        route = await routeFacts(destination, family);
      } catch (err) {
        reports.push(unprobedReport(family, destination, errorMessage(err)));
        findings.push({ code: 'no-route', problem: false, confidence: 'high', sentence: `IPv${family}: ${errorMessage(err)}; not probed.` });
        continue;
      }
      const flow: ProbeFlow = {
        family,
        protocol: options.protocol,
        source: route.source,
        destination,
        srcPort: 32768 + (process.pid % 28000),
        dstPort: options.port,
        echoIdent: process.pid & 0xffff,
      };
      const runner = new ProbeRunner(flow, {
        send: (packet) => transport.send(family, packet, destination),
        nowMs: () => performance.now(),
        setTimer: (fn, ms) => {
          const t = setTimeout(fn, ms);
          return () => clearTimeout(t);
        },
      });
      const unsubscribe = transport.onPacket((p) => runner.receive(p));
      const timing = new ProbeTiming(runner, { maxTimeoutMs: options.probeTimeoutMs, minTimeoutMs: Math.min(250, options.probeTimeoutMs), tries: options.tries, deadlineMs });
      const parts: Record<string, ProbeJson> = {};
      const context = (trace: HopTraceResult): ProbeContext => ({
        target: options.target,
        family,
        destination,
        route,
        protocol: options.protocol,
        port: options.port,
        flow,
        trace,
        transport,
        deadlineMs,
        probeTimeoutMs: options.probeTimeoutMs,
        tries: options.tries,
        options: options.options,
        progress: (text) => options.progress(`IPv${family} ${text}`),
      });
      const runParts = async (list: readonly ProbePart[], trace: HopTraceResult): Promise<void> => {
        for (const part of list) {
          options.progress(`IPv${family} ${part.name}`);
          try {
            const result = await part.run(context(trace));
            findings.push(...result.findings);
            if (result.json !== undefined) parts[part.name] = result.json;
          } catch (err) {
            findings.push({ code: 'part-failed', problem: false, confidence: 'high', sentence: `IPv${family}: ${part.name} could not run: ${errorMessage(err)}.` });
          }
        }
      };
      try {
        const trace = await traceHops(timing, {
          ...timing.options,
          startSize: Math.min(route.deviceMtu, maximumProbeSize(family)),
          maxHops: options.maxHops,
          parallel: options.parallel,
          onProgress: (text) => options.progress(`IPv${family} ${destination}: ${text}`),
        });
        findings.push(...traceFindings(trace, { family, destination, deviceMtu: route.deviceMtu, ...(route.cachedPathMtu === undefined ? {} : { cachedPathMtu: route.cachedPathMtu }) }));
        await runParts(enabled, trace);
        reports.push({ family: familyName(family), destination, ...routeFields(route), ...trace, parts });
      } finally {
        runner.abandon();
        unsubscribe();
      }
    }
  } finally {
    transport.close();
  }
  const diagnosis = diagnose(findings);
  return {
    version: PROBE_REPORT_VERSION,
    target: options.target,
    protocol: options.protocol,
    port: options.port,
    families: reports,
    findings: diagnosis.findings,
    diagnosis: { problem: diagnosis.problem, confidence: diagnosis.confidence, text: diagnosis.paragraph },
    durationMs: Math.round(performance.now() - startedAt),
  };
}

function routeFields(route: RouteFacts): Pick<FamilyReport, 'source' | 'device' | 'deviceMtu' | 'cachedPathMtu'> {
  return { source: route.source, device: route.device, deviceMtu: route.deviceMtu, ...(route.cachedPathMtu === undefined ? {} : { cachedPathMtu: route.cachedPathMtu }) };
}

/** The report of a family that could not be probed, saying why. */
function unprobedReport(family: IpFamily, destination: string, error: string): FamilyReport {
  return {
    family: familyName(family),
    destination,
    error,
    hops: [],
    packetTooBig: [],
    blackHoles: [],
    probesSent: 0,
    durationMs: 0,
    timedOut: false,
    parts: {},
  };
}
