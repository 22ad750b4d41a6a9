/**
 * tshark as an oracle on real kernel traffic: tcpdump records pings with fragments, ICMP fragmentation needed and
 * ICMPv6 Packet Too Big from a router with a 1400-byte link, TCP through PMTU discovery, and fragmented UDP, in both
 * families, on Ethernet, LINUX_SLL2 (`-i any`) and a snapped (-s 96) capture. Both decoders must agree on every field
 * of every packet. The same again with the kernel's offloads on, and through a VXLAN tunnel: there the checksums left
 * to the NIC must be called partial (never bad), and a checksum that is really damaged still bad.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CapturedPacket } from '../../src/capture/captured-packet.js';
import { readCaptureFile } from '../../src/capture/reader.js';
import { parseIpText } from '../../src/packet/address.js';
import { put16, u16 } from '../../src/packet/bytes.js';
import { finishChecksum, foldSum, pseudoHeaderSum, sum16 } from '../../src/packet/checksum.js';
import { decodeFrame, type DecodedFrame, type Layer } from '../../src/packet/frame.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { superPacket } from '../../src/packet/super-packet.js';
import { CLIENT_LINK_MTU, type KernelCapture, makeKernelCaptures, makeVxlanCaptures } from '../support/kernel-captures.js';
import { bothSay, compareWithTshark, describeMismatches, type OracleComparison } from '../support/oracle-compare.js';
import { needsRoot } from '../support/root.js';

type Transport = Extract<Layer, { protocol: 'tcp' | 'udp' }>;

function transports(frame: DecodedFrame): Transport[] {
  return frame.layers.filter((l): l is Transport => (l.protocol === 'tcp' || l.protocol === 'udp') && !l.quoted);
}

function checksums(frames: readonly DecodedFrame[]): Map<string, number> {
  const count = new Map<string, number>();
  for (const f of frames) for (const l of transports(f)) count.set(l.checksum, (count.get(l.checksum) ?? 0) + 1);
  return count;
}

/** Where a transport layer's checksum field is and what its pseudo-header covers, from the IP layer before it. */
function segmentOf(frame: DecodedFrame, l: Transport): { field: number; start: number; end: number; src: Uint8Array; dst: Uint8Array; protocol: number } {
  const ip = frame.layers.slice(0, frame.layers.indexOf(l)).findLast((x) => x.protocol === 'ipv4' || x.protocol === 'ipv6');
  assert.ok(ip && (ip.protocol === 'ipv4' || ip.protocol === 'ipv6'));
  const src = parseIpText(ip.repr.src);
  const dst = parseIpText(ip.repr.dst);
  assert.ok(src && dst);
  const ipEnd = ip.protocol === 'ipv4' ? ip.offset + 20 + ip.repr.options.length + ip.repr.payloadLength : ip.offset + 40 + ip.repr.payloadLength;
  const end = l.protocol === 'udp' ? l.offset + 8 + l.repr.payloadLength : ipEnd;
  return { field: l.offset + (l.protocol === 'tcp' ? 16 : 6), start: l.offset, end, src, dst, protocol: l.protocol === 'tcp' ? IpProtocol.Tcp : IpProtocol.Udp };
}

function isSeed(data: Uint8Array, s: ReturnType<typeof segmentOf>): boolean {
  return u16(data, s.field) === foldSum(pseudoHeaderSum(s.src, s.dst, s.protocol, s.end - s.start));
}

/**
 * What the NIC does with the packet: every checksum field that holds the offload seed gets the real checksum, inner
 * ones first (an outer checksum left to the NIC covers the completed inner one).
 */
function completeOffloads(pkt: CapturedPacket): Uint8Array {
  const data = pkt.data.slice();
  const frame = decodeFrame(pkt.linkType, data, pkt.originalLength);
  for (const l of transports(frame).reverse()) {
    const s = segmentOf(frame, l);
    if (l.checksum !== 'partial' || !isSeed(data, s)) continue;
    put16(data, s.field, 0);
    const sum = finishChecksum(sum16(data, s.start, s.end, pseudoHeaderSum(s.src, s.dst, s.protocol, s.end - s.start)));
    put16(data, s.field, l.protocol === 'udp' && sum === 0 ? 0xffff : sum);
  }
  return data;
}

describe('decoder agrees with tshark on real kernel traffic', needsRoot(), () => {
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
    assert.ok(any.frames.some((f) => f.layers.some((l) => l.protocol === 'arp')), 'ARP requests and replies');
  });

  it('calls no checksum the kernel wrote bad: what tshark calls bad are offload seeds, partial', () => {
    for (const [name, r] of results) {
      const count = checksums(r.frames);
      assert.equal(count.get('bad'), undefined, `${name}: ${JSON.stringify([...count])}`);
      if (name !== 'client-eth0-snap96') assert.ok((count.get('partial') ?? 0) > 20, `${name}: ${JSON.stringify([...count])}`);
    }
  });

  it('marks no super-packet where the offloads that make them were off', () => {
    for (const [name, r] of results) assert.deepEqual(r.frames.filter((f) => superPacket(f, CLIENT_LINK_MTU) !== undefined), [], name);
  });
});

describe('decoder on real kernel traffic with offloads on, and through a VXLAN tunnel', needsRoot(), () => {
  let dir = '';
  const captures = new Map<string, KernelCapture>();
  const results = new Map<string, OracleComparison>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mts-offload-'));
    for (const c of [...(await makeKernelCaptures(dir, { offloads: true })), ...(await makeVxlanCaptures(dir))]) {
      captures.set(c.name, c);
      results.set(c.name, await compareWithTshark(c.path));
    }
  });

  after(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  for (const name of ['client-eth0', 'router-any', 'server-eth0', 'tunnel-a-eth0', 'tunnel-a-any', 'tunnel-b-eth0']) {
    it(`agrees with tshark field by field and calls no checksum bad on ${name}`, () => {
      const r = results.get(name);
      assert.ok(r, `no capture ${name}`);
      assert.ok(r.packets > 40, `only ${r.packets} packets`);
      assert.deepEqual(r.mismatches, [], describeMismatches(r.mismatches));
      for (const f of r.frames) assert.equal(f.error, undefined, JSON.stringify(f.error));
      const count = checksums(r.frames);
      assert.equal(count.get('bad'), undefined, JSON.stringify([...count]));
      assert.ok((count.get('partial') ?? 0) > 20, JSON.stringify([...count]));
    });
  }

  it('saw VXLAN packets whose outer checksum is no seed but right once the NIC completes the inner one', async () => {
    const packets = await readCaptureFile(captures.get('tunnel-a-eth0')!.path);
    let lco = 0;
    let tunnelled = 0;
    for (const p of packets) {
      const before = decodeFrame(p.linkType, p.data, p.originalLength);
      if (!before.layers.some((l) => l.protocol === 'vxlan')) continue;
      tunnelled++;
      const outer = transports(before)[0]!;
      if (!isSeed(p.data, segmentOf(before, outer))) lco++;
      // As the NIC sends it, every checksum verifies: partial meant "not yet", never "wrong".
      const sent = decodeFrame(p.linkType, completeOffloads(p), p.originalLength);
      assert.deepEqual(transports(sent).map((l) => l.checksum).filter((c) => c !== 'good' && c !== 'unverified'), [], JSON.stringify(transports(sent)));
    }
    assert.ok(tunnelled > 40, `${tunnelled} VXLAN packets`);
    assert.ok(lco > 5, `${lco} outer checksums computed by lco_csum`);
  });

  it('marks exactly the IP packets longer than the link MTU as super-packets, and the capture has them', () => {
    const r = results.get('client-eth0')!;
    const long = r.frames.filter((f) => {
      const ip = f.layers.find((l) => l.protocol === 'ipv4' || l.protocol === 'ipv6');
      return ip !== undefined && (ip.protocol === 'ipv4' ? 20 + ip.repr.options.length + ip.repr.payloadLength : ip.protocol === 'ipv6' ? 40 + ip.repr.payloadLength : 0) > CLIENT_LINK_MTU;
    });
    assert.ok(long.length > 5, `${long.length} TSO packets`);
    assert.deepEqual(r.frames.filter((f) => superPacket(f, CLIENT_LINK_MTU) !== undefined), long);
  });

  it('still calls a checksum that is really damaged bad', async () => {
    const tcpPackets = (await readCaptureFile(captures.get('client-eth0')!.path)).filter((p) => {
      const f = decodeFrame(p.linkType, p.data, p.originalLength);
      return transports(f).some((l) => l.protocol === 'tcp' && l.checksum === 'partial' && l.repr.payloadLength > 0);
    });
    assert.ok(tcpPackets.length > 5);
    const tcpOf = (data: Uint8Array): Transport => transports(decodeFrame(tcpPackets[0]!.linkType, data)).find((l) => l.protocol === 'tcp')!;
    for (const p of tcpPackets.slice(0, 5)) {
      const at = tcpOf(p.data).offset;
      const seedDamaged = p.data.slice();
      seedDamaged[at + 17]! ^= 0x04;
      assert.equal(tcpOf(seedDamaged).checksum, 'bad', 'a damaged seed');
      const sent = completeOffloads(p);
      assert.equal(tcpOf(sent).checksum, 'good', 'as the NIC sends it');
      sent[at + 40]! ^= 0x01;
      assert.equal(tcpOf(sent).checksum, 'bad', 'damaged after the NIC completed the checksum');
    }
    const lcoPacket = (await readCaptureFile(captures.get('tunnel-a-eth0')!.path)).find((p) => {
      const f = decodeFrame(p.linkType, p.data, p.originalLength);
      const outer = transports(f)[0];
      return f.layers.some((l) => l.protocol === 'vxlan') && outer !== undefined && outer.checksum === 'partial' && !isSeed(p.data, segmentOf(f, outer));
    });
    assert.ok(lcoPacket);
    const innerEthernet = decodeFrame(lcoPacket.linkType, lcoPacket.data).layers.filter((l) => l.protocol === 'ethernet')[1]!;
    const damaged = lcoPacket.data.slice();
    damaged[innerEthernet.offset + 2]! ^= 0x20;
    assert.equal(transports(decodeFrame(lcoPacket.linkType, damaged))[0]!.checksum, 'bad', 'inner MAC address damaged under an outer checksum');
  });
});
