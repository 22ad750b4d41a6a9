/**
 * What `mtuscope analyze` leaves on the host while it runs — a spool file holding standard input or a live capture
 * for --extract's second pass, a tcpdump process — goes when it ends: on a normal exit, and on SIGINT, SIGTERM and
 * SIGHUP. A live capture is ended gracefully by the first signal (`onFirstSignal` stops tcpdump, whose end closes
 * the stream, after which the summary is printed); a second signal, or any signal without a live capture, removes
 * everything at once and lets the signal end the process.
 */
import { unlinkSync } from 'node:fs';
import type { TcpdumpCapture } from '../host/tcpdump-capture.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export class AnalyzeTeardown {
  private readonly files = new Set<string>();
  private tcpdump: TcpdumpCapture | undefined;
  private onFirstSignal: (() => void) | undefined;
  private signalled = false;
  private readonly exitHandler = (): void => this.removeSync();
  private readonly signalHandler = (sig: NodeJS.Signals): void => this.onSignal(sig);

  constructor() {
    process.on('exit', this.exitHandler);
    for (const sig of SIGNALS) process.on(sig, this.signalHandler);
  }

  /** A signal ended (or is ending) the run: the summary should say so. */
  get interrupted(): boolean {
    return this.signalled;
  }

  addFile(path: string): void {
    this.files.add(path);
  }

  /** The live capture: stopped by the first signal, killed on exit if it still runs. */
  setCapture(tcpdump: TcpdumpCapture): void {
    this.tcpdump = tcpdump;
    this.onFirstSignal = () => tcpdump.stop();
  }

  /** Removes everything now and stops listening for signals (the end of a normal run). */
  done(): void {
    this.removeSync();
    process.off('exit', this.exitHandler);
    for (const sig of SIGNALS) process.off(sig, this.signalHandler);
  }

  private onSignal(sig: NodeJS.Signals): void {
    if (!this.signalled && this.onFirstSignal !== undefined && this.tcpdump?.running === true) {
      this.signalled = true;
      this.onFirstSignal();
      return;
    }
    this.signalled = true;
    this.done();
    // With our listener gone and no other, the default action ends the process "killed by signal".
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  }

  private removeSync(): void {
    this.tcpdump?.killSync();
    for (const f of this.files) {
      try {
        unlinkSync(f);
      } catch {
        // Already gone.
      }
    }
    this.files.clear();
  }
}
