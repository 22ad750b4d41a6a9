/**
 * dropMeaning: one sentence per drop, built from the measured facts only, with the path-MTU meaning where the
 * reason or the function carries one; and what says "not a problem" (isBenignDrop) and "which function" (functionName).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dropMeaning, functionName, isBenignDrop, type DropFacts } from '../../src/trace/drop-meaning.js';

const base: DropFacts = { reason: 'NOT_SPECIFIED', function: 'f', namespace: 'lab/r1', device: 'eth0' };

describe('drop meaning', () => {
  it('functionName strips the offset and compiler suffixes, nothing else', () => {
    assert.equal(functionName('ip_fragment.constprop.0+0x1a'), 'ip_fragment');
    assert.equal(functionName('nft_do_chain+0x3c4/0x5a0'), 'nft_do_chain');
    assert.equal(functionName('tcp_v4_rcv.isra.12.cold'), 'tcp_v4_rcv');
    assert.equal(functionName('ip_forward'), 'ip_forward');
    assert.equal(functionName('ip_finish_output2'), 'ip_finish_output2');
    assert.equal(functionName(''), '');
  });

  it('PKT_TOO_BIG in IPv4 with DF, the ICMP sent (MTU, to whom), the encapsulation', () => {
    assert.equal(
      dropMeaning({ ...base, reason: 'PKT_TOO_BIG', function: 'ip_fragment', length: 1530, deviceMtu: 1500, dontFragment: true, family: 4, icmpSent: { type: 3, code: 4, mtu: 1500, to: '10.1.0.2' }, encapsulated: { tunnel: 'vxlan', innerLength: 1480 } }),
      "dropped in ip_fragment (namespace lab/r1, device eth0): larger than the route MTU (1530 bytes > 1500) with DF set; an ICMP fragmentation-needed (mtu 1500) was sent to 10.1.0.2; it was a packet of 1480 bytes inside vxlan: the encapsulation overhead made it too large",
    );
  });

  it('IPv6: never fragmented by routers; the ICMPv6 Packet Too Big named', () => {
    assert.equal(
      dropMeaning({ ...base, reason: 'PKT_TOO_BIG', function: 'ip6_forward', length: 1500, family: 6, icmpSent: { type: 2, code: 0, mtu: 1280, to: 'fd00:1::2' } }),
      'dropped in ip6_forward (namespace lab/r1, device eth0): larger than the route MTU (1500 bytes > 1280) and IPv6 packets are never fragmented by routers; an ICMPv6 Packet Too Big (mtu 1280) was sent to fd00:1::2',
    );
  });

  it('a fragmenting function without PKT_TOO_BIG is a size drop only when the size or an ICMP says so', () => {
    assert.match(dropMeaning({ ...base, function: 'ip_fragment', length: 1600, deviceMtu: 1500, family: 4 }), /larger than the route MTU \(1600 bytes > eth0's MTU 1500\) and it could not be fragmented$/);
    assert.equal(dropMeaning({ ...base, function: 'ip_fragment', length: 1400, deviceMtu: 1500, family: 4 }), 'dropped in ip_fragment (namespace lab/r1, device eth0): reason NOT_SPECIFIED');
  });

  it('veth, netfilter, fragments, GSO, sockets, routes, rp_filter, qdisc, neighbours, checksums', () => {
    const m = (reason: string, fn = 'f', extra: Partial<DropFacts> = {}): string => dropMeaning({ ...base, reason, function: fn, ...extra });
    assert.match(m('NOT_SPECIFIED', '__dev_forward_skb2', { length: 4000 }), /refused on its way into the other end of the veth pair \(4000 bytes\)/);
    assert.match(m('NOT_SPECIFIED', 'veth_xmit'), /other end of the veth pair: larger than that end's MTU/);
    assert.equal(m('NETFILTER_DROP', 'nft_do_chain'), 'netfilter drop in namespace lab/r1: a firewall rule (iptables/nftables) dropped it (device eth0)');
    assert.equal(dropMeaning({ ...base, device: '', reason: 'NETFILTER_DROP', function: 'nf_hook_slow' }), 'netfilter drop in namespace lab/r1: a firewall rule (iptables/nftables) dropped it');
    assert.match(m('FRAG_REASM_TIMEOUT'), /other fragments never arrived/);
    assert.match(m('DUP_FRAG'), /duplicating/);
    assert.match(m('FRAG_TOO_FAR'), /ipfrag_max_dist/);
    assert.match(m('SKB_GSO_SEG'), /segmenting a large \(GSO\) packet failed; the article's IPVS\/GUE bug/);
    assert.match(m('NO_SOCKET', '__udp4_lib_rcv'), /no socket for it/);
    assert.match(m('NO_SOCKET', 'ping_rcv'), /no ICMP socket for this echo reply/);
    assert.match(m('IP_OUTNOROUTES'), /no route/);
    assert.match(m('IP_INNOROUTES'), /no route/);
    assert.match(m('IP_RPFILTER'), /rp_filter/);
    assert.match(m('QDISC_DROP'), /queue \(qdisc\)/);
    assert.match(m('NEIGH_FAILED'), /ARP\/neighbour discovery/);
    assert.match(m('OTHERHOST'), /another host's link-layer address/);
    assert.match(m('TCP_CSUM'), /bad checksum \(TCP_CSUM\)/);
    assert.equal(m('SOCKET_CLOSE'), 'dropped in f (namespace lab/r1, device eth0): SOCKET_CLOSE - the queue of a socket being closed, not a loss on the path');
  });

  it('an unknown reason says only the reason, and the size when the packet was larger than the device\'s MTU', () => {
    assert.equal(dropMeaning({ ...base, reason: 'TC_EGRESS' }), 'dropped in f (namespace lab/r1, device eth0): reason TC_EGRESS');
    assert.equal(dropMeaning({ ...base, reason: '99', length: 1600, deviceMtu: 1500 }), "dropped in f (namespace lab/r1, device eth0): reason 99; it was larger than eth0's MTU (1600 bytes > eth0's MTU 1500)");
    assert.equal(dropMeaning({ ...base, reason: '99', length: 1400, deviceMtu: 1500 }), 'dropped in f (namespace lab/r1, device eth0): reason 99');
  });

  it('benign: bookkeeping reasons and ping_rcv NO_SOCKET; not NO_SOCKET elsewhere, not a netfilter drop', () => {
    for (const r of ['SOCKET_CLOSE', 'UNIX_DISCONNECT', 'UNIX_SKIP_OOB', 'QUEUE_PURGE']) assert.equal(isBenignDrop(r, 'any'), true, r);
    assert.equal(isBenignDrop('NO_SOCKET', 'ping_rcv'), true);
    assert.equal(isBenignDrop('NO_SOCKET', '__udp4_lib_rcv'), false);
    assert.equal(isBenignDrop('NETFILTER_DROP', 'ping_rcv'), false);
    assert.equal(isBenignDrop('PKT_TOO_BIG', 'ip_fragment'), false);
  });
});
