/**
 * Chain labs for the prober's tests and benchmark: h -- r1 -- ... -- rN -- d, by default every node with ICMP rate limits
 * off (Time Exceeded and port unreachable are rate limited by default; Packet Too Big is not), or with the kernel's
 * defaults (`rateLimits`), plus `mtuscope probe --json` and iputils `tracepath -n` run inside h, and a parser of
 * tracepath's output.
 */
import type { IpFamily } from '../../src/packet/ip-family.js';
import { PACKET_TOO_BIG_MATCH } from '../../src/host/iptables-matches.js';
import { startLab } from '../../src/lab/lab.js';
import type { RunningLab } from '../../src/lab/running-lab.js';
import type { EndpointSpec, LabSpec, LinkSpec, NodeSpec } from '../../src/lab/spec.js';
import type { ProbeReport } from '../../src/probe/probe-report.js';
import { CLI } from '../support/cli.js';

const QUIET = { 'net.ipv4.icmp_ratelimit': '0', 'net.ipv6.icmp.ratelimit': '0' };

export interface ChainOptions {
  readonly name: string;
  readonly routers: number;
  /** MTU of the link after router k (k = 0: h's own link), both ends. */
  readonly linkMtu?: Readonly<Record<number, number>>;
  /** MTU of the far end only of the link after router k: a silent mismatch. */
  readonly farEndMtu?: Readonly<Record<number, number>>;
  /**
   * ICMP rate limits: 'off' (default) on every node; 'routers-off' on the routers only (d keeps the kernel's default,
   * so its port unreachables are limited); 'default' nowhere set: every node keeps the kernel's limits, as real hosts
   * and routers do.
   */
  readonly rateLimits?: 'off' | 'routers-off' | 'default';
}

/** Router k (1-based) is `r<k>`; link k joins node k and node k+1 (node 0 is h, node routers+1 is d). */
export function chainSpec(o: ChainOptions): LabSpec {
  const names = ['h', ...Array.from({ length: o.routers }, (_, i) => `r${i + 1}`), 'd'];
  const limits = o.rateLimits ?? 'off';
  const nodes: NodeSpec[] = names.map((name, i) => {
    const kind = i === 0 || i === names.length - 1 ? 'host' : 'router';
    const quiet = limits === 'off' || (limits === 'routers-off' && kind === 'router');
    return { name, kind, ...(quiet ? { sysctls: QUIET } : {}) };
  });
  const links: LinkSpec[] = [];
  for (let k = 0; k < names.length - 1; k++) {
    const near: EndpointSpec = { node: names[k]!, ifname: k === 0 ? 'eth1' : 'eth2' };
    const farMtu = o.farEndMtu?.[k];
    const far: EndpointSpec = { node: names[k + 1]!, ifname: 'eth1', ...(farMtu === undefined ? {} : { mtu: farMtu }) };
    const mtu = o.linkMtu?.[k];
    links.push({ endpoints: [near, far], ...(mtu === undefined ? {} : { mtu }) });
  }
  return { name: o.name, nodes, links };
}

export async function withChain<T>(o: ChainOptions, fn: (lab: RunningLab) => Promise<T>): Promise<T> {
  const lab = await startLab(chainSpec(o));
  try {
    return await fn(lab);
  } finally {
    await lab.destroy();
  }
}

/** Drops Packet Too Big on a router's OUTPUT (its own) or FORWARD (other routers') chain, both families. */
export async function dropPacketTooBig(lab: RunningLab, node: string, chain: 'OUTPUT' | 'FORWARD'): Promise<void> {
  await lab.mustExec(node, ['iptables', '-A', chain, ...PACKET_TOO_BIG_MATCH[4], '-j', 'DROP']);
  await lab.mustExec(node, ['ip6tables', '-A', chain, ...PACKET_TOO_BIG_MATCH[6], '-j', 'DROP']);
}

export interface ProbeRun {
  readonly code: number | null;
  readonly report?: ProbeReport;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export async function probeFromH(lab: RunningLab, family: IpFamily, args: readonly string[] = [], timeoutMs = 90_000): Promise<ProbeRun> {
  const started = performance.now();
  const r = await lab.exec('h', [process.execPath, CLI, 'probe', `-${family}`, '--json', ...args, lab.address('d', family)], { timeoutMs });
  const ms = performance.now() - started;
  let report: ProbeReport | undefined;
  try {
    report = JSON.parse(r.stdout) as ProbeReport;
  } catch {
    report = undefined;
  }
  return { code: r.code, ...(report === undefined ? {} : { report }), stdout: r.stdout, stderr: r.stderr, ms };
}

export interface TracepathHop {
  readonly hop: number;
  readonly address?: string;
  readonly pmtu?: number;
  readonly reached: boolean;
}

export interface TracepathRun {
  readonly output: string;
  readonly hops: readonly TracepathHop[];
  readonly resumePmtu?: number;
  readonly resumeHops?: number;
  readonly ms: number;
}

/** Parses `tracepath -n` output: one line per probe answer (` 2:  10.0.2.2  0.06ms pmtu 1400`), `no reply`, `Resume:`. */
export function parseTracepath(output: string, ms = 0): TracepathRun {
  const hops: TracepathHop[] = [];
  let resumePmtu: number | undefined;
  let resumeHops: number | undefined;
  for (const line of output.split('\n')) {
    const resume = /Resume: pmtu (\d+)(?: hops (\d+))?/.exec(line);
    if (resume !== null) {
      resumePmtu = Number(resume[1]);
      if (resume[2] !== undefined) resumeHops = Number(resume[2]);
      continue;
    }
    const m = /^\s*(\d+):\s+(\S+)(.*)$/.exec(line);
    if (m === null) continue;
    const rest = m[3] ?? '';
    const pmtu = /pmtu (\d+)/.exec(rest);
    const address = m[2] === 'no' ? undefined : m[2];
    hops.push({ hop: Number(m[1]), ...(address === undefined ? {} : { address }), ...(pmtu === null ? {} : { pmtu: Number(pmtu[1]) }), reached: rest.includes('reached') });
  }
  return { output, hops, ...(resumePmtu === undefined ? {} : { resumePmtu }), ...(resumeHops === undefined ? {} : { resumeHops }), ms };
}

export async function tracepathFromH(lab: RunningLab, family: IpFamily, maxHops: number): Promise<TracepathRun> {
  const started = performance.now();
  const r = await lab.exec('h', ['tracepath', '-n', `-${family}`, '-m', String(maxHops), lab.address('d', family)], { timeoutMs: 120_000 });
  return parseTracepath(r.stdout, performance.now() - started);
}
