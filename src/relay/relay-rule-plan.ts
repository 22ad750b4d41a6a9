/**
 * What the relay installs on its host, as text: the iptables-restore lines of the mangle table per family, and the
 * policy routes (`ip rule` + one routing table per peer) of `owner` mode. Built from the settings alone, so that
 * `--dry-run` can print it and tests can read it; relay-rules.ts applies and removes it.
 */
import { PACKET_TOO_BIG_MATCH } from '../host/iptables-matches.js';
import { joinRuleWords } from '../host/iptables-rule-text.js';
import { ownerComment, type RuleOwner } from '../host/rule-owner.js';
import { formatCidr, type Cidr } from '../packet/cidr.js';
import type { FamilyMap, IpFamily } from '../packet/ip-family.js';
import type { RelayMode, RelayPeer, SharedInterface } from './relay-core.js';
import {
  INJECTED_MARK,
  LEARNED_MARK_MASK,
  markText,
  peerMark,
  peerRouteMark,
  RELAY_MARK_MASK,
  ROUTE_BIT,
  ROUTE_TABLE_BASE,
  RULE_PREFERENCE_BASE,
  sharedInterfaceMark,
} from './relay-marks.js';

export const RELAY_CHAINS = { pre: 'MTUSCOPE-RELAY-PRE', post: 'MTUSCOPE-RELAY-POST', input: 'MTUSCOPE-RELAY-IN' } as const;
/** Where each chain is jumped to from. */
const HOOK_OF: Readonly<Record<keyof typeof RELAY_CHAINS, string>> = { pre: 'PREROUTING', post: 'POSTROUTING', input: 'INPUT' };

export interface RelayRuleSettings {
  readonly mode: RelayMode;
  readonly served: readonly Cidr[];
  readonly peers: readonly RelayPeer[];
  readonly sharedInterfaces: readonly SharedInterface[];
  readonly queueNum: number;
  /**
   * Messages per second the kernel hands to the queue, per reporting router and in total; the rest pass the relay by
   * (left to the kernel, counted). Without this a flood fills the queue (1024 messages) and the kernel drops what does
   * not fit, genuine messages included, which without the relay would have been forwarded.
   */
  readonly queueRate: { readonly perRouter: number; readonly total: number };
  /** Policy routes are left out (dry run: learn and queue, steer nothing). */
  readonly withoutRoutes?: boolean;
}

/** One `ip` invocation (without the leading `ip`). */
export type IpCommand = readonly string[];

export interface RelayRulePlan {
  /** iptables-restore lines for the mangle table (without *mangle / COMMIT), per family. */
  readonly mangle: FamilyMap<readonly string[]>;
  /** `ip` commands adding the policy routes, in order. */
  readonly routes: readonly IpCommand[];
}

export function routeTableOf(peer: RelayPeer): number {
  return ROUTE_TABLE_BASE + peer.index;
}

export function rulePreferenceOf(peer: RelayPeer): number {
  return RULE_PREFERENCE_BASE + peer.index;
}

/** The connection mark a flow of `family` gets when it leaves through `device`: its peer's, or the shared interface's. */
function learnedMarkOf(family: IpFamily, device: string, peers: readonly RelayPeer[], shared: readonly SharedInterface[]): number | undefined {
  const s = shared.find((x) => x.family === family && x.device === device);
  if (s !== undefined) return sharedInterfaceMark(s.index);
  const p = peers.find((x) => x.family === family && x.device === device);
  return p === undefined ? undefined : peerMark(p.index);
}

/** Largest burst the kernel lets into the queue at once: well inside the queue's 1024 places. */
export const QUEUE_BURST_MAX = 512;
/** The hashlimit names (one table each per network namespace and family, shared by the rules that name them). */
export const HASHLIMIT_NAMES = { perRouter: 'mtuscope-router', total: 'mtuscope-total' } as const;

function queueLimit(rate: RelayRuleSettings['queueRate']): string[] {
  const burst = (perSecond: number): string => String(Math.min(2 * perSecond, QUEUE_BURST_MAX));
  return [
    '-m', 'hashlimit', '--hashlimit-upto', `${rate.perRouter}/sec`, '--hashlimit-burst', burst(rate.perRouter),
    '--hashlimit-mode', 'srcip', '--hashlimit-name', HASHLIMIT_NAMES.perRouter, '--hashlimit-htable-max', '65536',
    '-m', 'hashlimit', '--hashlimit-upto', `${rate.total}/sec`, '--hashlimit-burst', burst(rate.total),
    '--hashlimit-name', HASHLIMIT_NAMES.total,
  ];
}

export function relayRulePlan(settings: RelayRuleSettings, owner: RuleOwner): RelayRulePlan {
  const signed = ['-m', 'comment', '--comment', ownerComment(owner)];
  const toQueue = [...queueLimit(settings.queueRate), '-j', 'NFQUEUE', '--queue-num', String(settings.queueNum), '--queue-bypass'];
  // What the limits keep from the queue ends its chain here, counted (relay-rules.ts reads the count).
  const overLimit = ['-j', 'RETURN'];
  const lines = (family: IpFamily): string[] => {
    const served = settings.served.filter((c) => c.family === family).map(formatCidr);
    if (served.length === 0) return [];
    const ptb = PACKET_TOO_BIG_MATCH[family];
    if (settings.mode === 'broadcast') {
      return [
        joinRuleWords(['-N', RELAY_CHAINS.input]),
        // No connection here for the quoted flow (conntrack: INVALID): another server carries it. Messages this relay
        // handed to its own kernel carry the injected mark and stay out.
        ...served.flatMap((s) => {
          const orphan = [
            '-A', RELAY_CHAINS.input, ...ptb, '-d', s, '-m', 'conntrack', '--ctstate', 'INVALID',
            '-m', 'mark', '!', '--mark', markText(INJECTED_MARK, LEARNED_MARK_MASK), ...signed,
          ];
          return [joinRuleWords([...orphan, ...toQueue]), joinRuleWords([...orphan, ...overLimit])];
        }),
        joinRuleWords(['-I', HOOK_OF.input, '1', ...signed, '-j', RELAY_CHAINS.input]),
      ];
    }
    const devices = [...new Set(settings.peers.filter((p) => p.family === family && p.device !== undefined).map((p) => p.device!))];
    const learn = devices.flatMap((device) => {
      const mark = learnedMarkOf(family, device, settings.peers, settings.sharedInterfaces);
      if (mark === undefined) return [];
      // The flow's own packets toward the servers (not its ICMP errors: those are RELATED) name the way it took.
      return served.map((s) =>
        joinRuleWords([
          '-A', RELAY_CHAINS.post, '-o', device, '-d', s, '-m', 'conntrack', '--ctstate', 'NEW,ESTABLISHED',
          ...signed, '-j', 'CONNMARK', '--set-mark', markText(mark, LEARNED_MARK_MASK),
        ]),
      );
    });
    const mask = `0x${LEARNED_MARK_MASK.toString(16)}`;
    return [
      joinRuleWords(['-N', RELAY_CHAINS.pre]),
      joinRuleWords(['-N', RELAY_CHAINS.post]),
      // Steered already (the kernel steering's messages and copies, relay-kernel.ts): its route mark must reach the
      // routing decision as it is, neither restored over nor queued.
      joinRuleWords(['-A', RELAY_CHAINS.pre, '-m', 'mark', '--mark', markText(ROUTE_BIT, ROUTE_BIT), ...signed, '-j', 'RETURN']),
      ...learn,
      ...served.map((s) =>
        joinRuleWords([
          '-A', RELAY_CHAINS.pre, ...ptb, '-d', s, '-m', 'conntrack', '--ctstate', 'RELATED',
          ...signed, '-j', 'CONNMARK', '--restore-mark', '--nfmask', mask, '--ctmask', mask,
        ]),
      ),
      ...served.flatMap((s) => [
        joinRuleWords(['-A', RELAY_CHAINS.pre, ...ptb, '-d', s, ...signed, ...toQueue]),
        joinRuleWords(['-A', RELAY_CHAINS.pre, ...ptb, '-d', s, ...signed, ...overLimit]),
      ]),
      joinRuleWords(['-I', HOOK_OF.pre, '1', ...signed, '-j', RELAY_CHAINS.pre]),
      joinRuleWords(['-I', HOOK_OF.post, '1', ...signed, '-j', RELAY_CHAINS.post]),
    ];
  };
  const routes: IpCommand[] =
    settings.mode !== 'owner' || settings.withoutRoutes === true
      ? []
      : settings.peers.flatMap((peer) => {
          const served = settings.served.filter((c) => c.family === peer.family);
          if (served.length === 0) return [];
          const f = `-${peer.family}`;
          const table = String(routeTableOf(peer));
          return [
            ...served.map((s) => [f, 'route', 'replace', formatCidr(s), 'via', peer.address, ...(peer.device === undefined ? [] : ['dev', peer.device]), 'table', table]),
            [f, 'rule', 'add', 'pref', String(rulePreferenceOf(peer)), 'fwmark', markText(peerRouteMark(peer.index), RELAY_MARK_MASK), 'lookup', table],
          ];
        });
  return { mangle: { 4: lines(4), 6: lines(6) }, routes };
}
