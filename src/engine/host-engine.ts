import { openPacketQueue } from '../host/packet-queue.js';
import type { EngineSettings } from './engine-settings.js';
import { PacketEngine } from './packet-engine.js';
import type { IpFamily } from '../packet/ip-family.js';
import { installQueueRules, registerRuleCleanup, type InstalledQueueRules } from './queue-rules.js';
import { forgetPathMtu } from './path-mtu-cache-flush.js';
import { RawSender } from '../host/raw-sender.js';
import { HostKernelAnswer } from './host-kernel-answer.js';
import { KERNEL_ANSWER_TURNED_OFF, type KernelAnswerStatus } from './engine-stats.js';
import { errorMessage } from '../util/error-message.js';

export interface HostEngineOptions {
  readonly queueNum: number;
  /** Firewall mark of the engine's own packets (skipped by the OUTPUT rule). */
  readonly mark: number;
  readonly families: readonly IpFamily[];
  /** Answer /icmp segments in the kernel where it can (kernel-answer.ts); the engine answers them all when false. */
  readonly kernelAnswer: boolean;
  readonly onError: (err: unknown) => void;
}

/** The engine wired to this host's kernel: netfilter queue in, raw sockets out, rules installed. */
export interface HostEngine {
  readonly engine: PacketEngine;
  /** The rules found on start belonged to a run that had died; they were replaced. */
  readonly replacedStaleRules: boolean;
  /** Where /icmp segments are answered, and what the kernel did with them so far. */
  kernelAnswerStatus(): KernelAnswerStatus;
  stop(): Promise<void>;
}

/** The kernel answer's marks: the two after the engine's own, so that one --mark keeps a service's marks apart. */
function kernelAnswerMarks(mark: number): { answeredMark: number; heldBackMark: number } | undefined {
  const answeredMark = (mark + 1) >>> 0;
  const heldBackMark = (mark + 2) >>> 0;
  return answeredMark === 0 || heldBackMark === 0 ? undefined : { answeredMark, heldBackMark };
}

function openKernelAnswer(settings: EngineSettings, options: HostEngineOptions): HostKernelAnswer | string {
  if (!options.kernelAnswer) return KERNEL_ANSWER_TURNED_OFF;
  const marks = kernelAnswerMarks(options.mark);
  if (marks === undefined) return `no firewall marks left after --mark ${options.mark}`;
  try {
    return HostKernelAnswer.open({ ...marks, port: settings.port, icmpMtu: settings.icmpMtu, icmpWindowMs: settings.icmpWindowMs, icmpRate: settings.icmpRate, ipv6ClientPrefix: settings.ipv6ClientPrefix }, (name, reason) =>
      options.onError(`kernel Packet Too Big answer: not on ${name}: ${reason}`),
    );
  } catch (err) {
    return errorMessage(err);
  }
}

const SWEEP_INTERVAL_MS = 1000;

/**
 * Binds the queue first and installs the rules last, so that no packet is ever queued without a reader; the
 * rules carry --queue-bypass, so if this process dies the port keeps working unqueued until the next start replaces
 * them.
 */
export async function startHostEngine(settings: EngineSettings, options: HostEngineOptions): Promise<HostEngine> {
  const sender = RawSender.open(options.mark, options.onError);
  const kernelAnswer = openKernelAnswer(settings, options);
  const engine = new PacketEngine(
    settings,
    (family, packet, destination) => sender.send(family, packet, destination),
    undefined,
    (family, clientAddress) => forgetPathMtu(family, clientAddress).catch(options.onError),
    typeof kernelAnswer === 'string' ? undefined : kernelAnswer,
  );
  const closeKernelAnswer = (): void => {
    if (typeof kernelAnswer !== 'string') kernelAnswer.close();
  };
  openPacketQueue(options.queueNum, (p) => engine.handle(p), options.onError, { verdictThread: true });
  let rules: InstalledQueueRules;
  try {
    rules = await installQueueRules({ port: settings.port, queueNum: options.queueNum, mark: options.mark, families: options.families });
  } catch (err) {
    closeKernelAnswer();
    sender.close();
    throw err;
  }
  const unregister = registerRuleCleanup(rules);
  const sweeper = setInterval(() => engine.sweep(), SWEEP_INTERVAL_MS);
  sweeper.unref();
  let stopped = false;
  return {
    engine,
    replacedStaleRules: rules.replacedStale,
    kernelAnswerStatus() {
      if (typeof kernelAnswer === 'string') return { inKernel: false, reason: kernelAnswer };
      return { inKernel: true, interfaces: kernelAnswer.interfaces, outcomes: kernelAnswer.outcomes() };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(sweeper);
      // Before the rules go: without the queue, the clones of answered segments would reach the server's TCP.
      closeKernelAnswer();
      await rules.remove();
      unregister();
      sender.close();
    },
  };
}
