import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KERNEL_ADDR, makeKernelCaptures, type KernelCapture } from '../support/kernel-captures.js';
import { listNamespaces } from '../../src/lab/namespaces.js';
import { tsharkFields, tsharkVersion } from '../support/tshark.js';

import { needsRoot } from '../support/root.js';

/** With occurrence=a the outer layer's value comes first, then those of a packet quoted inside an ICMP error. */
function outer(value: string | undefined): string {
  return (value ?? '').split(',')[0] ?? '';
}

describe('makeKernelCaptures', needsRoot(), () => {
  let dir = '';
  let prefix = '';
  let captures: KernelCapture[] = [];
  let elapsedMs = 0;

  function capture(name: string): string {
    const found = captures.find((c) => c.name === name);
    assert.ok(found, `capture ${name} missing; have ${captures.map((c) => c.name).join(', ')}`);
    return found.path;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mtuscope-kc-'));
    const start = Date.now();
    captures = await makeKernelCaptures(dir, { onTopology: (info) => (prefix = info.prefix) });
    elapsedMs = Date.now() - start;
  });

  after(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('finishes quickly and leaves no namespace of the run behind', async () => {
    assert.ok(elapsedMs < 30_000, `took ${elapsedMs} ms`);
    assert.match(prefix, /^mtl-[0-9a-f]{6}-$/);
    const leftovers = listNamespaces().filter((name) => name.startsWith(prefix));
    assert.deepEqual(leftovers, []);
  });

  it('returns every capture with its link type', async () => {
    assert.deepEqual(
      captures.map((c) => [c.name, c.linkType]),
      [
        ['client-eth0', 'ethernet'],
        ['client-eth0-snap96', 'ethernet'],
        ['router-eth1', 'ethernet'],
        ['router-any', 'sll2'],
        ['server-eth0', 'ethernet'],
      ],
    );
    assert.match(await tsharkVersion(), /^\d+\.\d+\.\d+$/);
  });

  it('has IPv4 fragments from the client and refragmented by the router', async () => {
    const fields = ['ip.src', 'ip.dst', 'ip.len', 'ip.flags.mf', 'ip.frag_offset', 'ip.checksum.status'];
    const fromClient = await tsharkFields(capture('client-eth0'), fields, { displayFilter: `ip.src == ${KERNEL_ADDR.clientV4} && (ip.flags.mf == 1 || ip.frag_offset > 0) && !(icmp.type == 3)` });
    assert.ok(fromClient.some((r) => r['ip.flags.mf'] === '1' && r['ip.len'] === '1500' && r['ip.frag_offset'] === '0'));
    // 1480 bytes in 8-byte units.
    assert.ok(fromClient.some((r) => r['ip.frag_offset'] === '185'));
    assert.ok(fromClient.every((r) => r['ip.checksum.status'] === '1'));

    const atServer = await tsharkFields(capture('router-eth1'), fields, { displayFilter: `ip.src == ${KERNEL_ADDR.clientV4} && (ip.flags.mf == 1 || ip.frag_offset > 0) && !(icmp.type == 3)` });
    assert.ok(atServer.length > fromClient.length, `${atServer.length} fragments behind the router, ${fromClient.length} before it`);
    assert.ok(atServer.every((r) => Number(r['ip.len']) <= 1400));
    // The router splits the client's first 1480-byte fragment into 1376 + 104 bytes.
    assert.ok(atServer.some((r) => r['ip.frag_offset'] === '172' && r['ip.flags.mf'] === '1'));
  });

  it('has ICMP fragmentation needed with next-hop MTU 1400 from the router', async () => {
    const rows = await tsharkFields(capture('client-eth0'), ['ip.src', 'ip.dst', 'icmp.type', 'icmp.code', 'icmp.mtu'], { displayFilter: 'icmp.type == 3' });
    const fragNeeded = rows.filter((r) => outer(r['icmp.type']) === '3' && outer(r['icmp.code']) === '4');
    assert.ok(fragNeeded.length >= 2, 'one for the DF ping, at least one for TCP');
    for (const r of fragNeeded) {
      assert.equal(r['icmp.mtu'], '1400');
      assert.equal(outer(r['ip.src']), KERNEL_ADDR.routerClientSideV4);
      assert.equal(outer(r['ip.dst']), KERNEL_ADDR.clientV4);
    }
    assert.ok(fragNeeded.some((r) => r['ip.dst'] === `${KERNEL_ADDR.clientV4},${KERNEL_ADDR.serverDfPingV4}`), 'quoted DF ping');
  });

  it('has ICMPv6 Packet Too Big 1400 from the router', async () => {
    const rows = await tsharkFields(capture('client-eth0'), ['ipv6.src', 'ipv6.dst', 'icmpv6.type', 'icmpv6.code', 'icmpv6.mtu', 'icmpv6.checksum.status'], {
      displayFilter: 'icmpv6.type == 2',
    });
    const ptb = rows.filter((r) => outer(r['icmpv6.type']) === '2');
    assert.ok(ptb.length >= 3, 'ping, fragmented ping, TCP');
    for (const r of ptb) {
      assert.equal(r['icmpv6.mtu'], '1400');
      assert.equal(outer(r['icmpv6.code']), '0');
      assert.equal(outer(r['icmpv6.checksum.status']), '1');
      assert.equal(outer(r['ipv6.src']), KERNEL_ADDR.routerClientSideV6);
    }
    assert.ok(ptb.some((r) => r['ipv6.dst'] === `${KERNEL_ADDR.clientV6},${KERNEL_ADDR.serverPtbPingV6}`));
  });

  it('has IPv6 fragment headers at 1500 and, after Packet Too Big, at 1400', async () => {
    const rows = await tsharkFields(capture('client-eth0'), ['ipv6.src', 'ipv6.plen', 'ipv6.nxt', 'ipv6.fraghdr.offset', 'ipv6.fraghdr.more', 'ipv6.fraghdr.nxt'], {
      displayFilter: `ipv6.src == ${KERNEL_ADDR.clientV6} && ipv6.nxt == 44 && !(icmpv6.type == 2)`,
    });
    const plens = new Set(rows.map((r) => r['ipv6.plen']));
    assert.ok(plens.has('1456') && plens.has('1360'), `payload lengths ${[...plens].join(' ')}`);
    assert.ok(rows.some((r) => r['ipv6.fraghdr.more'] === '1' && r['ipv6.fraghdr.offset'] === '0'));
    // 1448 bytes in 8-byte units.
    assert.ok(rows.some((r) => r['ipv6.fraghdr.offset'] === '181'));
    assert.ok(rows.some((r) => r['ipv6.fraghdr.more'] === '0'));
    assert.deepEqual(new Set(rows.map((r) => r['ipv6.fraghdr.nxt'])), new Set(['58', '17']));
  });

  it('has TCP in both families, shrinking from 1500 to 1400 after PMTU discovery', async () => {
    const fields = ['ip.src', 'ip.len', 'ipv6.src', 'ipv6.plen', 'tcp.srcport', 'tcp.dstport', 'tcp.len', 'tcp.flags', 'tcp.options.mss_val'];
    const v4 = await tsharkFields(capture('client-eth0'), fields, { displayFilter: `ip.src == ${KERNEL_ADDR.clientV4} && tcp.dstport == 8080 && !icmp` });
    const v6 = await tsharkFields(capture('client-eth0'), fields, { displayFilter: `ipv6.src == ${KERNEL_ADDR.clientV6} && tcp.dstport == 8080 && !icmpv6` });
    const v4Sizes = new Set(v4.map((r) => r['ip.len']));
    assert.ok(v4Sizes.has('1500') && v4Sizes.has('1400'), `IPv4 sizes ${[...v4Sizes].join(' ')}`);
    const v6Sizes = new Set(v6.map((r) => r['ipv6.plen']));
    assert.ok(v6Sizes.has('1460') && v6Sizes.has('1360'), `IPv6 payload sizes ${[...v6Sizes].join(' ')}`);
    // The server's routes carry advmss so it advertises more than its own 1400-byte link allows.
    const synAcks = await tsharkFields(capture('client-eth0'), ['tcp.options.mss_val', 'ip.src', 'ipv6.src'], { displayFilter: 'tcp.flags == 0x012' });
    assert.deepEqual(new Set(synAcks.map((r) => r['tcp.options.mss_val'])), new Set(['1440', '1460']));
    const bytesFromServer = await tsharkFields(capture('client-eth0'), ['tcp.len'], { displayFilter: 'tcp.srcport == 8080 && !icmp && !icmpv6' });
    const total = bytesFromServer.reduce((sum, r) => sum + Number(r['tcp.len']), 0);
    assert.ok(total >= 2 * 100_000, `${total} bytes from the server`);
  });

  it('has UDP datagrams of 3000 bytes fragmented in both families', async () => {
    const rows = await tsharkFields(capture('router-eth1'), ['ip.src', 'ipv6.src', 'udp.length', 'udp.checksum.status'], { displayFilter: 'udp.dstport == 9999 && !icmp && !icmpv6' });
    assert.ok(rows.filter((r) => r['ip.src'] === KERNEL_ADDR.clientV4 && r['udp.length'] === '3008').length >= 3);
    assert.ok(rows.filter((r) => r['ipv6.src'] === KERNEL_ADDR.clientV6 && r['udp.length'] === '3008').length >= 2);
    // Only the first fragment is present per datagram, so the checksum cannot be verified.
    assert.ok(rows.every((r) => r['udp.checksum.status'] === '2'));
  });

  it('truncates frames only in the -s 96 capture', async () => {
    const snap = await tsharkFields(capture('client-eth0-snap96'), ['frame.len', 'frame.cap_len']);
    const truncated = snap.filter((r) => Number(r['frame.cap_len']) < Number(r['frame.len']));
    assert.ok(truncated.length > 100, `${truncated.length} truncated frames`);
    assert.ok(snap.every((r) => Number(r['frame.cap_len']) <= 96));
    for (const c of captures.filter((x) => x.name !== 'client-eth0-snap96')) {
      const rows = await tsharkFields(c.path, ['frame.len', 'frame.cap_len'], { displayFilter: 'frame.cap_len < frame.len || frame.len > 1520' });
      assert.deepEqual(rows, [], `${c.name}: frames truncated or larger than the MTU allows (GSO super-packets?)`);
    }
  });
});
