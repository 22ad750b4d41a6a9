/**
 * Builds a lab from a topology (real namespaces, veths, VXLAN tunnels, routes, sysctls and iptables rules) and hands
 * back its runtime API; tears it all down again on destroy(), on a failed build, and on exit or a fatal signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { forgetOnExit, tearDownOnExit } from '../host/exit-teardown.js';
import { commandFailure, killChild, runCommand, type CommandOptions, type CommandResult } from '../host/process-runner.js';
import { familyName, type IpFamily } from '../packet/ip-family.js';
import { checkFeatures } from './apply-features.js';
import { buildScripts, type NodeScript } from './build-script.js';
import { NamespaceProcess } from './lab-process.js';
import { deleteNamespaces, deleteNamespacesSync, killPids, labIdOf, listNamespaces, namespaceName, pidsInNamespaces } from './namespaces.js';
import type { PlannedLab } from './plan.js';
import { planLab } from './plan-lab.js';
import { claimRecord, readRegistry, removeRecord, writeRecord, type LabRecord } from './registry.js';
import type { LabProcess, RunningLab } from './running-lab.js';
import type { LabSpec } from './spec.js';

export interface StartLabOptions {
  /**
   * Leave the lab up when this process ends (`mtuscope lab up`): once built, its registry entry has no owner and only
   * `lab down` (or destroy() here) removes it.
   */
  readonly detached?: boolean;
  /**
   * Called once the nodes' network namespaces exist, before their links, addresses, routes and rules are set up: what
   * needs only the namespaces (a drop trace attaching to them) can start meanwhile. A lab whose build then fails is
   * removed as usual; whatever the callback started is the caller's to stop.
   */
  readonly onNamespaces?: (lab: Pick<RunningLab, 'name' | 'id' | 'plan' | 'namespace'>) => void;
}

const NODE_NAME = /^[a-z][a-z0-9]{0,11}$/;
const IPV6_READY_TIMEOUT_MS = 5000;
/** How long destroy() lets the lab's processes end on SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 500;

function isPlanned(spec: LabSpec | PlannedLab): spec is PlannedLab {
  return spec.nodes.length > 0 && spec.nodes.every((n) => 'interfaces' in n);
}

function newLabId(): string {
  const taken = new Set([...readRegistry().records.map((r) => r.id), ...listNamespaces().map((n) => labIdOf(n))]);
  for (;;) {
    const id = randomBytes(3).toString('hex');
    if (!taken.has(id)) return id;
  }
}

class Lab implements RunningLab {
  private readonly processes = new Set<NamespaceProcess>();
  /** exec() children still running: a teardown kills them (a curl cut short by Ctrl-C must not linger). */
  private readonly execs = new Set<ChildProcess>();
  private destroyed = false;
  private destroying: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly id: string,
    readonly plan: PlannedLab,
    private readonly namespaces: ReadonlyMap<string, string>,
  ) {}

  get namespaceNames(): string[] {
    return [...this.namespaces.values()];
  }

  namespace(node: string): string {
    const ns = this.namespaces.get(node);
    if (ns === undefined) throw new RangeError(`lab ${this.name}: no node "${node}" (nodes: ${[...this.namespaces.keys()].join(', ')})`);
    return ns;
  }

  address(node: string, family: IpFamily, ifname?: string): string {
    this.namespace(node);
    const planned = this.plan.nodes.find((n) => n.name === node);
    const iface = ifname === undefined ? planned?.interfaces[0] : planned?.interfaces.find((i) => i.ifname === ifname);
    if (iface === undefined) throw new RangeError(`lab ${this.name}: node ${node} has no interface ${ifname ?? '(none at all)'}`);
    const cidr = iface[familyName(family)];
    if (cidr === '') throw new RangeError(`lab ${this.name}: ${node}:${iface.ifname} has no IPv${family} address`);
    return cidr.split('/')[0] ?? cidr;
  }

  exec(node: string, argv: readonly string[], options?: CommandOptions): Promise<CommandResult> {
    return runCommand('ip', ['netns', 'exec', this.namespace(node), ...argv], options, this.execs);
  }

  async mustExec(node: string, argv: readonly string[], options?: CommandOptions): Promise<CommandResult> {
    const r = await this.exec(node, argv, options);
    if (r.code !== 0) throw commandFailure(`lab ${this.name}: node ${node}: `, argv[0] ?? '', argv.slice(1), r);
    return r;
  }

  spawn(node: string, argv: readonly string[]): LabProcess {
    if (this.destroyed) throw new Error(`lab ${this.name} is already torn down`);
    const full = ['netns', 'exec', this.namespace(node), ...argv];
    // Not host/process-runner, which runs a command to its end: this one runs beside the traffic until stopped.
    const proc = new NamespaceProcess(full, spawn('ip', full, { stdio: ['ignore', 'pipe', 'pipe'] }));
    this.processes.add(proc);
    return proc;
  }

  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    this.destroyed = true;
    for (const child of this.execs) killChild(child);
    const running = [...this.processes].filter((p) => p.running);
    for (const p of running) p.stop('SIGTERM', STOP_GRACE_MS).catch(() => undefined);
    await Promise.all(running.map((p) => p.endsWithin(STOP_GRACE_MS)));
    // Whatever else runs inside (children of our processes, things started by `lab exec`) would keep the namespace.
    killPids(pidsInNamespaces(this.namespaceNames));
    for (const p of this.processes) p.killNow();
    const left = await deleteNamespaces(this.namespaceNames);
    removeRecord(this.id);
    forgetOnExit(this);
    if (left.length > 0) throw new Error(`lab ${this.name}: could not delete namespaces ${left.join(' ')}`);
  }

  destroySync(): void {
    this.destroyed = true;
    for (const child of this.execs) killChild(child);
    for (const p of this.processes) p.killNow();
    killPids(pidsInNamespaces(this.namespaceNames));
    deleteNamespacesSync(this.namespaceNames);
    removeRecord(this.id);
    forgetOnExit(this);
  }

  /** Runs a build step, turning a failure into an error that names the node, the command and what it printed. */
  async step(what: string, cmd: string, argv: readonly string[], input?: string): Promise<void> {
    const r = await runCommand(cmd, argv, input === undefined ? { timeoutMs: 30_000 } : { input, timeoutMs: 30_000 });
    if (r.code === 0) return;
    // `ip -batch` names the failing line as "Command failed -:N".
    const line = /Command failed -:(\d+)/.exec(r.stderr)?.[1];
    const failedLine = line === undefined || input === undefined ? undefined : input.split('\n')[Number(line) - 1];
    const context = `lab ${this.name}: building ${what} failed: ${failedLine === undefined ? '' : `"${failedLine}" in `}`;
    throw commandFailure(context, cmd, argv, r);
  }

  async waitIpv6Ready(node: string, ifnames: readonly string[]): Promise<void> {
    if (ifnames.length === 0) return;
    const ns = this.namespace(node);
    const deadline = Date.now() + IPV6_READY_TIMEOUT_MS;
    for (;;) {
      // IPv6 ignores a freshly raised link (drops what is sent on it) until the carrier event makes it ready; the
      // fe80::/64 route appears at that moment.
      const r = await runCommand('ip', ['-n', ns, '-6', 'route', 'show', 'table', 'main']);
      const ready = new Set<string>();
      for (const m of r.stdout.matchAll(/^fe80::\/64 dev (\S+)/gm)) ready.add(m[1] ?? '');
      const missing = ifnames.filter((i) => !ready.has(i));
      if (missing.length === 0) return;
      if (Date.now() > deadline) throw new Error(`lab ${this.name}: IPv6 not ready on ${node}:${missing.join(',')} after ${IPV6_READY_TIMEOUT_MS} ms`);
      await delay(5);
    }
  }
}

/**
 * Waits for every step of a phase, even after one failed: tearing down while another node's batch still runs would
 * race with it. Throws the first failure.
 */
async function phase(steps: readonly Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(steps);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

async function build(lab: Lab, scripts: readonly NodeScript[], onNamespaces: StartLabOptions['onNamespaces']): Promise<void> {
  const ns = (node: string): string => lab.namespace(node);
  await lab.step('the namespaces', 'ip', ['-batch', '-'], scripts.map((s) => `netns add ${ns(s.node)}\n`).join(''));
  onNamespaces?.(lab);
  await phase(
    scripts.map(async (s) => {
      if (s.globalSysctls.length > 0) await lab.step(`node ${s.node}`, 'ip', ['netns', 'exec', ns(s.node), 'sysctl', '-q', '-w', ...s.globalSysctls]);
    }),
  );
  await phase(scripts.map((s) => lab.step(`node ${s.node}`, 'ip', ['-n', ns(s.node), '-batch', '-'], `${s.links.join('\n')}\n`)));
  await phase(
    scripts.map(async (s) => {
      const what = `node ${s.node}`;
      const steps = [lab.step(what, 'ip', ['-n', ns(s.node), '-batch', '-'], `${s.config.join('\n')}\n`)];
      if (s.iptables.v4 !== undefined) steps.push(lab.step(what, 'ip', ['netns', 'exec', ns(s.node), 'iptables-restore'], s.iptables.v4));
      if (s.iptables.v6 !== undefined) steps.push(lab.step(what, 'ip', ['netns', 'exec', ns(s.node), 'ip6tables-restore'], s.iptables.v6));
      await phase(steps);
      if (s.interfaceSysctls.length > 0) await lab.step(what, 'ip', ['netns', 'exec', ns(s.node), 'sysctl', '-q', '-w', ...s.interfaceSysctls]);
    }),
  );
  await phase(scripts.map((s) => lab.waitIpv6Ready(s.node, s.ipv6Interfaces)));
}

/**
 * Builds the lab. Always destroy() what this returns (in a `finally`); labs still up when the process exits or gets
 * SIGINT/SIGTERM/SIGHUP are torn down then, unless detached. If the build fails, everything created so far is removed
 * and the error names the node and the command that failed, with its stderr.
 */
export async function startLab(spec: LabSpec | PlannedLab, options: StartLabOptions = {}): Promise<RunningLab> {
  const plan = isPlanned(spec) ? spec : planLab(spec);
  for (const node of plan.nodes) {
    if (!NODE_NAME.test(node.name)) throw new Error(`lab ${plan.name}: node name "${node.name}" must be 1-12 characters [a-z0-9], starting with a letter`);
    checkFeatures(node);
  }
  let id: string;
  let record: LabRecord;
  do {
    id = newLabId();
    record = {
      id,
      name: plan.name,
      namespaces: plan.nodes.map((n) => namespaceName(id, n.name)),
      ownerPid: process.pid,
      created: new Date().toISOString(),
      plan,
    };
  } while (!claimRecord(record));
  const namespaces = new Map(plan.nodes.map((n) => [n.name, namespaceName(id, n.name)]));
  const lab = new Lab(plan.name, id, plan, namespaces);
  let scripts: NodeScript[];
  try {
    scripts = buildScripts(plan, (node) => lab.namespace(node));
  } catch (err) {
    removeRecord(id);
    throw err;
  }
  tearDownOnExit(lab);
  try {
    await build(lab, scripts, options.onNamespaces);
  } catch (err) {
    await lab.destroy().catch(() => undefined);
    throw err;
  }
  if (options.detached === true) {
    writeRecord({ ...record, ownerPid: null });
    forgetOnExit(lab);
  }
  return lab;
}
