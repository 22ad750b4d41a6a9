/**
 * Packet captures inside lab nodes: one dumpcap per node, on one or several of its interfaces, writing one pcapng
 * whose Interface Description Blocks name each interface (so an analyzer can tell a SYN on eth1 from the same SYN on
 * eth2). Started before a scenario's traffic, stopped by PID with SIGINT once it has ended (also when it failed), and
 * always before the lab is torn down, so every file is complete.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LabProcess, RunningLab } from './running-lab.js';

/** What to capture: a node and, when given, only these of its interfaces (default: every veth and tunnel of it). */
export interface NodeCaptureRequest {
  readonly node: string;
  readonly interfaces?: readonly string[];
}

/** One capture file once stopped. */
export interface NodeCaptureFile {
  readonly node: string;
  readonly interfaces: readonly string[];
  readonly path: string;
  /** Packets dumpcap said it wrote (undefined when it printed no summary). */
  readonly packets: number | undefined;
  /** Packets dropped per interface (by the kernel ring or dumpcap), as dumpcap counted them at the end. */
  readonly dropped: Readonly<Record<string, number>>;
  /** What went wrong, if anything (dumpcap exited non-zero, printed no summary): the file may then be incomplete. */
  readonly problem?: string;
}

/**
 * libpcap reads the kernel's TPACKET_V3 ring a block at a time, and a partly filled block is handed over only when its
 * retire timeout (about 1 s) expires: whatever is still in the ring when SIGINT arrives is lost. Waiting this long
 * after the traffic lets the last block through.
 */
const SETTLE_MS = 1200;
/** Ring buffer per interface, MiB: a few hundred full-size packets in flight between reads must fit. */
const BUFFER_MIB = 32;

/** The interfaces of `node` to capture on by default: its veths and tunnels (not lo). */
export function nodeInterfaces(lab: Pick<RunningLab, 'plan' | 'name'>, node: string): string[] {
  const n = lab.plan.nodes.find((x) => x.name === node);
  if (n === undefined) throw new Error(`lab ${lab.name}: no node "${node}" to capture on`);
  return n.interfaces.map((i) => i.ifname);
}

/**
 * Switches segmentation and receive offloads (TSO, GSO, GRO) off on every interface of every node of the lab, so that a
 * capture shows packets as they cross the links: with them on, a sender's capture holds 64 KB segments the NIC (here the
 * veth) cuts up later and a receiver's holds segments GRO merged, and no capture can then tell how large the packets on
 * the wire were (the analyzer says "cannot tell" about them). Interfaces that have no such offloads are left as they are.
 * Returns the interfaces where ethtool failed, "node/ifname: message".
 */
export async function switchOffloadsOff(lab: Pick<RunningLab, 'plan' | 'exec'>): Promise<string[]> {
  const failed: string[] = [];
  await Promise.all(
    lab.plan.nodes.flatMap((n) =>
      n.interfaces.map(async (i) => {
        const r = await lab.exec(n.name, ['ethtool', '-K', i.ifname, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
        if (r.code !== 0) failed.push(`${n.name}/${i.ifname}: ${r.stderr.trim() || `ethtool exited ${r.code}`}`);
      }),
    ),
  );
  return failed;
}

/** The file name a node's capture gets in the caller's directory. */
export function captureFileName(node: string): string {
  return `${node}.pcapng`;
}

interface Running {
  readonly node: string;
  readonly interfaces: readonly string[];
  readonly path: string;
  readonly proc: LabProcess;
}

/** The captures of one run, started together. */
export class NodeCaptures {
  private stopped: NodeCaptureFile[] | undefined;

  private constructor(private readonly running: readonly Running[]) {}

  /**
   * Starts a dumpcap per request in its node's namespace, writing `<node>.pcapng` into `dir` (created if missing), and
   * resolves once every one of them captures. A dumpcap that does not start stops the ones already running.
   */
  static async start(lab: RunningLab, requests: readonly NodeCaptureRequest[], dir: string): Promise<NodeCaptures> {
    await mkdir(dir, { recursive: true });
    const running: Running[] = [];
    const captures = new NodeCaptures(running);
    try {
      for (const r of requests) {
        const interfaces = r.interfaces ?? nodeInterfaces(lab, r.node);
        if (interfaces.length === 0) throw new Error(`lab ${lab.name}: node "${r.node}" has no interface to capture on`);
        const path = join(dir, captureFileName(r.node));
        // -B is an option of the interface named before it.
        const argv = ['dumpcap', '-q', '-n', ...interfaces.flatMap((i) => ['-i', i, '-B', String(BUFFER_MIB)]), '-w', path];
        running.push({ node: r.node, interfaces, path, proc: lab.spawn(r.node, argv) });
      }
      await Promise.all(
        running.map(async (r) => {
          try {
            // dumpcap names its file once every interface is open (before that, "Capturing on" only says what it will open).
            await r.proc.waitForOutput(/^File: /m, 10_000);
          } catch (err) {
            throw new Error(`dumpcap on ${r.node} (${r.interfaces.join(', ')}) did not start: ${r.proc.stderr.trim() || String(err)}`, { cause: err });
          }
        }),
      );
      return captures;
    } catch (err) {
      await captures.stop();
      throw err;
    }
  }

  /**
   * Lets the last ring block through, stops every dumpcap by its PID with SIGINT (SIGKILL only if one does not end
   * within 5 s) and says what each wrote. Calling it again returns the same result.
   */
  async stop(): Promise<NodeCaptureFile[]> {
    if (this.stopped !== undefined) return this.stopped;
    if (this.running.some((r) => r.proc.running)) await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const files = await Promise.all(
      this.running.map(async (r): Promise<NodeCaptureFile> => {
        const exit = await r.proc.stop('SIGINT', 5000);
        // dumpcap creates its file readable by its owner only; the captures are meant to be read by whoever asked for them.
        await chmod(r.path, 0o644).catch(() => undefined);
        const summary = parseDumpcapSummary(r.proc.stderr);
        const problem =
          exit.code !== 0 && exit.signal !== 'SIGINT'
            ? `dumpcap exited with ${String(exit.code ?? exit.signal)}: ${r.proc.stderr.trim()}`
            : summary.packets === undefined
              ? `dumpcap printed no summary: ${r.proc.stderr.trim()}`
              : undefined;
        return { node: r.node, interfaces: r.interfaces, path: r.path, ...summary, ...(problem === undefined ? {} : { problem }) };
      }),
    );
    this.stopped = files;
    return files;
  }
}

/** Reads dumpcap's closing lines: "Packets captured: 20" and "Packets received/dropped on interface 'eth1': 8/0 ...". */
export function parseDumpcapSummary(stderr: string): { packets: number | undefined; dropped: Record<string, number> } {
  const captured = /Packets captured: (\d+)/.exec(stderr);
  const dropped: Record<string, number> = {};
  for (const m of stderr.matchAll(/Packets received\/dropped on interface '([^']+)': (\d+)\/(\d+)/g)) dropped[m[1]!] = Number(m[3]);
  return { packets: captured === null ? undefined : Number(captured[1]), dropped };
}
