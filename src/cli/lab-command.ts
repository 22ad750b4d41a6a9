/**
 * `mtuscope lab ...`: building, entering, listing and removing network-namespace labs, and (lab-scenario-command.ts)
 * the scenario catalogue.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { familyName, familyOfAddress } from '../packet/ip-family.js';
import { gcLabs, type GcReport } from '../lab/gc.js';
import { startLab } from '../lab/lab.js';
import { formatLabFileErrors, parseLabFile } from '../lab/lab-file.js';
import type { PlannedLab, PlannedNode, PlannedRoute } from '../lab/plan.js';
import { labPrivilegeProblem } from '../lab/privileges.js';
import { LabLookupError, resolveLab, tearDownRecordedLab } from '../lab/recorded-lab.js';
import { processAlive } from '../host/process-runner.js';
import { findLabs, isLive, readRegistry, type LabRecord } from '../lab/registry.js';
import type { LabSpec } from '../lab/spec.js';
import { errorMessage } from '../util/error-message.js';
import { CommandFailure, defineCommand, EXIT_FAILURE, EXIT_OK, UsageError, type CommandGroup } from './command.js';
import { labRunCommand, labScenariosCommand } from './lab-scenario-command.js';

/** Refuses, before anything is touched, work that needs root when this process cannot do it. */
function requireLabPrivileges(task: string, consequence?: string): void {
  const problem = labPrivilegeProblem(task);
  if (problem !== undefined) throw new CommandFailure(consequence === undefined ? problem : `${problem} ${consequence}`);
}

/** The one live lab called `nameOrId`; a name that matches none (or several) is a failure the message explains. */
function lookUpLab(nameOrId: string): LabRecord {
  try {
    return resolveLab(nameOrId);
  } catch (err) {
    if (err instanceof LabLookupError) throw new CommandFailure(err.message);
    throw err;
  }
}

function writeJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
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
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n') + '\n';
}

function features(n: PlannedNode): string[] {
  const f: string[] = [];
  if (n.dropPacketTooBig) f.push('drops Packet Too Big');
  if (n.dropFragments) f.push('drops fragments');
  if (n.clampMss !== undefined) f.push(`clamps MSS to ${n.clampMss}`);
  if (n.masquerade.length > 0) f.push(`masquerades out of ${n.masquerade.join(', ')}`);
  if (n.ecmp) f.push('ECMP');
  return f;
}

/** One row per next hop: a multipath route's further next hops leave NODE and TO empty. */
function routeRows(node: PlannedNode, route: PlannedRoute, first: boolean): string[][] {
  const to = route.to === 'default' ? `default (IPv${route.family})` : route.to;
  const extra = route.advmss === undefined ? '' : `advmss ${route.advmss}`;
  return route.nexthops.map((h, i) => [first && i === 0 ? node.name : '', i === 0 ? to : '', h.via, h.ifname, i === 0 ? extra : '']);
}

/** What `lab up` prints: nodes, interfaces, the routes the lab installed, features, and how to go on. */
export function labSummary(plan: PlannedLab, id: string): string {
  let out = `lab ${plan.name} is up (id ${id}): ${plan.nodes.length} nodes, ${plan.links.length} links\n\n`;
  const rows: string[][] = [['NODE', 'KIND', 'INTERFACE', 'MTU', 'IPV4', 'IPV6', 'PEER']];
  for (const node of plan.nodes) {
    node.interfaces.forEach((i, n) => {
      const kind = n === 0 ? node.kind : '';
      rows.push([n === 0 ? node.name : '', kind, i.kind === 'vxlan' ? `${i.ifname} (vxlan)` : i.ifname, String(i.mtu), i.ipv4, i.ipv6, `${i.peer.node}:${i.peer.ifname}`]);
    });
    for (const cidr of node.loopbackAddresses) {
      const v6 = familyOfAddress(cidr) === 6;
      rows.push(['', '', 'lo', '', v6 ? '' : cidr, v6 ? cidr : '', '']);
    }
  }
  out += table(rows);
  const routes: string[][] = [['NODE', 'TO', 'VIA', 'DEV', '']];
  for (const node of plan.nodes) {
    const byFamily = [...node.routes].sort((a, b) => a.family - b.family);
    byFamily.forEach((r, i) => routes.push(...routeRows(node, r, i === 0)));
  }
  out += routes.length === 1 ? '\nroutes: none besides those of the interfaces\' own subnets\n' : `\nroutes (besides those of the interfaces' own subnets):\n${table(routes)}`;
  const notable = plan.nodes.flatMap((n) => (features(n).length === 0 ? [] : [`${n.name}: ${features(n).join(', ')}`]));
  if (notable.length > 0) out += `\nfeatures: ${notable.join('; ')}\n`;
  const first = plan.nodes[0]?.name ?? 'NODE';
  out += `\nmtuscope lab exec ${plan.name} ${first} -- ip addr\nmtuscope lab down ${plan.name}\n`;
  return out;
}

/** What `lab up --json` prints (the shape is in the help of `lab up`). */
export function labJson(plan: PlannedLab, id: string): unknown {
  return {
    name: plan.name,
    id,
    nodes: plan.nodes.map((n) => ({
      name: n.name,
      kind: n.kind,
      interfaces: n.interfaces.map((i) => ({ name: i.ifname, kind: i.kind, mtu: i.mtu, ipv4: i.ipv4, ipv6: i.ipv6, peer: `${i.peer.node}:${i.peer.ifname}` })),
      loopbackAddresses: n.loopbackAddresses,
      routes: n.routes.map((r) => ({
        family: familyName(r.family),
        to: r.to,
        nexthops: r.nexthops.map((h) => ({ via: h.via, dev: h.ifname })),
        ...(r.advmss === undefined ? {} : { advmss: r.advmss }),
      })),
      features: features(n),
    })),
  };
}

async function readTopology(file: string): Promise<LabSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
  const parsed = parseLabFile(text);
  if (!parsed.ok) throw new UsageError(`${file} is not a valid topology file:\n${formatLabFileErrors(parsed.errors, file)}`);
  return parsed.spec;
}

const labUpCommand = defineCommand({
  name: 'lab up',
  summary: 'build the topology of a YAML file and leave it up (until lab down)',
  usage: 'FILE',
  description:
    'Builds the topology described by FILE and leaves it up until "mtuscope lab down NAME"; the lab is named by the ' +
    'file\'s "name". Prints its nodes and interfaces (kind, MTU, IPv4 and IPv6 addresses, peer), the routes it ' +
    'installed on each node for both families (destination, next hop, device; connected routes of the interfaces\' ' +
    'own subnets are not repeated), and the node features (ICMP or fragment dropping, MSS clamping, masquerading, ' +
    'ECMP). FILE is YAML in the style of containerlab: name, topology.nodes (kind: host or router, ' +
    'drop-packet-too-big, drop-fragments, clamp-mss, masquerade, ecmp, loopback-addresses, sysctls, routes) and ' +
    'topology.links (endpoints "node:if" or {node, interface, mtu, ipv4, ipv6}, mtu, cost, vxlan); see ' +
    'examples/labs/. Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).',
  options: {
    json: { type: 'boolean', description: 'print the lab as one JSON object instead of tables' },
  },
  positionals: { min: 1, max: 1 },
  notes:
    'JSON: {"name", "id", "nodes": [{"name", "kind", "interfaces": [{"name", "kind" (veth|vxlan), "mtu", "ipv4", ' +
    '"ipv6", "peer" ("node:if")}], "loopbackAddresses": [...], "routes": [{"family" (ipv4|ipv6), "to" (prefix or ' +
    '"default"), "nexthops": [{"via", "dev"}], "advmss"?}], "features": [...]}]}. Exit status: 0 when the lab is up, ' +
    '1 when it could not be built (nothing of it is left) or a lab of that name is up already, 2 for a usage error ' +
    'or an invalid file (reported key by key with its line).',
  run: async ({ values, positionals }) => {
    const spec = await readTopology(positionals[0]!);
    requireLabPrivileges('build a lab (network namespaces, veths, addresses, routes, iptables rules)');
    const taken = findLabs(spec.name).filter((r) => r.name === spec.name && isLive(r));
    if (taken.length > 0) {
      throw new CommandFailure(`a lab named "${spec.name}" is already up (id ${taken.map((r) => r.id).join(', ')}); "mtuscope lab down ${spec.name}" first`);
    }
    const lab = await startLab(spec, { detached: true });
    if (values.json) writeJson(labJson(lab.plan, lab.id));
    else process.stdout.write(labSummary(lab.plan, lab.id));
    return EXIT_OK;
  },
});

const labDownCommand = defineCommand({
  name: 'lab down',
  summary: 'tear a lab down',
  usage: 'NAME',
  description:
    'Kills every process inside the lab\'s nodes and deletes its namespaces (with their interfaces and rules). NAME ' +
    'is the lab\'s name or id (see "mtuscope lab list"). Needs root.',
  options: {},
  positionals: { min: 1, max: 1 },
  notes:
    'Exit status: 0 when the lab is gone, 1 when no such lab is up, it belongs to a running process (which tears ' +
    'it down when it ends) or could not be removed, 2 for a usage error.',
  run: async ({ positionals }) => {
    const record = lookUpLab(positionals[0]!);
    if (record.ownerPid !== null && record.ownerPid !== process.pid && processAlive(record.ownerPid)) {
      throw new CommandFailure(`lab ${record.name} (${record.id}) belongs to running process ${record.ownerPid}, which tears it down when it ends`);
    }
    requireLabPrivileges('remove a lab (kill the processes inside its nodes, delete its namespaces)');
    await tearDownRecordedLab(record);
    process.stdout.write(`lab ${record.name} (${record.id}) is down\n`);
    return EXIT_OK;
  },
});

function signalNumber(signal: NodeJS.Signals): number {
  return osConstants.signals[signal] ?? 0;
}

/** Runs argv in the namespace with this terminal; resolves with its exit status (128 + signal when killed). */
async function execInNamespace(namespace: string, argv: readonly string[]): Promise<number> {
  // Not host/process-runner: that one collects output; here the command gets this terminal, as a shell would give it.
  const child = spawn('ip', ['netns', 'exec', namespace, ...argv], { stdio: 'inherit' });
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

const labExecCommand = defineCommand({
  name: 'lab exec',
  summary: 'run a command inside a node of a lab',
  usage: 'NAME NODE -- CMD [ARG...]',
  description: 'Runs CMD inside NODE of lab NAME (a name or id) with this terminal\'s input and output. Needs root.',
  options: {},
  positionals: { min: 2, max: 2 },
  passThrough: true,
  notes:
    'Exit status: CMD\'s own (128 + the signal number when it was killed by a signal); 1 when the lab or node does ' +
    'not exist, 2 for a usage error.',
  run: async ({ positionals, rest }) => {
    const [nameOrId, node] = positionals as [string, string];
    if (rest.length === 0) throw new UsageError('no command after "--"');
    const record = lookUpLab(nameOrId);
    const index = record.plan.nodes.findIndex((n) => n.name === node);
    const namespace = record.namespaces[index];
    if (index === -1 || namespace === undefined) {
      throw new CommandFailure(`lab ${record.name} has no node "${node}" (nodes: ${record.plan.nodes.map((n) => n.name).join(', ')})`);
    }
    requireLabPrivileges("enter a lab node's network namespace");
    return execInNamespace(namespace, rest);
  },
});

function ownerText(r: LabRecord): string {
  if (r.ownerPid === null) return 'lab up';
  return processAlive(r.ownerPid) ? `pid ${r.ownerPid}` : `pid ${r.ownerPid} (gone: run "mtuscope lab gc")`;
}

const labListCommand = defineCommand({
  name: 'lab list',
  summary: 'the labs that are up: name, id, nodes, age, owner',
  usage: '',
  description:
    'Lists the labs in the registry (/run/mtuscope/labs): name, id, nodes, age, and owner ("lab up" for labs that ' +
    'outlive their command, else the owning process, marked gone when it died without tearing its lab down).',
  options: {
    json: { type: 'boolean', description: 'one JSON array instead of a table' },
  },
  positionals: { min: 0, max: 0 },
  notes:
    'JSON: [{"name", "id", "nodes": [...], "namespaces": [...], "created" (ISO 8601), "ageSeconds", "ownerPid" ' +
    '(null for "lab up" labs), "live" (false when the owner died: "mtuscope lab gc" removes it)}], oldest first. ' +
    'Exit status: 0 (also when no lab is up), 2 for a usage error.',
  run: ({ values }) => {
    const records = [...readRegistry().records].sort((a, b) => a.created.localeCompare(b.created));
    const now = Date.now();
    if (values.json) {
      writeJson(
        records.map((r) => ({
          name: r.name,
          id: r.id,
          nodes: r.plan.nodes.map((n) => n.name),
          namespaces: r.namespaces,
          created: r.created,
          ageSeconds: Math.max(0, Math.round((now - Date.parse(r.created)) / 1000)),
          ownerPid: r.ownerPid,
          live: isLive(r),
        })),
      );
      return EXIT_OK;
    }
    if (records.length === 0) {
      process.stdout.write('no labs are up\n');
      return EXIT_OK;
    }
    const rows = [['NAME', 'ID', 'NODES', 'AGE', 'OWNER']];
    for (const r of records) rows.push([r.name, r.id, r.plan.nodes.map((n) => n.name).join(','), formatAge(now - Date.parse(r.created)), ownerText(r)]);
    process.stdout.write(table(rows));
    return EXIT_OK;
  },
});

function gcText(report: GcReport): string {
  const lines: string[] = [];
  for (const n of report.namespaces) lines.push(`removed namespace ${n}`);
  if (report.processes.length > 0) lines.push(`killed ${report.processes.length} process(es) inside them: ${report.processes.join(' ')}`);
  for (const id of report.records) lines.push(`removed registry entry ${id}`);
  for (const t of report.traces) lines.push(`removed tracefs instance ${t}`);
  for (const n of report.failed) lines.push(`could not remove namespace ${n}`);
  return lines.length === 0 ? 'nothing left behind\n' : `${lines.join('\n')}\n`;
}

const labGcCommand = defineCommand({
  name: 'lab gc',
  summary: 'remove what labs whose process died left behind',
  usage: '',
  description:
    'Removes what labs whose process died left behind: namespaces named mtl-* without a live lab (after killing the ' +
    'processes inside them), stale registry entries, and tracefs instances of tracers that died (mtt-PID-N of a dead ' +
    'PID; their bpftrace processes die with them) and of earlier versions\' drop traces (mtl-*). Labs still in use, ' +
    'including those of "lab up", are left alone. Needs root: without it gc can neither see everything (processes ' +
    'inside the namespaces, tracefs) nor remove anything, and says so.',
  options: {
    json: { type: 'boolean', description: 'what was removed as one JSON object' },
  },
  positionals: { min: 0, max: 0 },
  notes:
    'JSON: {"namespaces": [...] (removed), "processes": [pids killed inside them], "records": [registry entries ' +
    'removed], "traces": [tracefs instances], "failed": [namespaces that could not be removed]}. Exit status: ' +
    '0 when nothing is left behind any more, 1 when something could not be removed or gc lacks root, 2 for a usage error.',
  run: async ({ values }) => {
    requireLabPrivileges(
      'see and remove what labs left behind (processes inside lab namespaces, the namespaces, trace instances in tracefs)',
      'Without it gc cannot tell whether anything is left behind: nothing was checked or removed.',
    );
    const report = await gcLabs();
    if (values.json) writeJson(report);
    else process.stdout.write(gcText(report));
    return report.failed.length === 0 ? EXIT_OK : EXIT_FAILURE;
  },
});

export const labCommand: CommandGroup = {
  name: 'lab',
  summary: 'build network-namespace labs and run the scenario catalogue',
  description:
    'Builds network-namespace topologies on this machine to reproduce path-MTU failures with real kernel TCP/IP ' +
    'stacks. Every subcommand but list and scenarios needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).',
  subcommands: [labUpCommand, labDownCommand, labExecCommand, labListCommand, labGcCommand, labRunCommand, labScenariosCommand],
  notes: 'Exit status: 0 on success, 1 when the work failed (for lab run: or the outcome was not the expected one), 2 for a usage error or an invalid topology file.',
};
