/**
 * `mtuscope lab scenarios` and `mtuscope lab run SCENARIO`: the scenario catalogue from the command line.
 */
import { parseArgs } from 'node:util';
import { SCENARIOS, findScenario } from '../lab/scenarios/catalogue.js';
import { formatReport } from '../lab/scenarios/report.js';
import { runScenario } from '../lab/scenarios/run-scenario.js';
import { errorMessage } from '../util/error-message.js';

export const LAB_SCENARIOS_HELP = `Usage: mtuscope lab scenarios [--json]

Lists the scenario catalogue: each scenario's name, title and what it shows.
`;

export const LAB_RUN_HELP = `Usage: mtuscope lab run SCENARIO [options]

Builds the scenario's lab (network namespaces), runs its traffic (curl, DF pings, UDP datagrams), prints
what happened - transfers completed or stalled, route caches, kernel drops by location and reason - and
tears the lab down (also on errors and Ctrl-C). Needs root.

Options:
  --json        the report as one JSON object
  --no-trace    do not trace kernel drops (skb:kfree_skb via tracefs)
  -h, --help    this help

Exit status: 0 when the scenario ran (whatever the network did; the report says whether the outcome was
the expected one), 1 when it could not be run, 2 for a usage error.
`;

function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(indent + line);
  return lines.join('\n');
}

function usage(message: string): number {
  process.stderr.write(`mtuscope lab: ${message}\n`);
  return 2;
}

export async function listScenariosCommand(args: readonly string[]): Promise<number> {
  let json: boolean | undefined;
  try {
    ({ values: { json } } = parseArgs({ args: [...args], options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }));
    if (args.includes('--help') || args.includes('-h')) {
      process.stdout.write(LAB_SCENARIOS_HELP);
      return 0;
    }
  } catch (err) {
    return usage(errorMessage(err));
  }
  if (json === true) {
    const list = SCENARIOS.map((s) => ({ name: s.name, title: s.title, explanation: s.explanation, expected: s.expected }));
    process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return 0;
  }
  const blocks = SCENARIOS.map((s) => `${s.name}\n  ${s.title}\n\n${wrap(s.explanation, 100, '  ')}\n\n${wrap(`Expected: ${s.expected}`, 100, '  ')}\n`);
  process.stdout.write(`${blocks.join('\n')}\nRun one with: mtuscope lab run NAME\n`);
  return 0;
}

export async function runScenarioCommand(args: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: { json: { type: 'boolean' }, 'no-trace': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    return usage(errorMessage(err));
  }
  if (parsed.values.help === true) {
    process.stdout.write(LAB_RUN_HELP);
    return 0;
  }
  const known = SCENARIOS.map((s) => s.name).join(', ');
  if (parsed.positionals.length !== 1) return usage(`lab run takes one scenario name; known scenarios: ${known}`);
  const name = parsed.positionals[0]!;
  const scenario = findScenario(name);
  if (scenario === undefined) return usage(`unknown scenario "${name}"; known scenarios: ${known}`);
  let report;
  try {
    report = await runScenario(scenario, { traceDrops: parsed.values['no-trace'] !== true });
  } catch (err) {
    process.stderr.write(`mtuscope lab run ${name}: ${errorMessage(err)}\n`);
    return 1;
  }
  process.stdout.write(parsed.values.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return 0;
}
