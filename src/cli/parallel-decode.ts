import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { CapturedPacket } from '../capture/captured-packet.js';
import { type PackedPackets, packPackets } from '../capture/packed-packets.js';
import type { LineOutput } from './line-output.js';
import { type LineFormat, LineBatches } from './packet-line.js';

/** A run of packets for a worker: their lines are numbered from `first`. */
export interface DecodeJob {
  readonly seq: number;
  readonly first: number;
  readonly packets: PackedPackets;
}

/** A worker's answer: the lines of job `seq`, UTF-8, in bytes[0, length). */
export interface DecodeJobDone {
  readonly seq: number;
  readonly bytes: ArrayBuffer;
  readonly length: number;
}

/** Batches a worker may hold: one at work, one waiting, so that it never idles while the main thread is busy. */
const JOBS_PER_WORKER = 2;
/**
 * The young generation of a worker, whose garbage is the lines and decoded layers of every packet: 32 MB
 * semi-spaces from the start, where V8 starts small and grows slowly, halve its scavenges and cut the time of a large
 * file by about 5% (--trace-gc and timed runs, docs/benchmarks.md). The flag applies to isolates created after it is
 * set, the workers', not the main thread's (whose size only `node --min-semi-space-size` could set).
 */
const WORKER_SEMI_SPACE_MB = 32;
/** V8's young generation is two semi-spaces and a space for large new objects of the same size. */
const YOUNG_GENERATION_PER_SEMI_SPACE = 3;

/**
 * Decodes on `threads` threads: the main thread reads the capture and hands each batch of packets (about one read
 * chunk, a thousand packets) to a worker thread that has room for it, or decodes it itself when none has, then
 * writes the lines back in packet order. The lines are exactly those of one thread; only the work is shared.
 * The main thread takes its share because its own reading and writing are light, and because each worker costs
 * a start-up and a JIT warm-up of its own (docs/benchmarks.md has the figures).
 *
 * Use it only for input that never pauses (a file): lines come out in batches of a thousand, not as packets arrive.
 */
export class ParallelDecode {
  private readonly workers: Worker[];
  private readonly busy: number[];
  private readonly done = new Map<number, Buffer>();
  private sent = 0;
  private written = 0;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly batches: LineBatches;

  constructor(
    threads: number,
    format: LineFormat,
    /** Where the lines go; once its reader went away (out.closed), nothing more is decoded. */
    private readonly out: LineOutput,
  ) {
    this.batches = new LineBatches(format);
    this.workers = [];
    this.busy = [];
    if (threads > 1) setFlagsFromString(`--min-semi-space-size=${WORKER_SEMI_SPACE_MB}`);
    for (let i = 0; i < threads - 1; i++) {
      const worker = new Worker(new URL('./decode-worker.js', import.meta.url), {
        workerData: format,
        resourceLimits: { maxYoungGenerationSizeMb: WORKER_SEMI_SPACE_MB * YOUNG_GENERATION_PER_SEMI_SPACE },
      });
      worker.on('message', (answer: DecodeJobDone) => {
        this.busy[i]!--;
        this.done.set(answer.seq, Buffer.from(answer.bytes, 0, answer.length));
        this.wakeUp();
      });
      worker.on('error', (err) => this.fail(err));
      worker.on('exit', (code) => {
        if (this.busy[i]! > 0) this.fail(new Error(`decode worker ${i} exited (code ${code}) with ${this.busy[i]} batches unfinished`));
      });
      this.workers.push(worker);
      this.busy.push(0);
    }
  }

  /** Decodes `packets` (numbered from `first`) on a worker with room for them or here, then writes what is ready. */
  async decode(first: number, packets: readonly CapturedPacket[]): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.out.closed) return;
    let worker = -1;
    for (let i = 0; i < this.workers.length; i++) if (this.busy[i]! < JOBS_PER_WORKER && (worker < 0 || this.busy[i]! < this.busy[worker]!)) worker = i;
    const seq = this.sent++;
    if (worker < 0) this.done.set(seq, this.batches.lines(first, packets));
    else {
      const job: DecodeJob = { seq, first, packets: packPackets(packets) };
      this.busy[worker]!++;
      this.workers[worker]!.postMessage(job, [job.packets.bytes, job.packets.table.buffer as ArrayBuffer]);
    }
    await this.writeReady();
  }

  /** Writes every line of the batches handed out so far. */
  async drain(): Promise<void> {
    while (this.written < this.sent && !this.out.closed) await this.progress();
  }

  /** Writes every line of the batches handed out so far, then stops the workers. */
  async finish(): Promise<void> {
    try {
      await this.drain();
    } finally {
      await this.stop();
    }
  }

  /** Stops the workers, whatever they were doing. */
  async stop(): Promise<void> {
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.terminate()));
  }

  /** Waits for a worker's answer (or a failure), then writes what is ready. */
  private async progress(): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.done.has(this.written)) {
      await new Promise<void>((resolve) => (this.wake = resolve));
      if (this.failure) throw this.failure;
    }
    await this.writeReady();
  }

  /** Writes the finished batches that come next in packet order. */
  private async writeReady(): Promise<void> {
    for (let bytes = this.done.get(this.written); bytes !== undefined && !this.out.closed; bytes = this.done.get(this.written)) {
      this.done.delete(this.written);
      this.written++;
      await this.out.writeEncoded(bytes);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
