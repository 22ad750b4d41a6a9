/**
 * The relay on its host: the rules (relay-rules.ts), the netfilter queue the Packet Too Big messages arrive on, a raw
 * socket for the copies it sends and the messages it hands to its own kernel, UDP sockets for envelopes between
 * relays (`broadcast` mode) and the optional metrics server, all bound to one RelayCore.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { Server } from 'node:http';
import { openPacketQueue } from '../host/packet-queue.js';
import { readQueueCounters, type QueueKernelCounters } from '../host/queue-counters.js';
import { RawSender } from '../host/raw-sender.js';
import { currentOwner, type RuleOwner } from '../host/rule-owner.js';
import type { Cidr } from '../packet/cidr.js';
import { errorMessage } from '../util/error-message.js';
import { RelayCore, type RelayCoreSettings, type RelayCounters, type RelayEvent } from './relay-core.js';
import { KernelSteering } from './relay-kernel.js';
import { INJECTED_MARK, peerRouteMark } from './relay-marks.js';
import { relayRegistry, serveMetrics } from './relay-metrics.js';
import { relayRulePlan, type RelayRulePlan } from './relay-rule-plan.js';
import { installRelayRules, type InstalledRelayRules } from './relay-rules.js';

export interface RelayHostSettings extends RelayCoreSettings {
  readonly served: readonly Cidr[];
  readonly queueNum: number;
  /** UDP port of the envelopes between relays. */
  readonly port: number;
  /** Messages per second the kernel lets into the queue (relay-rule-plan.ts). */
  readonly queueRate: { readonly perRouter: number; readonly total: number };
  readonly metrics?: { readonly host: string; readonly port: number };
  /** `owner` mode: steer in the kernel (relay-kernel.ts) what it can judge; false: every message through the queue. */
  readonly kernelSteering: boolean;
}

/** Where `owner` mode's messages are steered: in the kernel on these interfaces, or all in user space and why. */
export type SteeringPlace =
  | { readonly inKernel: true; readonly interfaces: readonly string[]; /** Interfaces it could not attach to, each with why. */ readonly skipped: readonly string[] }
  | { readonly inKernel: false; readonly why: string };

/** How often the kernel steering's record of what it relayed is read: lines go out in batches of 50 ms anyway. */
const KERNEL_POLL_MS = 20;

export interface RunningRelay {
  readonly counters: RelayCounters;
  readonly plan: RelayRulePlan;
  readonly owner: RuleOwner;
  readonly replacedStale: boolean;
  /** `owner` mode (not a dry run): where messages are steered; undefined otherwise. */
  readonly steering?: SteeringPlace;
  /** Where /metrics is served, when it is. */
  readonly metricsAddress?: string;
  /** The kernel's counters of the relay's queue: messages dropped before the relay could read them. */
  queueCounters(): QueueKernelCounters | undefined;
  /** Messages the kernel-side limits kept from the queue (left to the kernel); undefined when unreadable. */
  overQueueLimit(): number | undefined;
  /** Removes the rules and closes the sockets. The queue binding stays until the process ends (it cannot be closed). */
  stop(): Promise<void>;
}

function closeServer(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
}

function bindUdp(type: 'udp4' | 'udp6', port: number, onMessage: (from: string, bytes: Uint8Array) => void, onError: (err: unknown) => void): Promise<Socket> {
  const socket = createSocket({ type, ipv6Only: type === 'udp6' });
  socket.on('message', (msg, rinfo) => onMessage(rinfo.address, msg));
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, () => {
      socket.off('error', reject);
      socket.on('error', onError);
      resolve(socket);
    });
  });
}

export async function startRelay(settings: RelayHostSettings, onEvent: (e: RelayEvent) => void, onError: (err: unknown) => void): Promise<RunningRelay> {
  const owner = currentOwner();
  const plan = relayRulePlan({ ...settings, withoutRoutes: settings.dryRun }, owner);
  let rules: InstalledRelayRules | undefined;
  let sender: RawSender | undefined;
  const sockets: Socket[] = [];
  let metrics: Server | undefined;
  let kernel: KernelSteering | undefined;
  let poll: NodeJS.Timeout | undefined;
  let readKernel: () => void = () => undefined;
  const stop = async (): Promise<void> => {
    clearInterval(poll);
    // What it relayed up to now is reported before it goes; a failure to read it must not keep the rules in place.
    try {
      readKernel();
    } catch (err) {
      onError(err);
    }
    kernel?.close();
    kernel = undefined;
    for (const s of sockets.splice(0)) s.close();
    sender?.close();
    sender = undefined;
    await closeServer(metrics);
    metrics = undefined;
    rules?.removeSync();
  };
  try {
    sender = RawSender.open(INJECTED_MARK, (err) => onError(err));
    const raw = sender;
    const udp = (family: 4 | 6): Socket | undefined => sockets[family === 4 ? 0 : 1];
    const core = new RelayCore(
      settings,
      {
        forward: (peer, packet, destination) => void raw.send(peer.family, packet, destination, peerRouteMark(peer.index)).catch(onError),
        inject: (family, packet, destination) => void raw.send(family, packet, destination, INJECTED_MARK).catch(onError),
        envelope: (peer, payload) => udp(peer.family)?.send(payload, settings.port, peer.address, (err) => (err ? onError(err) : undefined)),
        event: onEvent,
      },
      () => performance.now(),
    );
    if (settings.mode === 'broadcast') {
      sockets.push(await bindUdp('udp4', settings.port, (from, bytes) => core.onEnvelope(from, bytes), onError));
      sockets.push(await bindUdp('udp6', settings.port, (from, bytes) => core.onEnvelope(from, bytes), onError));
    }
    rules = installRelayRules(plan);
    let steering: SteeringPlace | undefined;
    if (settings.mode === 'owner' && !settings.dryRun) {
      if (!settings.kernelSteering) steering = { inKernel: false, why: 'turned off (--no-kernel-steering)' };
      else {
        try {
          const skipped: string[] = [];
          kernel = KernelSteering.open(
            {
              relayedDscp: settings.relayedDscp,
              maxMtu: { 4: settings.policy.maxMtu?.[4] ?? 65535, 6: settings.policy.maxMtu?.[6] ?? 65535 },
              limits: settings.limits,
            },
            settings.peers,
            settings.served,
            settings.sharedInterfaces,
            (name, reason) => skipped.push(`${name} (${reason.split('\n')[0]})`),
          );
          const k = kernel;
          readKernel = () => {
            const { events, unreadable } = k.drain();
            core.onKernel(events, k.counters());
            // Records of another size or kind: the program and the relay were built from different sources.
            if (unreadable > 0) throw new Error(`kernel steering: ${unreadable} records this relay cannot read (native/bpf not rebuilt with it?)`);
          };
          poll = setInterval(() => {
            try {
              readKernel();
            } catch (err) {
              onError(err);
            }
          }, KERNEL_POLL_MS).unref();
          steering = { inKernel: true, interfaces: kernel.interfaces, skipped };
        } catch (err) {
          steering = { inKernel: false, why: errorMessage(err).split('\n')[0]! };
        }
      }
    }
    // Re-injecting a relayed message (its forwarding) runs on the binding's verdict thread: 45,600-56,200 against
    // 40,500 messages/s on one core in bench/relay (docs/benchmarks.md).
    openPacketQueue(settings.queueNum, (p) => core.onQueued(p), onError, { verdictThread: true });
    let metricsAddress: string | undefined;
    if (settings.metrics !== undefined) {
      metrics = await serveMetrics(
        relayRegistry(core.counters, () => readQueueCounters(settings.queueNum), () => rules?.overQueueLimit()),
        settings.metrics.host,
        settings.metrics.port,
        () => readKernel(),
      );
      const a = metrics.address();
      metricsAddress = typeof a === 'object' && a !== null ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : String(a);
    }
    return { counters: core.counters, plan, owner, replacedStale: rules.replacedStale, ...(steering === undefined ? {} : { steering }), queueCounters: () => readQueueCounters(settings.queueNum), overQueueLimit: () => rules?.overQueueLimit(), ...(metricsAddress === undefined ? {} : { metricsAddress }), stop };
  } catch (err) {
    try {
      await stop();
    } catch (cleanup) {
      throw new AggregateError([err, cleanup], `${errorMessage(err)}; and removing what was installed failed: ${errorMessage(cleanup)}`, { cause: cleanup });
    }
    throw err;
  }
}
