import type { IpFamily } from '../packet/ip-family.js';
import type { PlannedLab } from './plan.js';
import type { CommandOptions, CommandResult } from '../host/process-runner.js';

/** A process started inside a lab node; the lab kills it on teardown if it still runs. */
export interface LabProcess {
  readonly pid: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  readonly running: boolean;
  /** Resolves once stdout or stderr matches; rejects if the process exits first or the time passes. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends the signal, escalating to SIGKILL after graceMs; resolves with how it ended. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A built lab. Always `destroy()` it (a `finally`); exit and signal handlers do so for labs still up. */
export interface RunningLab {
  readonly name: string;
  /** Unique per lab instance; part of every namespace name, so parallel labs never collide. */
  readonly id: string;
  readonly plan: PlannedLab;
  /** The network namespace of a node (for `ip netns exec`). */
  namespace(node: string): string;
  /** A node's address without prefix length: that of `ifname`, else of its first interface. */
  address(node: string, family: IpFamily, ifname?: string): string;
  /** Runs a command inside a node; never throws for a non-zero exit (see `code`, `timedOut`). */
  exec(node: string, argv: readonly string[], options?: CommandOptions): Promise<CommandResult>;
  /** Like exec, but throws (naming the node, command and stderr) unless the command exits 0. */
  mustExec(node: string, argv: readonly string[], options?: CommandOptions): Promise<CommandResult>;
  /** Starts a background process inside a node. */
  spawn(node: string, argv: readonly string[]): LabProcess;
  /** Kills the lab's processes and deletes its namespaces (and with them every veth, tunnel and rule). */
  destroy(): Promise<void>;
}
