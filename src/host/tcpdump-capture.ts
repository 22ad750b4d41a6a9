/**
 * A live capture through tcpdump (`tcpdump -U -w - -i IFACE`): the pcap stream on its standard output, packet by
 * packet (-U), for `mtuscope analyze --live`. tcpdump is ended by its PID only: stop() asks it to end (SIGTERM, after
 * which it writes what it holds and exits, ending the stream), killSync() is for exit handlers, where nothing
 * asynchronous can run.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface TcpdumpEnd {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** tcpdump's own messages ("listening on ...", "N packets captured", errors). */
  readonly stderr: string;
  /** Why it could not be started at all (ENOENT: tcpdump is not installed). */
  readonly startError: Error | undefined;
}

export class TcpdumpCapture {
  readonly stdout: Readable;
  /** Settles when tcpdump has exited (or failed to start). */
  readonly ended: Promise<TcpdumpEnd>;
  /** Resolves once tcpdump says it is listening; rejects if it ends first. */
  readonly listening: Promise<void>;
  private readonly child: ChildProcessByStdio<null, Readable, Readable>;
  private stderrText = '';
  private exited = false;

  constructor(
    readonly iface: string,
    /** Extra arguments placed before -i (e.g. a snaplen); a capture filter goes after. */
    extra: readonly string[] = [],
  ) {
    this.child = spawn('tcpdump', ['-U', '-w', '-', ...extra, '-i', iface], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.stdout = this.child.stdout;
    let startError: Error | undefined;
    let onListening: () => void = () => undefined;
    let onEnd: (err: Error) => void = () => undefined;
    this.listening = new Promise<void>((resolve, reject) => {
      onListening = resolve;
      onEnd = reject;
    });
    // Nobody may be waiting for it when tcpdump fails; the failure is reported through `ended`.
    this.listening.catch(() => undefined);
    this.child.stderr.setEncoding('utf8').on('data', (s: string) => {
      this.stderrText += s;
      if (/listening on /.test(this.stderrText)) onListening();
    });
    this.ended = new Promise<TcpdumpEnd>((resolve) => {
      this.child.on('error', (err) => {
        startError = err;
      });
      this.child.on('close', (code, signal) => {
        this.exited = true;
        onEnd(new Error(`tcpdump ended before it was listening: ${this.stderrText.trim() || startError?.message || `exit ${String(code ?? signal)}`}`));
        resolve({ code, signal, stderr: this.stderrText, startError });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.exited && this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Asks tcpdump to end (SIGTERM by PID): it writes out what it holds, which ends the stream. */
  stop(): void {
    this.signal('SIGTERM');
  }

  /** For exit handlers: SIGKILL by PID if it still runs. */
  killSync(): void {
    this.signal('SIGKILL');
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined || !this.running) return;
    try {
      process.kill(pid, sig);
    } catch {
      // Already gone.
    }
  }
}
