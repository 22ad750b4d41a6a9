/**
 * Running host commands: always argv arrays (never a shell), bounded by a timeout that SIGKILLs, output collected as
 * text. The asynchronous runner can track its children in a set so a teardown can kill a command that is still
 * running (e.g. a curl cut short by Ctrl-C); the synchronous one exists for process 'exit' handlers, where nothing
 * asynchronous can run. Both report the same `CommandResult`, so callers decide once what counts as failure.
 */
import { execFile, spawnSync, type ChildProcess } from 'node:child_process';

const DEFAULT_COMMAND_TIMEOUT_MS = 15_000;
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  /** null when the command did not exit on its own: killed by a signal (e.g. on timeout) or never started. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  /** Why the command could not be run at all or its output was cut (ENOENT, ERR_CHILD_PROCESS_STDIO_MAXBUFFER). */
  readonly startError: NodeJS.ErrnoException | undefined;
}

export interface CommandOptions {
  /** Default 15 s; the command is killed (SIGKILL) after it. */
  readonly timeoutMs?: number;
  /** Written to the command's standard input. */
  readonly input?: string | Uint8Array;
}

type ExecFailure = NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals | null; killed?: boolean };

export function runCommand(cmd: string, argv: readonly string[], options: CommandOptions = {}, inFlight?: Set<ChildProcess>): Promise<CommandResult> {
  const timeout = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  return new Promise((resolve) => {
    const child = execFile(cmd, argv, { timeout, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' }, (error, stdout, stderr) => {
      inFlight?.delete(child);
      const failure = error as ExecFailure | null;
      // A string code (ENOENT, ERR_CHILD_PROCESS_STDIO_MAXBUFFER) means the command did not run to its own exit.
      const startError = failure !== null && typeof failure.code === 'string' ? failure : undefined;
      resolve({
        stdout,
        stderr,
        code: failure === null ? 0 : typeof failure.code === 'number' ? failure.code : null,
        signal: failure?.signal ?? null,
        timedOut: failure?.killed === true && failure.signal === 'SIGKILL',
        startError,
      });
    });
    inFlight?.add(child);
    // A command that exits before reading its input must not crash us with EPIPE.
    child.stdin?.on('error', () => undefined);
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

export function runCommandSync(cmd: string, argv: readonly string[], options: CommandOptions = {}): CommandResult {
  const r = spawnSync(cmd, [...argv], {
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    maxBuffer: MAX_OUTPUT_BYTES,
  });
  const startError: NodeJS.ErrnoException | undefined = r.error;
  const timedOut = startError?.code === 'ETIMEDOUT';
  return {
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? '',
    code: r.status,
    signal: r.signal,
    timedOut,
    startError: timedOut ? undefined : startError,
  };
}

function describeCommand(cmd: string, argv: readonly string[]): string {
  return [cmd, ...argv].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/** How a command that did not succeed ended, in words: "exited with 2", "timed out", ... */
export function howCommandEnded(r: CommandResult): string {
  if (r.startError !== undefined) return `${r.code === null && r.signal === null ? 'could not be run' : 'failed'}: ${r.startError.message}`;
  if (r.timedOut) return 'timed out';
  if (r.code === null) return `was killed by ${String(r.signal)}`;
  return `exited with ${r.code}`;
}

export function commandFailure(context: string, cmd: string, argv: readonly string[], r: CommandResult): Error {
  const stderr = r.stderr.trim();
  return new Error(`${context}${describeCommand(cmd, argv)} ${howCommandEnded(r)}${stderr === '' ? '' : `: ${stderr}`}`);
}

/** Kills a child still running; used by teardown, where a command's own result no longer matters. */
export function killChild(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Whether a process of that PID exists (EPERM: it does, owned by someone else). Sends no signal. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
