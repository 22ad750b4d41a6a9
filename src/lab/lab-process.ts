/**
 * A background process inside a lab node. `ip netns exec` execs the command in place, so `pid` is the command
 * itself and signals reach it directly.
 */
import type { ChildProcess } from 'node:child_process';
import type { LabProcess } from './running-lab.js';

type Exit = { code: number | null; signal: NodeJS.Signals | null };

async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const r = await Promise.race([p.then(() => true), timeout]);
  clearTimeout(timer);
  return r;
}

export class NamespaceProcess implements LabProcess {
  private stdoutText = '';
  private stderrText = '';
  private exitResult: Exit | null = null;
  /** The process ended ('exit'); its output may still be arriving. */
  private readonly ended: Promise<Exit>;
  /** The process ended and its output pipes closed ('close'), which a child of it that inherited them can delay. */
  private readonly closed: Promise<void>;

  constructor(
    readonly argv: readonly string[],
    private readonly child: ChildProcess,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (this.stdoutText += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.stderrText += s));
    this.ended = new Promise((resolve) => {
      child.on('error', (err) => {
        this.stderrText += String(err);
        this.exitResult ??= { code: null, signal: null };
        resolve(this.exitResult);
      });
      child.on('exit', (code, signal) => {
        this.exitResult ??= { code, signal };
        resolve(this.exitResult);
      });
    });
    this.closed = new Promise((resolve) => {
      child.on('error', () => resolve());
      child.on('close', () => resolve());
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
  get stdout(): string {
    return this.stdoutText;
  }
  get stderr(): string {
    return this.stderrText;
  }
  get running(): boolean {
    return this.exitResult === null;
  }

  waitForOutput(pattern: RegExp, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const matches = (): boolean => pattern.test(this.stdoutText) || pattern.test(this.stderrText);
      if (matches()) return resolve();
      let done = false;
      const finish = (err?: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.child.stdout?.off('data', check);
        this.child.stderr?.off('data', check);
        if (err) reject(err);
        else resolve();
      };
      // Listeners added after the buffering ones, so the text is already appended when they run.
      const check = (): void => {
        if (matches()) finish();
      };
      const timer = setTimeout(
        () => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${String(pattern)} from ${this.argv.join(' ')}; stderr: ${this.stderrText}`)),
        timeoutMs,
      );
      this.child.stdout?.on('data', check);
      this.child.stderr?.on('data', check);
      void this.closed.then(() => {
        if (matches()) finish();
        else finish(new Error(`${this.argv.join(' ')} exited before printing ${String(pattern)}; stderr: ${this.stderrText}`));
      });
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<Exit> {
    if (this.exitResult === null) {
      this.signal(signal);
      if (!(await this.endsWithin(graceMs))) this.signal('SIGKILL');
    }
    const exit = await this.ended;
    // Let the last output arrive (tcpdump's statistics come at its very end), but not wait on a leftover child that
    // holds the pipes: the lab's teardown deals with that one.
    await within(this.closed, 1000);
    return exit;
  }

  /** Whether the process ends within `ms`. */
  endsWithin(ms: number): Promise<boolean> {
    return within(this.ended, ms);
  }

  /** For exit handlers: no waiting. */
  killNow(): void {
    if (this.exitResult === null) this.signal('SIGKILL');
  }

  private signal(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}
