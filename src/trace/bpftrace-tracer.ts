/**
 * Runs the generated tracer program (tracer-program.ts) under bpftrace and streams its events.
 *
 * Nothing stays attached after we are gone: BPF programs attached to tracepoints belong to the bpftrace process and
 * the kernel detaches them when it exits; bpftrace is started with a parent-death signal (setpriv --pdeathsig), so
 * it exits when we do, even after SIGKILL; on a normal exit and on SIGINT/SIGTERM/SIGHUP it is ended by its PID
 * (host/exit-teardown). The tracefs hold (tracefs.ts) is removed with it.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { missingCapabilities } from '../host/capabilities.js';
import { forgetOnExit, tearDownOnExit, type SyncTeardown } from '../host/exit-teardown.js';
import { readKernelLayout } from './kernel-layout.js';
import { holdTracefs, hasTracepoint, releaseTracefs } from './tracefs.js';
import { parseTraceLine, type TraceEvent, type TraceLineError } from './trace-event.js';
import { DROP_TRACEPOINTS, STOP_TRACEPOINT, TRACEPOINTS, tracerProgram, type TracerProgramOptions } from './tracer-program.js';

/** Why the tracer could not run, with a code callers (and tests) can branch on. */
export class TracerUnavailable extends Error {
  override readonly name = 'TracerUnavailable';
  constructor(
    readonly code: 'not-root' | 'no-bpftrace' | 'no-tracepoint' | 'no-btf' | 'bpf-not-permitted' | 'failed',
    message: string,
  ) {
    super(message);
  }
}

export interface TracerOptions extends TracerProgramOptions {
  /** Perf ring buffer pages per CPU (4 KiB each); events beyond it are lost, and counted. */
  readonly bufferPages?: number;
  /** Most skbs followed at once. */
  readonly maxFollowed?: number;
  /** The bpftrace binary (tests: a missing one). */
  readonly bpftrace?: string;
  /** Called for each event, in order. */
  readonly onEvent: (event: TraceEvent) => void;
  /** Lines the tracer printed that are not events (bpftrace warnings), and lines that did not parse. */
  readonly onMessage?: (text: string) => void;
}

export interface TracerEnd {
  /** Events the kernel side emitted (its own count); undefined when bpftrace did not end normally. */
  readonly emitted: number | undefined;
  readonly received: number;
  /** Events emitted but never received: perf buffer overruns (the larger of bpftrace's report and our count). */
  readonly lost: number;
  readonly malformed: readonly TraceLineError[];
  readonly detachMs: number;
  readonly exit: { readonly code: number | null; readonly signal: NodeJS.Signals | null };
}

const DEFAULT_BUFFER_PAGES = 1024;
const DEFAULT_MAX_FOLLOWED = 65536;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
/** Asked again this often until bpftrace has exited (see stop()). */
const SIGINT_REPEAT_MS = 200;
/** How long stop() relies on the stop probe before it turns to SIGINT. */
const STOP_PROBE_MS = 5000;
/** Messages bpftrace prints on every start here that say nothing about the trace. */
const NOISE = [/couldn't set RLIMIT_MEMLOCK/, /^Attaching \d+ probes?\.\.\.$/, /^@stopping: \d+$/];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(command: string): boolean {
  if (command.includes('/')) return executable(command);
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => executable(join(dir, command)));
}

/** Everything that can be checked before starting: root, bpftrace, the tracepoints. Throws TracerUnavailable. */
export function checkTracerPrerequisites(bpftrace = process.env['MTUSCOPE_BPFTRACE'] ?? 'bpftrace'): void {
  if (typeof process.geteuid === 'function' && process.geteuid() !== 0) {
    throw new TracerUnavailable('not-root', 'needs root: it loads BPF programs onto kernel tracepoints');
  }
  if (!onPath(bpftrace)) throw new TracerUnavailable('no-bpftrace', `${bpftrace} is not installed (Debian: apt-get install bpftrace)`);
  // Root without these (a container, setpriv --bounding-set) gets EPERM from bpf() and perf_event_open().
  const lacking = missingCapabilities(['CAP_SYS_ADMIN', 'CAP_BPF', 'CAP_PERFMON']);
  if (lacking.includes('CAP_SYS_ADMIN') && lacking.some((c) => c === 'CAP_BPF' || c === 'CAP_PERFMON')) {
    throw new TracerUnavailable('bpf-not-permitted', `BPF is not permitted here: this process lacks ${lacking.join(', ')} (tracing needs CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON)`);
  }
}

/** The tracepoints of `wanted` this kernel lacks. */
export function missingTracepoints(wanted: readonly string[]): string[] {
  return wanted.filter((t) => !hasTracepoint(t));
}

/** A running tracer. Start with `Tracer.start`, always `stop()` it (a `finally`). */
export class Tracer implements SyncTeardown {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private pending = '';
  private stderrText = '';
  private emitted: number | undefined;
  private reportedLost = 0;
  private received = 0;
  private readonly malformed: TraceLineError[] = [];
  private attached: ((timeNs: bigint) => void) | undefined;
  private hasExited = false;
  private stopped = false;
  /** Kernel time at which the probes were attached (CLOCK_MONOTONIC, ns). */
  attachedAtNs = 0n;

  private constructor(
    private readonly options: TracerOptions,
    private readonly hold: string,
    program: string,
    /** The program has the stop probe: kill(pid, 0) asks bpftrace to stop. */
    private readonly stopProbe: boolean,
  ) {
    const env = {
      ...process.env,
      BPFTRACE_PERF_RB_PAGES: String(options.bufferPages ?? DEFAULT_BUFFER_PAGES),
      BPFTRACE_MAP_KEYS_MAX: String(options.maxFollowed ?? DEFAULT_MAX_FOLLOWED),
    };
    this.child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', options.bpftrace ?? process.env['MTUSCOPE_BPFTRACE'] ?? 'bpftrace', '-B', 'none', '-'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env,
      // Its own process group: a Ctrl-C on the terminal reaches us only, and we end bpftrace in order (stop()).
      detached: true,
    });
    this.child.stdin.on('error', () => undefined);
    this.child.stdin.end(program);
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => this.take(chunk));
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderrText += chunk;
      if (this.stderrText.length > 65536) this.stderrText = this.stderrText.slice(-65536);
    });
    this.ended = new Promise((resolve) => {
      this.child.on('error', () => undefined);
      this.child.on('close', (code, signal) => {
        this.hasExited = true;
        if (this.pending !== '') this.line(this.pending);
        this.pending = '';
        resolve({ code, signal });
      });
    });
  }

  /** Settles when bpftrace has exited, for whatever reason. */
  get exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.ended;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Starts bpftrace and resolves once every probe is attached. Throws TracerUnavailable with the reason. */
  static async start(options: TracerOptions): Promise<{ tracer: Tracer; attachMs: number }> {
    checkTracerPrerequisites(options.bpftrace);
    let layout;
    try {
      layout = readKernelLayout();
    } catch (err) {
      throw new TracerUnavailable('no-btf', (err as Error).message);
    }
    const hold = holdTracefs();
    const missing = missingTracepoints(options.probes === 'drops' ? DROP_TRACEPOINTS : TRACEPOINTS);
    if (missing.length > 0) {
      releaseTracefs(hold);
      throw new TracerUnavailable('no-tracepoint', `this kernel lacks the tracepoint${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
    }
    // MTUSCOPE_TRACE_STOP=signal: for a stand-in for bpftrace (MTUSCOPE_BPFTRACE), which runs no probe.
    const wanted = options.stopProbe ?? process.env['MTUSCOPE_TRACE_STOP'] !== 'signal';
    const stopProbe = wanted && missingTracepoints([STOP_TRACEPOINT]).length === 0;
    const program = tracerProgram({ ...options, stopProbe }, layout);
    const started = performance.now();
    const tracer = new Tracer(options, hold, program, stopProbe);
    tearDownOnExit(tracer);
    const attached = new Promise<bigint>((resolve) => {
      tracer.attached = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      attached.then((ns) => ({ kind: 'attached' as const, ns })),
      tracer.ended.then((end) => ({ kind: 'ended' as const, end })),
      new Promise<{ kind: 'timeout' }>((resolve) => {
        timer = setTimeout(() => resolve({ kind: 'timeout' }), START_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (outcome.kind === 'attached') {
      tracer.attachedAtNs = outcome.ns;
      return { tracer, attachMs: performance.now() - started };
    }
    tracer.destroySync();
    await tracer.ended;
    throw tracer.startFailure(outcome.kind === 'timeout' ? `bpftrace did not attach within ${START_TIMEOUT_MS / 1000} s` : undefined);
  }

  private startFailure(why: string | undefined): TracerUnavailable {
    const text = this.stderr().split('\n').join('; ');
    if (/Operation not permitted|EPERM|permission denied|CAP_BPF|CAP_SYS_ADMIN/i.test(text)) {
      return new TracerUnavailable('bpf-not-permitted', `BPF is not permitted here: ${text}`);
    }
    if (/failed to execute|No such file/i.test(text)) return new TracerUnavailable('no-bpftrace', `bpftrace could not be started: ${text}`);
    return new TracerUnavailable('failed', `bpftrace failed: ${why ?? (text || 'it exited without a message')}`);
  }

  private take(chunk: string): void {
    const text = this.pending + chunk;
    const lines = text.split('\n');
    this.pending = lines.pop() ?? '';
    for (const l of lines) this.line(l);
  }

  private line(text: string): void {
    if (text === '') return;
    const parsed = parseTraceLine(text);
    if (!parsed.ok) {
      if (this.malformed.length < 100) this.malformed.push(parsed.error);
      this.options.onMessage?.(`unreadable tracer line (${parsed.error.field}: ${parsed.error.reason})`);
      return;
    }
    const v = parsed.value;
    switch (v.type) {
      case 'attached':
        this.attached?.(v.timeNs);
        break;
      case 'event':
        this.received++;
        this.options.onEvent(v.event);
        break;
      case 'emitted':
        // Printed by bpftrace as it exits, from the map itself, after the last events were read.
        this.emitted = v.count;
        break;
      case 'lost':
        this.reportedLost += v.count;
        break;
      case 'message':
        if (!NOISE.some((n) => n.test(v.text))) this.options.onMessage?.(v.text);
        break;
    }
  }

  /** Detaches (SIGINT: bpftrace drains its buffers and prints its count as it exits), waits for bpftrace to exit. */
  async stop(): Promise<TracerEnd> {
    const started = performance.now();
    // The stop probe first: kill(pid, 0) delivers no signal, the probe calls exit(), and bpftrace ends in order. It is
    // asked again while it has not gone: exit() travels through the perf buffer, which may be full. Without the probe,
    // or when it has not worked within STOP_PROBE_MS, SIGINT, also repeated: bpftrace 0.17 can miss one (caught, nothing
    // pending, yet it stays in epoll_wait until an event wakes it; measured on this 2-core machine under load: without
    // the repeat 2 of 30 lab runs and 5 of 25 start-stop cycles hung the full 15 s, with it none of 40). A SIGINT can
    // also interrupt a write to a reader that is behind (bpftrace's handler is installed without SA_RESTART), after which
    // bpftrace prints nothing more, its count included (seen in bench/trace): why it is not the first choice.
    let asked = 0;
    const ask = (): void => {
      if (this.hasExited) return;
      const viaProbe = this.stopProbe && asked * SIGINT_REPEAT_MS < STOP_PROBE_MS;
      asked++;
      this.signal(viaProbe ? 0 : 'SIGINT');
    };
    if (!this.stopped && !this.hasExited) {
      this.stopped = true;
      ask();
    }
    const again = setInterval(ask, SIGINT_REPEAT_MS);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.ended.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    clearInterval(again);
    if (timedOut) this.signal('SIGKILL');
    const exit = await this.ended;
    const detachMs = performance.now() - started;
    this.destroySync();
    const lost = Math.max(this.reportedLost, this.emitted === undefined ? 0 : Math.max(0, this.emitted - this.received));
    return { emitted: this.emitted, received: this.received, lost, malformed: this.malformed, detachMs, exit };
  }

  /** bpftrace's messages on stderr (errors, warnings), without the ones it prints on every start here. */
  stderr(): string {
    return this.stderrText
      .split('\n')
      .filter((l) => l.trim() !== '' && !NOISE.some((n) => n.test(l)))
      .join('\n');
  }

  private signal(signal: NodeJS.Signals | 0): void {
    const pid = this.child.pid;
    if (pid === undefined || this.hasExited) return;
    try {
      process.kill(pid, signal);
    } catch {
      // Gone already.
    }
  }

  /** For exit paths: kills bpftrace by its PID (the kernel detaches its probes) and releases tracefs. Idempotent. */
  destroySync(): void {
    forgetOnExit(this);
    if (!this.hasExited) this.signal('SIGKILL');
    releaseTracefs(this.hold);
  }
}
