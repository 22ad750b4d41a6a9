/**
 * The iptables-restore lines that install one family's queue rules for a port, and those that remove a listed set.
 * Installing creates the chains with `-N`, which fails if they exist: two processes racing for one port cannot both
 * succeed, because the loser's whole batch is rejected.
 */
import { PACKET_TOO_BIG_MATCH } from '../host/iptables-matches.js';
import { joinRuleWords } from '../host/iptables-rule-text.js';
import type { CheckedQueueRuleSpec } from './queue-rule-spec.js';
import { queueChainNames, type QueueRuleSet } from './queue-rule-sets.js';
import { ownerComment, type RuleOwner } from '../host/rule-owner.js';
import type { FamilyMap, IpFamily } from '../packet/ip-family.js';

/** The largest packet without payload: IP header (IPv4 without options) plus a TCP header with 40 bytes of options. */
const PURE_ACK_MAX: FamilyMap<number> = { 4: 20 + 60, 6: 40 + 60 };

export function installLines(spec: CheckedQueueRuleSpec, family: IpFamily, owner: RuleOwner): string[] {
  const chains = queueChainNames(spec.port);
  const signed = ['-m', 'comment', '--comment', ownerComment(owner)];
  // --queue-bypass: while no engine listens on the queue, the kernel lets packets through instead of dropping them.
  const toQueue = ['-j', 'NFQUEUE', '--queue-num', String(spec.queueNum), '--queue-bypass'];
  const addresses: readonly (string | undefined)[] = spec.addresses?.[family] ?? [undefined];
  const only = (flag: string, address: string | undefined): string[] => (address === undefined ? [] : [flag, address]);
  return [
    joinRuleWords(['-N', chains.input]),
    joinRuleWords(['-N', chains.output]),
    ...addresses.map((a) => joinRuleWords(['-A', chains.input, '-p', 'tcp', ...only('-d', a), '--dport', String(spec.port), ...signed, ...toQueue])),
    // Packet Too Big messages for the server's own segments (/download): few, and the engine accepts every one after
    // reading it. Which port the quoted segment came from is checked by the engine. Those the engine sends to its own
    // kernel (to complete a response behind a black hole) carry its mark and stay out.
    ...addresses.map((a) =>
      joinRuleWords([
        '-A', chains.input, ...PACKET_TOO_BIG_MATCH[family], ...only('-d', a),
        '-m', 'mark', '!', '--mark', String(spec.mark),
        ...signed, ...toQueue,
      ]),
    ),
    // The server's pure ACKs (no SYN, FIN or RST, no room for data after a full 60-byte TCP header) tell the engine
    // nothing and are most of what it would read: they skip the queue.
    ...addresses.map((a) =>
      joinRuleWords([
        '-A', chains.output, '-p', 'tcp', ...only('-s', a), '--sport', String(spec.port),
        '--tcp-flags', 'SYN,FIN,RST', 'NONE', '-m', 'length', '--length', `0:${PURE_ACK_MAX[family]}`,
        ...signed, '-j', 'RETURN',
      ]),
    ),
    ...addresses.map((a) =>
      joinRuleWords([
        '-A', chains.output, '-p', 'tcp', ...only('-s', a), '--sport', String(spec.port),
        // The engine's own injected packets carry the mark and must not come back to it.
        '-m', 'mark', '!', '--mark', String(spec.mark),
        ...signed, ...toQueue,
      ]),
    ),
    joinRuleWords(['-I', 'INPUT', '1', ...signed, '-j', chains.input]),
    joinRuleWords(['-I', 'OUTPUT', '1', ...signed, '-j', chains.output]),
  ];
}

/** Jumps first: a chain that is still referenced cannot be deleted. */
export function removalLines(set: QueueRuleSet): string[] {
  return [
    ...set.jumps.map((j) => joinRuleWords(['-D', j.chain, ...j.args])),
    ...set.chains.flatMap((c) => [joinRuleWords(['-F', c]), joinRuleWords(['-X', c])]),
  ];
}
