/**
 * tshark (with its own IPv4/IPv6 defragmentation on) as an oracle for our Reassembler: on captures holding complete,
 * out-of-order, duplicated, incomplete and interleaved fragment sets of both families, the same frames must complete a
 * datagram, with the same length and the same bytes. Overlaps stay out: tshark keeps the first copy of overlapping
 * data, which is no operating system's policy (the attack tests cover them against each policy).
 *
 * Facts checked on TShark 4.0.17: a completed reassembly shows in the frame that completes it as ip.reassembled.length
 * / ipv6.reassembled.length (the IP payload: for IPv6 the fragmentable part, after the Fragment header) and
 * ip.reassembled.data / ipv6.reassembled.data (that payload as plain hex); ip.fragment.count / ipv6.fragment.count
 * count every fragment frame of the datagram, exact duplicates included, where our Reassembler counts the fragments the
 * datagram is made of. A single pass (no -2) shows nothing in the frames before the completing one.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openCaptureWriter } from '../../src/capture/writer.js';
import { fragmentIpv4 } from '../../src/frag/fragment-ipv4.js';
import { fragmentIpv6, ipv6FragmentLayout } from '../../src/frag/fragment-ipv6.js';
import { Reassembler } from '../../src/frag/reassembler.js';
import { bytesEqual } from '../../src/packet/bytes.js';
import { emitEthernet } from '../../src/packet/ethernet.js';
import { EtherType, IpProtocol } from '../../src/packet/ip-protocol.js';
import { emitIpv4, Ipv4Packet } from '../../src/packet/ipv4.js';
import { emitIpv6, Ipv6Packet } from '../../src/packet/ipv6.js';
import { emitIpv6Chain } from '../../src/packet/ipv6-ext.js';
import { LinkType } from '../../src/packet/link-type.js';
import { emitUdp } from '../../src/packet/udp.js';
import { prng } from '../support/prng.js';
import { tsharkFields } from '../support/tshark.js';

const SRC4 = '10.0.1.2';
const DST4 = '10.0.1.1';
const SRC6 = 'fd00:0:0:1::2';
const DST6 = 'fd00:0:0:1::1';
const MAC_A = '02:00:00:00:00:01';
const MAC_B = '02:00:00:00:00:02';

const rand = prng(0x75a2c);

function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

function shuffle<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

let nextPort = 20_000;

function v4Datagram(size: number, ident: number): Uint8Array {
  const udp = emitUdp({ srcPort: nextPort++, dstPort: 53, payloadLength: size }, randomBytes(size), SRC4, DST4);
  return emitIpv4(
    {
      src: SRC4,
      dst: DST4,
      protocol: IpProtocol.Udp,
      ttl: 64,
      dscp: 0,
      ecn: 0,
      ident,
      reservedFlag: false,
      dontFragment: false,
      moreFragments: false,
      fragmentOffset: 0,
      options: new Uint8Array(0),
      payloadLength: udp.length,
    },
    udp,
  );
}

/** With `hopByHop`, a per-fragment Hop-by-Hop header precedes the Fragment header. */
function v6Datagram(size: number, hopByHop = false): Uint8Array {
  const udp = emitUdp({ srcPort: nextPort++, dstPort: 53, payloadLength: size }, randomBytes(size), SRC6, DST6);
  const chain = hopByHop ? emitIpv6Chain([{ kind: 'hop-by-hop', nextHeader: IpProtocol.Udp, options: [{ type: 1, data: new Uint8Array(4) }] }]) : new Uint8Array(0);
  const body = new Uint8Array(chain.length + udp.length);
  body.set(chain);
  body.set(udp, chain.length);
  return emitIpv6({ src: SRC6, dst: DST6, nextHeader: hopByHop ? IpProtocol.HopByHop : IpProtocol.Udp, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLength: body.length }, body);
}

function frag4(packet: Uint8Array, mtu: number): Uint8Array[] {
  const r = fragmentIpv4(packet, mtu);
  assert.ok(r.ok && r.fragments.length > 2, r.ok ? 'too few fragments' : r.reason);
  return r.fragments;
}

function frag6(packet: Uint8Array, mtu: number, ident: number): Uint8Array[] {
  const r = fragmentIpv6(packet, mtu, ident);
  assert.ok(r.ok && r.fragments.length > 2, r.ok ? 'too few fragments' : r.reason);
  return r.fragments;
}

interface Scenario {
  readonly name: string;
  /** The original datagram, when the scenario's fragments make it complete. */
  readonly complete: readonly Uint8Array[];
  readonly incomplete: number;
  /** Exact duplicate fragments among the packets (tshark counts them as fragments, we do not). */
  readonly duplicates?: number;
  readonly packets: readonly Uint8Array[];
}

/** Every fragment set of the capture, in the order the packets are written. */
function scenarios(): Scenario[] {
  const out: Scenario[] = [];
  for (const family of [4, 6] as const) {
    let ident = family === 4 ? 0x1000 : 0x7000_0000;
    const make = (size: number, mtu: number, hbh = false): { d: Uint8Array; f: Uint8Array[] } => {
      ident++;
      const d = family === 4 ? v4Datagram(size, ident) : v6Datagram(size, hbh);
      return { d, f: family === 4 ? frag4(d, mtu) : frag6(d, mtu, ident) };
    };
    const inOrder = make(4000, 1280);
    out.push({ name: `IPv${family} complete, in order`, complete: [inOrder.d], incomplete: 0, packets: inOrder.f });
    const reversed = make(6000, 1000);
    out.push({ name: `IPv${family} reversed`, complete: [reversed.d], incomplete: 0, packets: [...reversed.f].reverse() });
    const shuffled = make(9000, 576);
    out.push({ name: `IPv${family} shuffled`, complete: [shuffled.d], incomplete: 0, packets: shuffle(shuffled.f) });
    // Exact duplicates of the first and a middle fragment, both before the datagram completes.
    const dup = make(5000, 1000);
    const [d0, d1, d2, ...rest] = dup.f;
    out.push({ name: `IPv${family} duplicates`, complete: [dup.d], incomplete: 0, duplicates: 2, packets: [d0!, d0!, d2!, d2!, d1!, ...rest] });
    const missing = make(5000, 1000);
    out.push({ name: `IPv${family} missing a middle fragment`, complete: [], incomplete: 1, packets: missing.f.filter((_, i) => i !== 2) });
    const noLast = make(3000, 1000);
    out.push({ name: `IPv${family} missing the last fragment`, complete: [], incomplete: 1, packets: noLast.f.slice(0, -1) });
    if (family === 6) {
      const hbh = make(3000, 1280, true);
      out.push({ name: 'IPv6 with a per-fragment Hop-by-Hop header', complete: [hbh.d], incomplete: 0, packets: shuffle(hbh.f) });
    }
  }
  // Four datagrams of both families with their fragments mixed together.
  const a = v4Datagram(3000, 0x2001);
  const b = v4Datagram(4500, 0x2002);
  const c = v6Datagram(3500);
  const d = v6Datagram(2000);
  const mixed = shuffle([...frag4(a, 700), ...frag4(b, 1000), ...frag6(c, 800, 0x3001), ...frag6(d, 600, 0x3002)]);
  out.push({ name: 'interleaved, both families', complete: [a, b, c, d], incomplete: 0, packets: mixed });
  // A datagram that fits is no fragment at all: neither side reassembles anything from it.
  out.push({ name: 'unfragmented', complete: [], incomplete: 0, packets: [v4Datagram(100, 0x4000), v6Datagram(100)] });
  return out;
}

interface Completion {
  /** 1-based, as tshark numbers frames. */
  readonly frame: number;
  readonly family: 4 | 6;
  /** The reassembled IP payload (IPv6: the fragmentable part). */
  readonly payload: Uint8Array;
  readonly fragments: number;
}

function ipPayloadOf(datagram: Uint8Array): Uint8Array {
  if (datagram[0]! >> 4 === 4) {
    const p = Ipv4Packet.check(datagram);
    assert.ok(p.ok);
    return p.value.payload();
  }
  const p = Ipv6Packet.check(datagram);
  assert.ok(p.ok);
  const layout = ipv6FragmentLayout(p.value);
  assert.ok(!('ok' in layout), 'layout of the reassembled datagram');
  return datagram.subarray(layout.perFragmentLength);
}

function scenarioOfFrame(all: readonly Scenario[], index: number): Scenario {
  let end = 0;
  for (const s of all) {
    end += s.packets.length;
    if (index < end) return s;
  }
  throw new RangeError(`no scenario holds packet ${index}`);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

describe('tshark and our Reassembler agree on which frames complete which datagrams', () => {
  let dir: string;
  const all = scenarios();
  const packets = all.flatMap((s) => s.packets);
  /** The completing frame of each scenario with duplicates → how many. */
  const duplicatesBefore = new Map<number, number>();
  const ours: Completion[] = [];
  const dropped: string[] = [];
  let reassembler: Reassembler;
  const tshark = new Map<string, Completion[]>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mts-frag-tshark-'));
    reassembler = new Reassembler();
    packets.forEach((p, i) => {
      const outcome = reassembler.push(p, 1000 + i);
      if (outcome.status === 'complete') {
        const scenario = scenarioOfFrame(all, i);
        if (scenario.duplicates !== undefined) duplicatesBefore.set(i + 1, scenario.duplicates);
        ours.push({ frame: i + 1, family: (outcome.datagram[0]! >> 4) as 4 | 6, payload: ipPayloadOf(outcome.datagram), fragments: outcome.fragments });
      } else if (outcome.status === 'dropped') {
        dropped.push(`frame ${i + 1}: ${outcome.reason}`);
      }
    });
    for (const [name, linkType] of [
      ['ethernet', LinkType.Ethernet],
      ['raw', LinkType.Raw],
    ] as const) {
      const path = join(dir, `${name}.pcap`);
      const w = openCaptureWriter(path, { format: 'pcap', linkType });
      for (const [i, p] of packets.entries()) {
        const data =
          linkType === LinkType.Ethernet ? emitEthernet({ dst: MAC_B, src: MAC_A, vlans: [], etherType: p[0]! >> 4 === 4 ? EtherType.Ipv4 : EtherType.Ipv6 }, p) : p;
        await w.write({ timestampNs: 1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n, data });
      }
      await w.close();
      const fields = ['frame.number', 'ip.reassembled.length', 'ip.reassembled.data', 'ip.fragment.count', 'ipv6.reassembled.length', 'ipv6.reassembled.data', 'ipv6.fragment.count'];
      const rows = await tsharkFields(path, fields, { prefs: ['ip.defragment:TRUE', 'ipv6.defragment:TRUE'] });
      assert.equal(rows.length, packets.length, `tshark saw every frame of ${name}.pcap`);
      const completions: Completion[] = [];
      for (const row of rows) {
        for (const family of [4, 6] as const) {
          const k = family === 4 ? 'ip' : 'ipv6';
          const length = row[`${k}.reassembled.length`] ?? '';
          if (length === '') continue;
          const payload = Uint8Array.from(Buffer.from(row[`${k}.reassembled.data`] ?? '', 'hex'));
          assert.equal(payload.length, Number(length), `frame ${row['frame.number']}: data and length agree`);
          completions.push({ frame: Number(row['frame.number']), family, payload, fragments: Number(row[`${k}.fragment.count`]) });
        }
      }
      tshark.set(name, completions);
    }
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('our Reassembler drops nothing and completes exactly the complete fragment sets, byte for byte', () => {
    assert.deepEqual(dropped, []);
    const expected = all.flatMap((s) => s.complete.map((d) => hex(ipPayloadOf(d)))).sort();
    assert.equal(expected.length, 13);
    assert.deepEqual(ours.map((c) => hex(c.payload)).sort(), expected);
    assert.equal(reassembler.pendingDatagrams, all.reduce((n, s) => n + s.incomplete, 0), 'incomplete sets stay pending');
  });

  for (const linkType of ['ethernet', 'raw']) {
    it(`${linkType} link type: tshark completes the same datagrams in the same frames, same lengths and bytes`, () => {
      const theirs = tshark.get(linkType) ?? [];
      const summary = (cs: readonly Completion[]): string[] => cs.map((c) => `frame ${c.frame} IPv${c.family} ${c.payload.length} bytes`).sort();
      assert.deepEqual(summary(theirs), summary(ours));
      assert.equal(theirs.length, 13);
      for (const t of theirs) {
        const o = ours.find((c) => c.frame === t.frame && c.family === t.family);
        assert.ok(o && bytesEqual(o.payload, t.payload), `frame ${t.frame}: same reassembled bytes`);
        assert.equal(o.fragments, t.fragments - (duplicatesBefore.get(t.frame) ?? 0), `frame ${t.frame}: fragment count`);
      }
    });
  }
});
