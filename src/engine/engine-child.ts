/**
 * The packet engine's own process, started by the checker with child_process.fork: packets wait for nothing but the
 * engine here, however busy the HTTP side is with uploads, pages and the results store. It binds the netfilter
 * queue, installs the rules and answers the checker's questions about connections over the IPC channel. When the
 * checker goes away (the channel closes) it removes its rules and exits.
 *
 * It ends with process.exit(): the netfilter queue binding cannot be closed (packet-queue.ts) and would keep it alive.
 * Keeping the binding in this process is what lets the checker's own process end by itself.
 */
import { setPriority } from 'node:os';
import { reportConnection } from './connection-report.js';
import type { EngineEvent, EngineRequest, EngineStartMessage } from './engine-protocol.js';
import { engineStats } from './engine-stats.js';
import { runCommandSync } from '../host/process-runner.js';
import { type HostEngine, startHostEngine } from './host-engine.js';
import { errorMessage } from '../util/error-message.js';

function send(event: EngineEvent): void {
  process.send?.(event);
}

let host: HostEngine | undefined;

async function stopAndExit(code: number): Promise<never> {
  try {
    await host?.stop();
  } finally {
    process.exit(code);
  }
}

async function answer(request: EngineRequest, h: HostEngine): Promise<void> {
  const engine = h.engine;
  switch (request.kind) {
    case 'connection':
    case 'frag-outcome':
    case 'download-outcome': {
      const c = engine.connection(request.endpoints);
      if (c !== undefined) await engine.ready(c);
      if (c !== undefined && request.kind === 'frag-outcome') await engine.fragOutcome(c, request.timeoutMs);
      if (c !== undefined && request.kind === 'download-outcome') await engine.downloadOutcome(c, request.timeoutMs);
      send({ kind: 'reply', id: request.id, ...(c === undefined ? {} : { report: reportConnection(c, performance.now()) }) });
      return;
    }
    case 'stats':
      send({ kind: 'reply', id: request.id, stats: engineStats(engine, h.kernelAnswerStatus()) });
      return;
    case 'stop':
      await h.stop();
      send({ kind: 'reply', id: request.id });
      process.exit(0);
  }
}

/**
 * Queued packets wait in the kernel until this process runs: behind the HTTP side, the load and anything else on a busy
 * machine is where a Packet Too Big delay of a millisecond or two comes from. The main thread (not the binding's
 * verdict thread, which re-injects packets into the server's TCP) takes real-time priority 1: it runs as soon as a
 * packet wakes it and is not preempted by ordinary processes. The kernel still leaves ordinary processes 5% of each
 * CPU (sched_rt_runtime_us) and the other CPUs whole. Without CAP_SYS_NICE (or without chrt), nice -10; failing
 * that, the scheduler's default share.
 */
const ENGINE_REALTIME_PRIORITY = 1;
const ENGINE_NICE = -10;
function raisePriority(): void {
  if (runCommandSync('chrt', ['--fifo', '--pid', String(ENGINE_REALTIME_PRIORITY), String(process.pid)], { timeoutMs: 5000 }).code === 0) return;
  // Not permitted, or no chrt: a nice value is the next best.
  try {
    setPriority(ENGINE_NICE);
  } catch {
    // Not permitted: the engine still works, with the scheduler's default share.
  }
}
raisePriority();

process.on('disconnect', () => void stopAndExit(0));
process.on('message', (message: EngineStartMessage | EngineRequest) => {
  if (message.kind === 'start') {
    startHostEngine(message.settings, { ...message.options, onError: (err) => send({ kind: 'log', message: errorMessage(err) }) }).then(
      (started) => {
        host = started;
        send({ kind: 'started', replacedStaleRules: started.replacedStaleRules, pid: process.pid, kernelAnswer: started.kernelAnswerStatus() });
      },
      (err: unknown) => {
        send({ kind: 'failed', message: errorMessage(err) });
        process.exit(1);
      },
    );
    return;
  }
  if (host === undefined) return;
  answer(message, host).catch((err: unknown) => send({ kind: 'log', message: `request ${message.kind}: ${errorMessage(err)}` }));
});
