/**
 * tshark as an oracle on captures made by our own emitters and writers: every sample frame, re-framed in every link
 * type we decode, with corrupted checksums and with a small snaplen, in pcapng (several interfaces) and pcap. tshark
 * must read the files and agree with our decoder on every field of every packet.
 *
 * GUE is left out: tshark 4.0 has no GUE dissector, so it shows the UDP payload as data (GUE is covered by round-trip
 * tests and by the frame decoder tests).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openCaptureWriter } from '../../src/capture/writer.js';
import { EthernetFrame } from '../../src/packet/ethernet.js';
import { EtherType } from '../../src/packet/ip-protocol.js';
import { LinkType } from '../../src/packet/link-type.js';
import { emitNullLoop } from '../../src/packet/null-loop.js';
import { emitSll } from '../../src/packet/sll.js';
import { emitSll2 } from '../../src/packet/sll2.js';
import { compareWithTshark, describeMismatches, type OracleComparison } from '../support/oracle-compare.js';
import { sampleFrames, V4, V6 } from '../support/sample-frames.js';

interface Framed {
  readonly name: string;
  readonly interfaceId: number;
  readonly data: Uint8Array;
}

const INTERFACES = [
  { linkType: LinkType.Ethernet, tsresol: 9 },
  { linkType: LinkType.Raw },
  { linkType: LinkType.LinuxSll },
  { linkType: LinkType.LinuxSll2, tsresol: 9 },
  { linkType: LinkType.Null },
  { linkType: LinkType.Loop },
  { linkType: LinkType.Ethernet, snaplen: 70 },
] as const;
const SNAPPED_INTERFACE = 6;

const AF_INET = 2;
/** tshark knows the BSD values for IPv6 on NULL/LOOP links (24, 28, 30), not Linux's 10 (Linux never writes them). */
const AF_INET6 = 24;

/** The IP packet inside a sample, with its EtherType, so that it can be put behind other link-layer headers. */
function ipOf(sample: { linkType: number; data: Uint8Array }): { etherType: number; ip: Uint8Array } | undefined {
  if (sample.linkType === LinkType.Raw) return { etherType: sample.data[0]! >> 4 === 6 ? EtherType.Ipv6 : EtherType.Ipv4, ip: sample.data };
  const f = EthernetFrame.check(sample.data);
  if (!f.ok || f.value.vlanCount > 0) return undefined;
  return { etherType: f.value.etherType, ip: f.value.payload() };
}

function framedSamples(): Framed[] {
  const out: Framed[] = [];
  const samples = sampleFrames().filter((s) => !s.name.startsWith('gue'));
  for (const s of samples) {
    if (s.linkType === LinkType.Ethernet) out.push({ name: s.name, interfaceId: 0, data: s.data });
    const inner = ipOf(s);
    if (!inner) continue;
    const { etherType, ip } = inner;
    const address = Uint8Array.from([2, 0, 0, 0, 0, 0x0a, 0, 0]);
    out.push({ name: `raw ${s.name}`, interfaceId: 1, data: ip });
    out.push({ name: `sll ${s.name}`, interfaceId: 2, data: emitSll({ packetType: 4, arphrdType: 1, addressLength: 6, address, protocol: etherType }, ip) });
    out.push({
      name: `sll2 ${s.name}`,
      interfaceId: 3,
      data: emitSll2({ protocol: etherType, reserved: 0, interfaceIndex: 7, arphrdType: 1, packetType: 0, addressLength: 6, address }, ip),
    });
    const family = etherType === EtherType.Ipv6 ? AF_INET6 : AF_INET;
    out.push({ name: `null ${s.name}`, interfaceId: 4, data: emitNullLoop({ family, littleEndian: true }, ip) });
    out.push({ name: `loop ${s.name}`, interfaceId: 5, data: emitNullLoop({ family, littleEndian: false }, ip) });
    if (s.linkType === LinkType.Ethernet) {
      out.push({ name: `snapped ${s.name}`, interfaceId: SNAPPED_INTERFACE, data: s.data });
      // A flipped bit in the last byte breaks the transport checksum (or the ICMP one); in the IP header, that one.
      const lastByte = s.data.slice();
      lastByte[lastByte.length - 1]! ^= 0x01;
      out.push({ name: `corrupt tail ${s.name}`, interfaceId: 0, data: lastByte });
      const ipHeader = s.data.slice();
      ipHeader[14 + 8]! ^= 0x01;
      out.push({ name: `corrupt ip header ${s.name}`, interfaceId: 0, data: ipHeader });
    }
  }
  return out;
}

/**
 * The frames path MTU discovery lives on, checked against the values they were built with, in our decode and in
 * tshark's: agreeing with each other is not enough when both could miss the same field.
 */
function checkIcmpErrors(r: OracleComparison, framed: readonly Framed[]): void {
  let seen = 0;
  framed.forEach((f, i) => {
    const snapped = f.interfaceId === SNAPPED_INTERFACE;
    let expected: Record<string, string> | undefined;
    if (f.name.endsWith('icmp frag-needed quoting a tcp segment')) {
      // 70 bytes hold the quoted IPv4 header and the first 8 bytes of the quoted TCP header.
      expected = { 'icmp.type': '3', 'icmp.code': '4', 'icmp.mtu': '1400', 'ip.src': `${V4.router},${V4.client}`, 'ip.dst': `${V4.client},${V4.server}`, 'tcp.srcport': '40000' };
    } else if (f.name.endsWith('icmpv6 packet too big quoting tcp')) {
      // 70 bytes cut the quoted IPv6 header short: tshark prints its fields that fit, we have none of them.
      expected = { 'icmpv6.type': '2', 'icmpv6.code': '0', 'icmpv6.mtu': '1280' };
      // The corrupted IP header has a bit flipped in the IPv6 source address.
      if (f.name.startsWith('corrupt ip header')) Object.assign(expected, { 'ipv6.dst': `${V6.client},${V6.server}` });
      else if (!snapped) Object.assign(expected, { 'ipv6.src': `${V6.router},${V6.client}`, 'ipv6.dst': `${V6.client},${V6.server}`, 'tcp.srcport': '40000' });
      else Object.assign(expected, { 'ipv6.src': V6.router, 'ipv6.dst': V6.client });
    }
    if (expected === undefined) return;
    seen++;
    for (const [field, value] of Object.entries(expected)) {
      assert.equal(r.ours[i]![field], value, `${f.name}: our ${field}`);
      if (!(snapped && field.startsWith('ipv6.'))) assert.equal(r.tshark[i]![field], value, `${f.name}: tshark's ${field}`);
    }
  });
  assert.equal(seen, 2 * 9, 'both ICMP errors in every framing (7 link types or snaplens, 2 corrupted)');
}

describe('decoder agrees with tshark on captures our writers made', () => {
  let dir = '';
  const framed = framedSamples();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mts-wo-'));
  });
  after(async () => {
    if (dir !== '') if (!process.env.KEEP) await rm(dir, { recursive: true, force: true }); else console.log(dir);
  });

  it('pcapng with seven interfaces of six link types, snapped and corrupted frames', async () => {
    const path = join(dir, 'all.pcapng');
    const w = openCaptureWriter(path, { format: 'pcapng', interfaces: INTERFACES });
    let t = 1_700_000_000_000_000_000n;
    for (const f of framed) {
      t += 1_234_567n;
      await w.write({ timestampNs: t, data: f.data, interfaceId: f.interfaceId });
    }
    await w.close();
    const r = await compareWithTshark(path);
    assert.equal(r.packets, framed.length);
    assert.deepEqual(r.mismatches, [], describeMismatches(r.mismatches, (n) => framed[n - 1]?.name ?? '?'));
    assert.ok(r.compared > framed.length * 8, `only ${r.compared} values compared`);
    // The corrupted frames must have been seen as corrupted by both, or the checksum fields proved nothing.
    const bad = r.tshark.filter((row) => Object.entries(row).some(([k, v]) => k.endsWith('checksum.status') && v.split(',').includes('0')));
    assert.ok(bad.length >= framed.filter((f) => f.name.startsWith('corrupt')).length - 4, `${bad.length} frames with a bad checksum`);
    const snapped = r.frames.filter((_, i) => framed[i]!.interfaceId === SNAPPED_INTERFACE);
    assert.ok(snapped.filter((f) => f.truncated).length >= 10);
    checkIcmpErrors(r, framed);
  });

  for (const variant of [
    { nanoseconds: false, littleEndian: true },
    { nanoseconds: true, littleEndian: false },
  ]) {
    it(`pcap (${variant.nanoseconds ? 'ns' : 'µs'}, ${variant.littleEndian ? 'little' : 'big'}-endian) of Ethernet frames`, async () => {
      const path = join(dir, `eth-${String(variant.nanoseconds)}-${String(variant.littleEndian)}.pcap`);
      const w = openCaptureWriter(path, { format: 'pcap', linkType: LinkType.Ethernet, ...variant });
      const eth = framed.filter((f) => f.interfaceId === 0);
      for (const [i, f] of eth.entries()) await w.write({ timestampNs: BigInt(i) * 1000n, data: f.data });
      await w.close();
      const r = await compareWithTshark(path);
      assert.equal(r.packets, eth.length);
      assert.deepEqual(r.mismatches, [], describeMismatches(r.mismatches));
    });
  }
});
