/**
 * What `mtuscope serve` runs with, and every default of it, written once: the engine's settings (under the engine's
 * names, src/engine/engine-settings.ts) and the service's own. The command's option table (src/cli/serve-command.ts)
 * shows these defaults in --help and maps each flag to one of these names.
 */
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ENGINE_SETTINGS, type EngineSettings, perSecondRate, type RateLimits } from '../engine/engine-settings.js';
import type { FamilyMap } from '../packet/ip-family.js';
import type { LogFormat } from './service-log.js';
import { DEFAULT_UDP_RESPONDER_SETTINGS, type UdpResponderSettings } from './udp-responder.js';

export interface ServeOptions extends EngineSettings {
  readonly listen: readonly string[];
  /** No --listen given: a family this host lacks (IPv6 disabled, say) is skipped rather than fatal. */
  readonly listenIsDefault: boolean;
  /** A client that re-sends within this after the first ICMP honoured it ("pass"); later it probed ("pass-probing"). */
  readonly reactionWindowMs: number;
  /** Size of the /frag response padding. */
  readonly fragResponseBytes: number;
  /** A SQLite file, or a postgres:// (postgresql://) URL of a database several nodes share. */
  readonly storePath: string;
  /** Recorded with each run, so that a shared store tells which node ran each test. */
  readonly nodeName: string;
  /** Store client addresses truncated to /24 (IPv4) and /48 (IPv6). */
  readonly truncateAddresses: boolean;
  /** Tests per client and in total (admission of HTTP test requests). */
  readonly testRate: RateLimits;
  readonly maxConcurrentTests: number;
  /** Largest /icmp body accepted. */
  readonly maxBodyBytes: number;
  /** HTTP connections idle this long are closed. */
  readonly idleTimeoutMs: number;
  /** The netfilter queue the engine reads. */
  readonly queueNum: number;
  /** Firewall mark of the engine's own packets (skipped by its OUTPUT rule); the kernel answer's are the next two. */
  readonly mark: number;
  /** Answer /icmp segments in the kernel where it can (src/engine/kernel-answer.ts), not only in the engine. */
  readonly kernelAnswer: boolean;
  /** Base URLs the web page runs each family's tests against; derived from the request when undefined. */
  readonly testBaseUrl: FamilyMap<string | undefined>;
  /** Lines for people (text) or one JSON object per line for log collectors (service-log.ts). */
  readonly logFormat: LogFormat;
  /** Answer the UDP responder protocol on the same port (udp-responder.ts, docs/probe.md). */
  readonly udp: boolean;
  readonly udpSettings: Omit<UdpResponderSettings, 'ipv6ClientPrefix'>;
}

/** The rate of `perMinute` tests per client: a client may start a burst of a few tests (the web page runs six), then waits. */
export function testsPerMinuteRate(perMinute: number): RateLimits['perClient'] {
  return { perSecond: perMinute / 60, burst: Math.max(6, Math.min(perMinute, 10)) };
}

/** The defaults of every setting but the four that depend on others or on the host (see below). */
export const DEFAULT_SERVE_OPTIONS: Omit<ServeOptions, 'listenIsDefault' | 'storePath' | 'queueNum' | 'nodeName'> = {
  ...DEFAULT_ENGINE_SETTINGS,
  port: 8080,
  listen: ['0.0.0.0', '::'],
  reactionWindowMs: 2000,
  fragResponseBytes: 8192,
  truncateAddresses: false,
  testRate: { perClient: testsPerMinuteRate(30), global: perSecondRate(200) },
  maxConcurrentTests: 256,
  maxBodyBytes: 1 << 20,
  idleTimeoutMs: 30_000,
  mark: 0x6d74,
  kernelAnswer: true,
  testBaseUrl: { 4: undefined, 6: undefined },
  logFormat: 'text',
  udp: true,
  udpSettings: DEFAULT_UDP_RESPONDER_SETTINGS,
};

/** The default queue number: the port's own, so that services on two ports never share a queue. */
export function defaultQueueNum(port: number): number {
  return port;
}

const STORE_IN_STATE_DIRECTORY = join('mtuscope', 'results.sqlite');
export const ROOT_STORE_PATH = join('/var/lib', STORE_IN_STATE_DIRECTORY);

/**
 * Where the results live unless --store says otherwise, whatever the current directory: /var/lib/mtuscope for root,
 * else the user's XDG state directory ($XDG_STATE_HOME, ~/.local/state when unset or not absolute).
 */
export function defaultStorePath(uid = process.getuid?.(), env: NodeJS.ProcessEnv = process.env, home = homedir()): string {
  if (uid === 0) return ROOT_STORE_PATH;
  const xdg = env['XDG_STATE_HOME'];
  const state = xdg !== undefined && xdg.startsWith('/') ? xdg : join(home, '.local', 'state');
  return join(state, STORE_IN_STATE_DIRECTORY);
}

/** defaultStorePath() in words, for --help. */
export const DEFAULT_STORE_PATH_TEXT = `${ROOT_STORE_PATH} as root, else $XDG_STATE_HOME/${STORE_IN_STATE_DIRECTORY} (~/.local/state/${STORE_IN_STATE_DIRECTORY} when unset)`;

/** The node name unless --node-name says otherwise: the host name, which tells nodes apart in a shared store. */
export function defaultNodeName(): string {
  return hostname();
}
