import { type ChildProcess, fork } from 'node:child_process';
import type { ConnectionReport } from './connection-report.js';
import type { EngineEvent, EngineRequest, EngineStartMessage } from './engine-protocol.js';
import type { EngineStats, KernelAnswerStatus } from './engine-stats.js';
import type { HostEngineOptions } from './host-engine.js';
import { removeStaleQueueRulesOfPort } from './queue-rules.js';
import { errorMessage } from '../util/error-message.js';
import type { EngineSettings } from './engine-settings.js';
import type { ConnectionEndpoints } from './tracked-connection.js';

/** What the checker's HTTP side asks of the packet engine. */
export interface CheckerEngine {
  connection(endpoints: ConnectionEndpoints): Promise<ConnectionReport | undefined>;
  /** Resolves once the /frag test of the connection has its outcome (at the latest after `timeoutMs`). */
  fragOutcome(endpoints: ConnectionEndpoints, timeoutMs: number): Promise<ConnectionReport | undefined>;
  /** Resolves once the /download test of the connection has its outcome (at the latest after `timeoutMs`). */
  downloadOutcome(endpoints: ConnectionEndpoints, timeoutMs: number): Promise<ConnectionReport | undefined>;
  stats(): Promise<EngineStats>;
}

type Reply = Extract<EngineEvent, { kind: 'reply' }>;
type RequestBody = EngineRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

const START_TIMEOUT_MS = 30_000;

/** The checker's end of the engine: the engine runs in a child process of its own (engine-child.ts), spoken to over IPC. */
export class EngineClient implements CheckerEngine {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private exited = false;
  /** Resolves when the process ends, for whatever reason, with a description of how. */
  readonly exit: Promise<string>;

  private constructor(
    private readonly child: ChildProcess,
    readonly replacedStaleRules: boolean,
    readonly pid: number,
    /** Where /icmp segments are answered, as the engine found on start. */
    readonly kernelAnswer: KernelAnswerStatus,
    private readonly rules: { readonly port: number; readonly families: HostEngineOptions['families'] },
    private readonly log: (line: string) => void,
  ) {
    child.on('message', (event: EngineEvent) => {
      if (event.kind === 'reply') {
        const waiter = this.pending.get(event.id);
        this.pending.delete(event.id);
        waiter?.resolve(event);
      } else if (event.kind === 'log') {
        log(`engine: ${event.message}`);
      }
    });
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        const how = signal === null ? `exited with status ${code}` : `was killed by ${signal}`;
        for (const w of this.pending.values()) w.reject(new Error(`the packet engine ${how}`));
        this.pending.clear();
        resolve(how);
      });
    });
  }

  static start(settings: EngineSettings, options: Omit<HostEngineOptions, 'onError'>, log: (line: string) => void): Promise<EngineClient> {
    const child = fork(new URL('./engine-child.js', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGTERM');
        reject(new Error(`the packet engine did not start within ${START_TIMEOUT_MS / 1000} s`));
      }, START_TIMEOUT_MS);
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        clearTimeout(timer);
        reject(new Error(`the packet engine ended before it started (${signal ?? `status ${code}`})`));
      };
      child.once('exit', onExit);
      child.on('message', function onStart(event: EngineEvent) {
        if (event.kind === 'started') {
          clearTimeout(timer);
          child.off('exit', onExit);
          child.off('message', onStart);
          resolve(new EngineClient(child, event.replacedStaleRules, event.pid, event.kernelAnswer, { port: settings.port, families: options.families }, log));
        } else if (event.kind === 'failed') {
          clearTimeout(timer);
          child.off('exit', onExit);
          reject(new Error(event.message));
        }
      });
      const start: EngineStartMessage = { kind: 'start', settings, options };
      child.send(start);
    });
  }

  private request(body: RequestBody): Promise<Reply> {
    if (this.exited) return Promise.reject(new Error('the packet engine is not running'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ ...body, id });
    });
  }

  async connection(endpoints: ConnectionEndpoints): Promise<ConnectionReport | undefined> {
    return (await this.request({ kind: 'connection', endpoints })).report;
  }

  async fragOutcome(endpoints: ConnectionEndpoints, timeoutMs: number): Promise<ConnectionReport | undefined> {
    return (await this.request({ kind: 'frag-outcome', endpoints, timeoutMs })).report;
  }

  async downloadOutcome(endpoints: ConnectionEndpoints, timeoutMs: number): Promise<ConnectionReport | undefined> {
    return (await this.request({ kind: 'download-outcome', endpoints, timeoutMs })).report;
  }

  async stats(): Promise<EngineStats> {
    const reply = await this.request({ kind: 'stats' });
    if (reply.stats === undefined) throw new Error('the packet engine sent no stats');
    return reply.stats;
  }

  /**
   * Asks the engine to remove its rules and exit; resolves once it has. An engine that was killed (SIGKILL, the
   * kernel's OOM killer) could not remove its rules: they are removed here instead, so that none outlives the service.
   */
  async stop(): Promise<void> {
    if (!this.exited) await this.request({ kind: 'stop' }).catch(() => undefined);
    const how = await this.exit;
    try {
      const removed = await removeStaleQueueRulesOfPort(this.rules.port, this.rules.families);
      if (removed.length > 0) this.log(`removed the firewall rules the packet engine (pid ${this.pid}) left when it ${how}`);
    } catch (err) {
      this.log(`could not remove the firewall rules the packet engine (pid ${this.pid}) left: ${errorMessage(err)}`);
    }
  }
}
