import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { parseCidrOrAddress, type Cidr } from '../../src/packet/cidr.js';
import type { RelayPeer, SharedInterface } from '../../src/relay/relay-core.js';
import { peerMark, peerRouteMark, sharedInterfaceMark } from '../../src/relay/relay-marks.js';
import { relayRulePlan, type RelayRuleSettings } from '../../src/relay/relay-rule-plan.js';

const OWNER = { pid: 4242, start: 99 };
const served: Cidr[] = ['10.99.0.1', 'fd00:99::1'].map((t) => parseCidrOrAddress(t)!);
const peers: RelayPeer[] = [
  { index: 0, address: '10.0.3.2', family: 4, device: 'eth2' },
  { index: 1, address: '10.0.4.2', family: 4, device: 'eth3' },
  { index: 2, address: 'fd00:0:0:3::2', family: 6, device: 'eth2' },
  { index: 3, address: 'fd00:0:0:4::2', family: 6, device: 'eth3' },
];
const queueRate = { perRouter: 200, total: 20_000 };
const owner = (extra: Partial<RelayRuleSettings> = {}): RelayRuleSettings => ({ mode: 'owner', served, peers, sharedInterfaces: [], queueNum: 7361, queueRate, ...extra });
const hex = (n: number): string => `0x${n.toString(16)}`;

describe('relay rule plan', () => {
  it('gives the flows of each family leaving through one interface the mark of that family\'s peer there', () => {
    const plan = relayRulePlan(owner(), OWNER);
    const learn = (family: 4 | 6): string[] => plan.mangle[family].filter((l) => l.includes('--set-mark'));
    assert.equal(learn(4).length, 2);
    assert.ok(learn(4).some((l) => l.includes('-o eth2') && l.includes(`${hex(peerMark(0))}/`)));
    assert.ok(learn(4).some((l) => l.includes('-o eth3') && l.includes(`${hex(peerMark(1))}/`)));
    assert.ok(learn(6).some((l) => l.includes('-o eth2') && l.includes(`${hex(peerMark(2))}/`)), 'IPv6 flows through eth2 belong to the IPv6 peer there, not the IPv4 one');
    assert.ok(learn(6).some((l) => l.includes('-o eth3') && l.includes(`${hex(peerMark(3))}/`)));
    assert.ok(learn(4).every((l) => l.includes('--ctstate NEW,ESTABLISHED')), 'ICMP errors (RELATED) must not relearn the owner');
  });

  it('marks flows through an interface several peers share with that interface\'s mark, not one peer\'s', () => {
    const shared: SharedInterface[] = [{ index: 0, family: 4, device: 'eth4', peers: [4, 5] }];
    const more: RelayPeer[] = [...peers, { index: 4, address: '10.0.5.2', family: 4, device: 'eth4' }, { index: 5, address: '10.0.5.3', family: 4, device: 'eth4' }];
    const plan = relayRulePlan(owner({ peers: more, sharedInterfaces: shared }), OWNER);
    const eth4 = plan.mangle[4].filter((l) => l.includes('-o eth4'));
    assert.equal(eth4.length, 1);
    assert.ok(eth4[0]!.includes(`${hex(sharedInterfaceMark(0))}/`));
  });

  it('passes what the kernel steering steered, restores the mark onto related Packet Too Big only, then queues every Packet Too Big to a served address', () => {
    const plan = relayRulePlan(owner(), OWNER);
    const pre4 = plan.mangle[4].filter((l) => l.startsWith('-A MTUSCOPE-RELAY-PRE'));
    assert.equal(pre4.length, 4);
    assert.match(pre4[0]!, /^-A MTUSCOPE-RELAY-PRE -m mark --mark 0x1000000\/0x1000000 .*-j RETURN$/, 'a route mark set in the kernel reaches routing as it is');
    assert.match(pre4[1]!, /--icmp-type fragmentation-needed -d 10\.99\.0\.1\/32 -m conntrack --ctstate RELATED .*--restore-mark/);
    assert.match(pre4[2]!, /-d 10\.99\.0\.1\/32 .*-j NFQUEUE --queue-num 7361 --queue-bypass/);
    assert.match(pre4[3]!, /-d 10\.99\.0\.1\/32 .*-j RETURN$/, 'what the limits keep from the queue is counted');
    const pre6 = plan.mangle[6].filter((l) => l.startsWith('-A MTUSCOPE-RELAY-PRE'));
    assert.match(pre6[1]!, /--icmpv6-type packet-too-big -d fd00:99::1\/128 /);
  });

  it('lets the kernel queue no more than the rates per router and in total, in bursts the queue can hold', () => {
    const plan = relayRulePlan(owner({ queueRate: { perRouter: 50, total: 100_000 } }), OWNER);
    const queue = plan.mangle[4].find((l) => l.includes('NFQUEUE'))!;
    assert.match(queue, /--hashlimit-upto 50\/sec --hashlimit-burst 100 --hashlimit-mode srcip --hashlimit-name mtuscope-router /);
    assert.match(queue, /--hashlimit-upto 100000\/sec --hashlimit-burst 512 --hashlimit-name mtuscope-total /);
  });

  it('signs every rule with its owner', () => {
    const plan = relayRulePlan(owner(), OWNER);
    for (const line of [...plan.mangle[4], ...plan.mangle[6]]) {
      if (line.startsWith('-N')) continue;
      assert.ok(line.includes('"mtuscope pid=4242 start=99"'), line);
    }
  });

  it('adds one policy route per peer for its family\'s served prefixes, and none in a dry run', () => {
    const plan = relayRulePlan(owner(), OWNER);
    assert.deepEqual(plan.routes[0], ['-4', 'route', 'replace', '10.99.0.1/32', 'via', '10.0.3.2', 'dev', 'eth2', 'table', '7360']);
    assert.deepEqual(plan.routes[1], ['-4', 'rule', 'add', 'pref', '7360', 'fwmark', `${hex(peerRouteMark(0))}/0x1ff0000`, 'lookup', '7360']);
    assert.equal(plan.routes.length, 2 * peers.length);
    assert.deepEqual(relayRulePlan(owner({ withoutRoutes: true }), OWNER).routes, []);
  });

  it('in broadcast mode queues only Packet Too Big for flows this host has no connection for, and never its own injected ones', () => {
    const plan = relayRulePlan({ mode: 'broadcast', served, peers: [], sharedInterfaces: [], queueNum: 9, queueRate }, OWNER);
    const queue = plan.mangle[4].filter((l) => l.includes('NFQUEUE'));
    assert.equal(queue.length, 1);
    assert.match(queue[0]!, /-A MTUSCOPE-RELAY-IN .*--ctstate INVALID -m mark ! --mark 0xff0000\/0xff0000 /);
    assert.ok(plan.mangle[4].some((l) => l === '-I INPUT 1 -m comment --comment "mtuscope pid=4242 start=99" -j MTUSCOPE-RELAY-IN'));
    assert.deepEqual(plan.routes, []);
  });

  it('installs nothing for a family it serves no address of', () => {
    const plan = relayRulePlan(owner({ served: [served[0]!] }), OWNER);
    assert.deepEqual(plan.mangle[6], []);
    assert.ok(plan.routes.every((r) => r[0] === '-4'));
  });

  it('is applied by iptables-restore and ip6tables-restore themselves (in a throwaway network namespace of its own)', (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root for a network namespace');
    for (const mode of ['owner', 'broadcast'] as const) {
      const plan = relayRulePlan(owner({ mode }), OWNER);
      for (const [tool, lines] of [['iptables-restore', plan.mangle[4]], ['ip6tables-restore', plan.mangle[6]]] as const) {
        const input = ['*mangle', ...lines, 'COMMIT', ''].join('\n');
        const r = spawnSync('unshare', ['--net', tool], { input, encoding: 'utf8' });
        assert.equal(r.status, 0, `${tool} refused the ${mode} plan: ${r.stderr}`);
      }
      // And the check can say no: a misspelt target is refused.
      // (--test would not say so: it accepts unknown targets.)
      const bad = spawnSync('unshare', ['--net', 'iptables-restore'], { input: '*mangle\n-A PREROUTING -j CONNMARKX\nCOMMIT\n', encoding: 'utf8' });
      assert.notEqual(bad.status, 0);
    }
  });
});
