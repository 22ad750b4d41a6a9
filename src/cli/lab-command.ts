import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { gcLabs } from '../lab/gc.js';
import { startLab } from '../lab/lab.js';
import { formatLabFileErrors, parseLabFile } from '../lab/lab-file.js';
import type { PlannedLab } from '../lab/plan.js';
import { LabLookupError, resolveLab, tearDownRecordedLab } from '../lab/recorded-lab.js';
import { findLabs, isLive, processAlive, readRegistry, type LabRecord } from '../lab/registry.js';
import { UsageError } from './command.js';

export const LAB_HELP = `Usage: mtuscope lab <subcommand> [arguments]

Builds network-namespace topologies on this machine (root needed) to reproduce path-MTU failures with real
kernel TCP/IP stacks.

Subcommands:
  up FILE                   build the topology of a YAML file and leave it up; the lab is named by the file's "name"
  down NAME                 tear a lab down (NAME may also be a lab id)
  exec NAME NODE -- CMD...  run a command inside a node of a lab; exits with the command's status
  list                      the labs that are up: name, id, nodes, age, owner
  gc                        remove everything labs whose process died left behind (namespaces, processes, registry
                            entries, trace instances); labs still in use are left alone
  run SCENARIO              build a scenario's lab, run its traffic, report, tear down
  scenarios                 list the scenario catalogue

Run "mtuscope lab <subcommand> --help" for one subcommand. Exit status: 0 on success, 1 when the work failed,
2 for a usage error or an invalid topology file.
`;

const USAGE: Readonly<Record<string, string>> = {
  up: `Usage: mtuscope lab up FILE

Builds the topology described by FILE (containerlab style: name, topology.nodes, topology.links) and leaves it up
until "mtuscope lab down NAME". Prints its nodes, interfaces (MTU, addresses) and routes. An invalid file is
reported key by key (exit status 2); a name already used by a lab that is up is refused (exit status 1).
`,
  down: `Usage: mtuscope lab down NAME

Kills every process inside the lab's nodes and deletes its namespaces (with their interfaces and rules).
NAME is the lab's name or id (see "mtuscope lab list").
`,
  exec: `Usage: mtuscope lab exec NAME NODE -- CMD [ARG...]

Runs CMD inside NODE of lab NAME with this terminal's input and output; exits with CMD's exit status
(128 + the signal number when it was killed by a signal).
`,
  list: `Usage: mtuscope lab list

Lists the labs that are up: name, id, nodes, age, and owner ("lab up" for labs that outlive their command,
else the owning process).
`,
  gc: `Usage: mtuscope lab gc

Removes what labs whose process died left behind: namespaces named mtl-* without a live lab (after killing the
processes inside them), stale registry entries, and drop-trace instances in tracefs. Labs still in use, including
those of "lab up", are left alone.
`,
};

function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

function positionals(sub: string, args: readonly string[], count: number, names: string): string[] {
  const option = args.find((a) => a.startsWith('-'));
  if (option !== undefined) throw new UsageError(`lab ${sub}: unknown option "${option}"; see "mtuscope lab ${sub} --help"`);
  if (args.length !== count) {
    throw new UsageError(`lab ${sub}: expected ${names}, got ${args.length === 0 ? 'nothing' : args.map((a) => `"${a}"`).join(' ')}`);
  }
  return [...args];
}

function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}

export function labSummary(plan: PlannedLab, id: string): string {
  let out = `lab ${plan.name} is up (id ${id}): ${plan.nodes.length} nodes, ${plan.links.length} links\n\n`;
  const rows: string[][] = [['NODE', 'KIND', 'INTERFACE', 'MTU', 'IPV4', 'IPV6', 'PEER']];
  for (const node of plan.nodes) {
    node.interfaces.forEach((i, n) => {
      const kind = n === 0 ? node.kind : '';
      rows.push([n === 0 ? node.name : '', kind, i.kind === 'vxlan' ? `${i.ifname} (vxlan)` : i.ifname, String(i.mtu), i.ipv4, i.ipv6, `${i.peer.node}:${i.peer.ifname}`]);
    });
    for (const cidr of node.loopbackAddresses) rows.push(['', '', 'lo', '', cidr.includes(':') ? '' : cidr, cidr.includes(':') ? cidr : '', '']);
  }
  out += table(rows);
  const routes = plan.nodes.map((n) => `${n.name} ${n.routes.length}`).join(', ');
  out += `\nroutes: ${routes}\n`;
  const features = plan.nodes.flatMap((n) => {
    const f: string[] = [];
    if (n.dropPacketTooBig) f.push('drops Packet Too Big');
    if (n.dropFragments) f.push('drops fragments');
    if (n.clampMss !== undefined) f.push(`clamps MSS to ${n.clampMss}`);
    if (n.masquerade.length > 0) f.push(`masquerades out of ${n.masquerade.join(', ')}`);
    if (n.ecmp) f.push('ECMP');
    return f.length === 0 ? [] : [`${n.name}: ${f.join(', ')}`];
  });
  if (features.length > 0) out += `features: ${features.join('; ')}\n`;
  const first = plan.nodes[0]?.name ?? 'NODE';
  out += `\nmtuscope lab exec ${plan.name} ${first} -- ip addr\nmtuscope lab down ${plan.name}\n`;
  return out;
}

async function up(args: readonly string[]): Promise<number> {
  const [file = ''] = positionals('up', args, 1, 'FILE');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`lab up: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const parsed = parseLabFile(text);
  if (!parsed.ok) {
    process.stderr.write(`${formatLabFileErrors(parsed.errors, file)}\n`);
    return 2;
  }
  const name = parsed.spec.name;
  const taken = findLabs(name).filter((r) => r.name === name && isLive(r));
  if (taken.length > 0) {
    process.stderr.write(`mtuscope: lab up: a lab named "${name}" is already up (id ${taken.map((r) => r.id).join(', ')}); "mtuscope lab down ${name}" first\n`);
    return 1;
  }
  const lab = await startLab(parsed.spec, { detached: true });
  process.stdout.write(labSummary(lab.plan, lab.id));
  return 0;
}

async function down(args: readonly string[]): Promise<number> {
  const [nameOrId = ''] = positionals('down', args, 1, 'NAME');
  const record = resolveLab(nameOrId);
  if (record.ownerPid !== null && record.ownerPid !== process.pid && processAlive(record.ownerPid)) {
    process.stderr.write(`mtuscope: lab down: lab ${record.name} (${record.id}) belongs to running process ${record.ownerPid}, which tears it down when it ends\n`);
    return 1;
  }
  await tearDownRecordedLab(record);
  process.stdout.write(`lab ${record.name} (${record.id}) is down\n`);
  return 0;
}

function signalNumber(signal: NodeJS.Signals): number {
  return osConstants.signals[signal] ?? 0;
}

async function exec(args: readonly string[]): Promise<number> {
  const sep = args.indexOf('--');
  if (sep === -1) throw new UsageError('lab exec: expected NAME NODE -- CMD...; the "--" is missing');
  const [nameOrId = '', node = ''] = positionals('exec', args.slice(0, sep), 2, 'NAME NODE before "--"');
  const argv = args.slice(sep + 1);
  if (argv.length === 0) throw new UsageError('lab exec: no command after "--"');
  const record = resolveLab(nameOrId);
  const index = record.plan.nodes.findIndex((n) => n.name === node);
  const ns = record.namespaces[index];
  if (index === -1 || ns === undefined) {
    throw new LabLookupError(`lab ${record.name} has no node "${node}" (nodes: ${record.plan.nodes.map((n) => n.name).join(', ')})`);
  }
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: 'inherit' });
  // The terminal's Ctrl-C reaches the command too; we stay to report how it ended. Other senders are passed on.
  const forward = (sig: NodeJS.Signals): void => {
    if (child.pid !== undefined) {
      try {
        process.kill(child.pid, sig);
      } catch {
        // Already gone.
      }
    }
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of signals) process.on(s, forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve(code ?? 128 + signalNumber(signal ?? 'SIGKILL')));
    });
  } finally {
    for (const s of signals) process.off(s, forward);
  }
}

function ownerText(r: LabRecord): string {
  if (r.ownerPid === null) return 'lab up';
  return processAlive(r.ownerPid) ? `pid ${r.ownerPid}` : `pid ${r.ownerPid} (gone: run "mtuscope lab gc")`;
}

function list(args: readonly string[]): number {
  positionals('list', args, 0, 'no arguments');
  const { records } = readRegistry();
  if (records.length === 0) {
    process.stdout.write('no labs are up\n');
    return 0;
  }
  const now = Date.now();
  const rows = [['NAME', 'ID', 'NODES', 'AGE', 'OWNER']];
  for (const r of [...records].sort((a, b) => a.created.localeCompare(b.created))) {
    rows.push([r.name, r.id, r.plan.nodes.map((n) => n.name).join(','), formatAge(now - Date.parse(r.created)), ownerText(r)]);
  }
  process.stdout.write(table(rows));
  return 0;
}

async function gc(args: readonly string[]): Promise<number> {
  positionals('gc', args, 0, 'no arguments');
  const report = await gcLabs();
  const lines: string[] = [];
  for (const n of report.namespaces) lines.push(`removed namespace ${n}`);
  if (report.processes.length > 0) lines.push(`killed ${report.processes.length} process(es) inside them: ${report.processes.join(' ')}`);
  for (const id of report.records) lines.push(`removed registry entry ${id}`);
  for (const t of report.traces) lines.push(`removed trace instance ${t}`);
  for (const n of report.failed) lines.push(`could not remove namespace ${n}`);
  process.stdout.write(lines.length === 0 ? 'nothing left behind\n' : `${lines.join('\n')}\n`);
  return report.failed.length === 0 ? 0 : 1;
}

export async function runLabCommand(args: readonly string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(LAB_HELP);
    return sub === undefined ? 2 : 0;
  }
  const usage = USAGE[sub];
  if (usage !== undefined && wantsHelp(rest)) {
    process.stdout.write(usage);
    return 0;
  }
  try {
    switch (sub) {
      case 'up':
        return await up(rest);
      case 'down':
        return await down(rest);
      case 'exec':
        return await exec(rest);
      case 'list':
        return list(rest);
      case 'gc':
        return await gc(rest);
      // Loaded on demand: the scenario catalogue (traffic generators, tracers) is not needed for the other subcommands.
      case 'run':
        return await (await import('./lab-scenario-command.js')).runScenarioCommand(rest);
      case 'scenarios':
        return await (await import('./lab-scenario-command.js')).listScenariosCommand(rest);
      default:
        throw new UsageError(`unknown lab subcommand "${sub}"; see "mtuscope lab --help"`);
    }
  } catch (err) {
    if (err instanceof LabLookupError) {
      process.stderr.write(`mtuscope: lab ${sub}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
