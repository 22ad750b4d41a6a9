/**
 * `mtuscope lab scenarios` and `mtuscope lab run SCENARIO`: the scenario catalogue from the command line. The
 * catalogue (traffic generators, tracers) is loaded only when one of them runs.
 */
import { labPrivilegeProblem } from '../lab/privileges.js';
import type { NodeCaptureFile } from '../lab/node-capture.js';
import type { CapturedScenarioReport } from '../lab/scenarios/run-scenario.js';
import { formatReport, type ScenarioReport } from '../lab/scenarios/report.js';
import { CommandFailure, defineCommand, EXIT_FAILURE, EXIT_OK, UsageError, wrapText } from './command.js';
import { Progress } from './progress.js';

function wrap(text: string, width: number, indent: string): string {
  return wrapText(text, width, indent).join('\n');
}

export const labScenariosCommand = defineCommand({
  name: 'lab scenarios',
  summary: 'list the scenario catalogue, each with its explanation',
  usage: '',
  description: 'Lists the scenario catalogue: each scenario\'s name, title, what it shows and the outcome it expects.',
  options: {
    json: { type: 'boolean', description: 'one JSON array instead of text' },
  },
  positionals: { min: 0, max: 0 },
  notes: 'JSON: [{"name", "title", "explanation", "expected"}], in catalogue order. Exit status: 0, 2 for a usage error.',
  run: async ({ values }) => {
    const { SCENARIOS } = await import('../lab/scenarios/catalogue.js');
    if (values.json) {
      const list = SCENARIOS.map((s) => ({ name: s.name, title: s.title, explanation: s.explanation, expected: s.expected }));
      process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      return EXIT_OK;
    }
    const blocks = SCENARIOS.map((s) => `${s.name}\n  ${s.title}\n\n${wrap(s.explanation, 100, '  ')}\n\n${wrap(`Expected: ${s.expected}`, 100, '  ')}\n`);
    process.stdout.write(`${blocks.join('\n')}\nRun one with: mtuscope lab run NAME\n`);
    return EXIT_OK;
  },
});

/** The capture files of a run, one line each: path, node, interfaces, packets, and anything that went wrong. */
export function formatCaptures(captures: readonly NodeCaptureFile[]): string {
  const lines = captures.map((c) => {
    const drops = Object.entries(c.dropped).filter(([, n]) => n > 0);
    const dropped = drops.length === 0 ? '' : `, dropped while capturing: ${drops.map(([i, n]) => `${i} ${n}`).join(', ')}`;
    const packets = c.packets === undefined ? 'packets not counted' : `${c.packets} packets`;
    return `  ${c.path}  (${c.node}: ${c.interfaces.join(', ')}; ${packets}${dropped})${c.problem === undefined ? '' : `\n    problem: ${c.problem}`}`;
  });
  return `\ncaptures (pcapng, one per node):\n${lines.join('\n')}\n`;
}

/** Prints a finished run (text or JSON) and maps its outcome to the exit status: 0 as expected, 1 not. */
export function printScenarioReport(
  report: ScenarioReport & { readonly captures?: readonly NodeCaptureFile[] },
  json: boolean,
  out: NodeJS.WritableStream = process.stdout,
): number {
  out.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  if (!json && report.captures !== undefined) out.write(formatCaptures(report.captures));
  return report.asExpected ? EXIT_OK : EXIT_FAILURE;
}

/** While the scenario runs: what it is doing and for how long, rewritten every second (on a terminal only). */
function scenarioProgress(name: string): { step(text: string): void; done(): void } {
  const progress = new Progress();
  const started = Date.now();
  let current = '';
  const show = (): void => progress.update(`lab run ${name}: ${current} (${Math.round((Date.now() - started) / 1000)} s)`);
  const timer = progress.enabled ? setInterval(show, 1000) : undefined;
  timer?.unref();
  return {
    step: (text) => {
      current = text;
      show();
    },
    done: () => {
      clearInterval(timer);
      progress.done();
    },
  };
}

export const labRunCommand = defineCommand({
  name: 'lab run',
  summary: 'build a scenario\'s lab, run its traffic, report, tear down',
  usage: 'SCENARIO',
  description:
    'Builds the scenario\'s lab (network namespaces), runs its traffic (curl, DF pings, UDP datagrams), prints what ' +
    'happened - transfers completed or stalled, route caches, where the kernel dropped packets in the lab\'s namespaces ' +
    '(node, device, function, reason and what it means; the ICMP errors it sent) - and whether ' +
    'that is the outcome the scenario expects, and tears the lab down (also on errors and Ctrl-C). On a terminal, a ' +
    'progress line on standard error says what it is doing meanwhile. "mtuscope lab scenarios" lists the scenarios. ' +
    'Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).',
  options: {
    json: { type: 'boolean', description: 'the report as one JSON object' },
    'no-trace': { type: 'boolean', description: "do not trace kernel drops in the lab's namespaces (mtuscope trace's tracer: bpftrace)" },
    capture: {
      type: 'string',
      value: 'DIR',
      description:
        "capture packets at the scenario's capture points while its traffic runs (dumpcap): one DIR/NODE.pcapng per node; " +
        'TSO, GSO and GRO are switched off on every interface of the lab first, so the captures hold the packets the links carried',
    },
    'keep-offloads': { type: 'boolean', description: 'with --capture: leave TSO, GSO and GRO as the kernel sets them (captures then hold offload super-packets)' },
  },
  positionals: { min: 1, max: 1 },
  notes:
    'JSON: {"scenario", "title", "lab": {"name", "id"}, "startedAt", "durationMs", "expected", "asExpected": ' +
    'true|false (the outcome), "unmet": [the parts of the expected outcome the run did not show], "transfers", ' +
    '"pings", "datagrams", "routeCache", "findings", "facts", "drops" (docs/lab.md), and with --capture "captures": [{"node", "interfaces", "path", ' +
    '"packets", "dropped": {interface: count}, "problem"?}]}. Exit status: 0 when the scenario ran and its outcome was the expected one, 1 when the outcome was not ' +
    'the expected one or the scenario could not be run, 2 for a usage error (e.g. an unknown scenario).',
  run: async ({ values, positionals }) => {
    const name = positionals[0]!;
    const [{ SCENARIOS, findScenario }, { runScenario }] = await Promise.all([import('../lab/scenarios/catalogue.js'), import('../lab/scenarios/run-scenario.js')]);
    const scenario = findScenario(name);
    if (scenario === undefined) throw new UsageError(`unknown scenario "${name}"; known scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`);
    const captureDir = values.capture;
    if (captureDir === '') throw new UsageError('--capture needs a directory');
    if (values['keep-offloads'] && captureDir === undefined) throw new UsageError('--keep-offloads goes with --capture DIR');
    if (captureDir !== undefined && (scenario.capturePoints ?? []).length === 0) throw new UsageError(`scenario "${name}" names no capture points`);
    const problem = labPrivilegeProblem("build the scenario's lab (network namespaces, veths, addresses, routes, iptables rules)");
    if (problem !== undefined) throw new CommandFailure(problem);
    const progress = scenarioProgress(name);
    let report: CapturedScenarioReport;
    try {
      report = await runScenario(scenario, {
        traceDrops: !values['no-trace'],
        onStep: progress.step,
        ...(captureDir === undefined ? {} : { capture: { dir: captureDir, keepOffloads: values['keep-offloads'] } }),
      });
    } finally {
      progress.done();
    }
    return printScenarioReport(report, values.json);
  },
});
