import { openPacketQueue } from '../host/packet-queue.js';
import type { EngineSettings } from './engine-settings.js';
import { PacketEngine } from './packet-engine.js';
import type { IpFamily } from '../packet/ip-family.js';
import { installQueueRules, registerRuleCleanup, type InstalledQueueRules } from './queue-rules.js';
import { forgetPathMtu } from './path-mtu-cache-flush.js';
import { RawSender } from '../host/raw-sender.js';

export interface HostEngineOptions {
  readonly queueNum: number;
  /** Firewall mark of the engine's own packets (skipped by the OUTPUT rule). */
  readonly mark: number;
  readonly families: readonly IpFamily[];
  readonly onError: (err: unknown) => void;
}

/** The engine wired to this host's kernel: netfilter queue in, raw sockets out, rules installed. */
export interface HostEngine {
  readonly engine: PacketEngine;
  /** The rules found on start belonged to a run that had died; they were replaced. */
  readonly replacedStaleRules: boolean;
  stop(): Promise<void>;
}

const SWEEP_INTERVAL_MS = 1000;

/**
 * Binds the queue first and installs the rules last, so that no packet is ever queued without a reader; the
 * rules carry --queue-bypass, so if this process dies the port keeps working unqueued until the next start replaces
 * them.
 */
export async function startHostEngine(settings: EngineSettings, options: HostEngineOptions): Promise<HostEngine> {
  const sender = RawSender.open(options.mark, options.onError);
  const engine = new PacketEngine(
    settings,
    (family, packet, destination) => sender.send(family, packet, destination),
    undefined,
    (family, clientAddress) => forgetPathMtu(family, clientAddress).catch(options.onError),
  );
  openPacketQueue(options.queueNum, (p) => engine.handle(p), options.onError, { verdictThread: true });
  let rules: InstalledQueueRules;
  try {
    rules = await installQueueRules({ port: settings.port, queueNum: options.queueNum, mark: options.mark, families: options.families });
  } catch (err) {
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
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(sweeper);
      await rules.remove();
      unregister();
      sender.close();
    },
  };
}
