/** Reading what the kernel counted inside a lab node: iptables rule counters, SNMP counters, learned path MTUs. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startLab } from '../../src/lab/lab.js';
import type { RunningLab } from '../../src/lab/running-lab.js';
import { ping } from '../../src/lab/traffic/ping.js';
import { learnedMtu, routeGet, type RouteCacheEntry } from '../../src/lab/traffic/route-cache.js';
import { countPackets, packetsTo, parseRuleCounters } from '../../src/lab/traffic/rule-counters.js';
import { parseSnmp, readSnmp, snmpIncrease } from '../../src/lab/traffic/snmp-counters.js';
import { needsRoot } from '../support/root.js';

describe('iptables rule counters', () => {
  // `iptables -w -v -S FORWARD` (iptables 1.8.9, nf_tables) on a firewall after a run.
  const listing = [
    '-P FORWARD ACCEPT -c 120 9344',
    '-A FORWARD -m u32 --u32 "0x4&0x3fff=0x1:0x3fff" -c 9 13512 -j DROP',
    '-A FORWARD -p icmp -m icmp --icmp-type 3/4 -m comment --comment mtuscope-packet-too-big -c 0 0',
    '-A FORWARDX -c 5 5 -j DROP',
    '',
  ].join('\n');

  it('gives each rule of the chain with its packet count, without the counters in its text', () => {
    assert.deepEqual(parseRuleCounters(listing, 'FORWARD'), [
      { rule: '-A FORWARD -m u32 --u32 "0x4&0x3fff=0x1:0x3fff" -j DROP', packets: 9 },
      { rule: '-A FORWARD -p icmp -m icmp --icmp-type 3/4 -m comment --comment mtuscope-packet-too-big', packets: 0 },
    ]);
  });

  it('refuses a rule without counters (a listing made without -v) rather than counting it as 0', () => {
    assert.throws(() => parseRuleCounters('-A FORWARD -m frag -j DROP\n', 'FORWARD'), /no counters in iptables rule "-A FORWARD -m frag -j DROP"/);
  });
});

describe('SNMP counters', () => {
  const snmp = (fragFails: number, reasmTimeout: number): string =>
    [
      'Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits',
      `Ip: 1 64 6888 0 0 0 0 0 6888 5033 0 0 ${reasmTimeout} 0 0 0 0 ${fragFails} 0 5033`,
      'Icmp: InMsgs InErrors InCsumErrors InDestUnreachs',
      'Icmp: 9 0 0 1',
      '',
    ].join('\n');

  it('reads /proc/net/snmp as Group.Name', () => {
    const counters = parseSnmp(snmp(16, 3));
    assert.equal(counters.get('Ip.FragFails'), 16);
    assert.equal(counters.get('Ip.ReasmTimeout'), 3);
    assert.equal(counters.get('Icmp.InDestUnreachs'), 1);
    assert.equal(counters.get('Ip.Forwarding'), 1);
  });

  it('says how much a counter rose, and nothing for a counter it does not have', () => {
    assert.equal(snmpIncrease(parseSnmp(snmp(2, 0)), parseSnmp(snmp(18, 0)), 'Ip.FragFails'), 16);
    assert.equal(snmpIncrease(parseSnmp(snmp(2, 0)), parseSnmp(snmp(18, 0)), 'Ip.NoSuchCounter'), undefined);
  });

  it('refuses lines that do not pair up', () => {
    assert.throws(() => parseSnmp('Ip: Forwarding DefaultTTL\nIcmp: 1 64\n'), /unexpected lines/);
    assert.throws(() => parseSnmp('Ip: Forwarding DefaultTTL\nIp: 1\n'), /unexpected lines/);
  });
});

describe('learnedMtu', () => {
  const entry = (resolved: boolean, mtu?: number): RouteCacheEntry => ({ node: 'c', destination: '10.0.3.2', resolved, route: '', ...(mtu === undefined ? {} : { mtu }) });

  it('is the cached mtu, 0 for a route without one, and unknown when the lookup failed', () => {
    assert.equal(learnedMtu(entry(true, 1400)), 1400);
    assert.equal(learnedMtu(entry(true)), 0);
    assert.equal(learnedMtu(entry(false)), undefined);
  });
});

describe('counters in a real lab: two hosts, b drops IPv4 echo requests', needsRoot(), () => {
  let lab: RunningLab;
  before(async () => {
    lab = await startLab({
      name: 'counters',
      nodes: [{ name: 'a', kind: 'host' }, { name: 'b', kind: 'host' }],
      links: [{ endpoints: [{ node: 'a', ifname: 'eth1' }, { node: 'b', ifname: 'eth1' }] }],
    });
  });
  after(async () => {
    await lab?.destroy();
  });

  it("counts what a node's rules match and drop, and what its kernel sent", async () => {
    const echoes = await countPackets(lab, 'b', 'INPUT', 'echo', { 4: ['-p', 'icmp', '--icmp-type', 'echo-request'], 6: ['-p', 'ipv6-icmp', '--icmpv6-type', 'echo-request'] });
    await lab.mustExec('b', ['iptables', '-A', 'INPUT', '-p', 'icmp', '--icmp-type', 'echo-request', '-j', 'DROP']);
    const before = await readSnmp(lab, 'a');
    const v4 = await ping(lab, { node: 'a', address: lab.address('b', 4), packetBytes: 100, count: 3, waitS: 1 });
    const v6 = await ping(lab, { node: 'a', address: lab.address('b', 6), packetBytes: 100, count: 2, waitS: 1 });
    assert.deepEqual([v4.sent, v4.received, v6.sent, v6.received], [3, 0, 2, 2]);
    assert.deepEqual(await echoes.read(), { 4: 3, 6: 2 });
    assert.equal(await packetsTo(lab, 'b', 4, 'INPUT', 'DROP'), 3);
    assert.equal(await packetsTo(lab, 'b', 6, 'INPUT', 'DROP'), 0);
    assert.equal(snmpIncrease(before, await readSnmp(lab, 'a'), 'Icmp.OutEchos'), 3);
  });

  it('tells a route lookup that failed from a route without a learned mtu', async () => {
    const toB = await routeGet(lab, 'a', lab.address('b', 4));
    assert.equal(toB.resolved, true, toB.route);
    assert.equal(learnedMtu(toB), 0);
    // No route leaves the lab: an address outside it has none.
    const outside = await routeGet(lab, 'a', '10.250.0.1');
    assert.equal(outside.resolved, false, outside.route);
    assert.equal(learnedMtu(outside), undefined);
  });
});
