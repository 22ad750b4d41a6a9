/**
 * Running the built `mtuscope` command (dist/src/cli/main.js) the way users do, as a child process: the one way tests
 * call the CLI. Output is collected as text; a timeout kills the command (SIGKILL) and is reported, not thrown.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface CliRun {
  /** null when the command was killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export interface CliOptions {
  /** Written to standard input (which is then closed). */
  readonly stdin?: Uint8Array | string;
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Run through another program first, e.g. ['ip', 'netns', 'exec', ns] or ['setpriv', '--reuid=65534', ...]. */
  readonly prefix?: readonly string[];
}

/** Runs any command to its end, collecting its output. */
export function runToEnd(command: string, argv: readonly string[], options: Omit<CliOptions, 'prefix'> = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...argv], { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 60_000);
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.stdin);
  });
}

/** `mtuscope ARGS...` with this Node.js. */
export function mtuscope(args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  const argv = [process.execPath, CLI, ...args];
  const [command, ...rest] = [...(options.prefix ?? []), ...argv];
  return runToEnd(command!, rest, options);
}
