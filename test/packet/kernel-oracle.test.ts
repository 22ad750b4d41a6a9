/**
 * tshark as an oracle on real kernel traffic: tcpdump records pings with fragments, ICMP fragmentation needed and
 * ICMPv6 Packet Too Big from a router with a 1400-byte link, TCP through PMTU discovery, and fragmented UDP, in both
 * families, on Ethernet, LINUX_SLL2 (`-i any`) and a snapped (-s 96) capture. Both decoders must agree on every field
 * of every packet.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type KernelCapture, makeKernelCaptures } from '../support/kernel-captures.js';
import { bothSay, compareWithTshark, describeMismatches, type OracleComparison } from '../support/oracle-compare.js';

const isRoot = process.getuid?.() === 0;

describe('decoder agrees with tshark on real kernel traffic', { skip: isRoot ? false : 'needs root for network namespaces' }, () => {
  let dir = '';
  let captures: KernelCapture[] = [];
  const results = new Map<string, OracleComparison>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mts-oracle-'));
    captures = await makeKernelCaptures(dir);
    for (const c of captures) results.set(c.name, await compareWithTshark(c.path));
  });

  after(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  for (const name of ['client-eth0', 'client-eth0-snap96', 'router-eth1', 'router-any', 'server-eth0']) {
    it(`agrees field by field on ${name}`, () => {
      const r = results.get(name);
      assert.ok(r, `no capture ${name}`);
      assert.ok(r.packets > 50, `only ${r.packets} packets`);
      assert.ok(r.compared > r.packets * 5, `only ${r.compared} field values compared`);
      assert.deepEqual(r.mismatches, [], describeMismatches(r.mismatches));
      for (const f of r.frames) assert.equal(f.error, undefined, JSON.stringify(f.error));
    });
  }

  it('saw the interesting packets, so the agreement means something', () => {
    const client = results.get('client-eth0')!;
    const has = (field: string, pred: (v: string) => boolean): boolean => bothSay(client, (row) => pred(row[field] ?? ''));
    assert.ok(has('icmp.mtu', (v) => v === '1400'), 'ICMP fragmentation needed with MTU 1400');
    assert.ok(has('icmpv6.mtu', (v) => v === '1400'), 'ICMPv6 Packet Too Big with MTU 1400');
    assert.ok(has('ip.frag_offset', (v) => v !== '' && v !== '0'), 'IPv4 non-first fragments');
    assert.ok(has('ipv6.fraghdr.offset', (v) => v !== '' && v.split(',')[0] !== '0'), 'IPv6 non-first fragments');
    assert.ok(has('tcp.options.mss_val', (v) => v === '1460'), 'TCP SYN with MSS');
    const snapped = results.get('client-eth0-snap96')!;
    assert.ok(snapped.frames.filter((f) => f.truncated).length > 100, 'snapped frames are marked truncated');
    const any = results.get('router-any')!;
    assert.ok(any.tshark.every((row) => row['sll.pkttype'] !== ''), 'every -i any frame has an SLL2 header');
  });
});
