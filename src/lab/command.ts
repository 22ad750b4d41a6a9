/**
 * Running host commands for the lab: always argv arrays (never a shell), bounded by a timeout that SIGKILLs, and
 * optionally tracked in a set so a teardown can kill a command that is still running (e.g. a curl cut short by Ctrl-C).
 */
import { execFile, type ChildProcess } from 'node:child_process';
import type { ExecOptions, ExecResult } from './running-lab.js';

export const DEFAULT_EXEC_TIMEOUT_MS = 15_000;

export function runCommand(cmd: string, argv: readonly string[], options: ExecOptions = {}, inFlight?: Set<ChildProcess>): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      argv,
      { timeout: options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        inFlight?.delete(child);
        const failure = error as (Error & { code?: number | string; signal?: NodeJS.Signals | null; killed?: boolean }) | null;
        // A string code (ENOENT, ERR_CHILD_PROCESS_STDIO_MAXBUFFER) means the command did not run to its own exit.
        const code = failure === null ? 0 : typeof failure.code === 'number' ? failure.code : null;
        resolve({
          stdout,
          stderr: typeof failure?.code === 'string' ? `${stderr}${failure.message}` : stderr,
          code,
          signal: failure?.signal ?? null,
          timedOut: failure?.killed === true && failure.signal === 'SIGKILL',
        });
      },
    );
    inFlight?.add(child);
    // A command that exits before reading its input must not crash us with EPIPE.
    child.stdin?.on('error', () => undefined);
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

export function describeCommand(cmd: string, argv: readonly string[]): string {
  return [cmd, ...argv].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

export function commandFailure(context: string, cmd: string, argv: readonly string[], r: ExecResult): Error {
  const how = r.timedOut ? 'timed out' : r.code === null ? `was killed by ${String(r.signal)}` : `exited with ${r.code}`;
  const stderr = r.stderr.trim();
  return new Error(`${context}${describeCommand(cmd, argv)} ${how}${stderr === '' ? '' : `: ${stderr}`}`);
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
