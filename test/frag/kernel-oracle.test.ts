/**
 * The Linux kernel as the oracle for fragmentation, both ways:
 * - our fragments, written onto a veth as raw Ethernet frames, must be reassembled and delivered by the kernel to a
 *   UDP socket with exactly the payload we fragmented (and an incomplete set must not be delivered);
 * - the kernel's fragments (large UDP datagrams and pings over small-MTU links), captured with tcpdump before the
 *   receiver reassembles them, must be reassembled by our Reassembler into exactly the datagrams that were sent.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { readCaptureFile } from '../../src/capture/reader.js';
import { fragmentIpv4 } from '../../src/frag/fragment-ipv4.js';
import { fragmentIpv6 } from '../../src/frag/fragment-ipv6.js';
import { Reassembler } from '../../src/frag/reassembler.js';
import { startLab } from '../../src/lab/lab.js';
import type { LabProcess, RunningLab } from '../../src/lab/running-lab.js';
import { ipBytes } from '../../src/packet/address.js';
import { bytesEqual, put32, u16 } from '../../src/packet/bytes.js';
import { sum16, sumVerifies } from '../../src/packet/checksum.js';
import { EthernetFrame } from '../../src/packet/ethernet.js';
import { EtherType, IpProtocol } from '../../src/packet/ip-protocol.js';
import { emitIpv4, emitIpv4Options, Ipv4Packet } from '../../src/packet/ipv4.js';
import { emitIpv6, IPV6_HEADER, Ipv6Packet } from '../../src/packet/ipv6.js';
import { emitIpv6Chain, walkIpv6Extensions } from '../../src/packet/ipv6-ext.js';
import { emitUdp } from '../../src/packet/udp.js';
import { prng } from '../support/prng.js';
import { RawInjector } from '../support/raw-inject.js';

import { needsRoot } from '../support/root.js';
const PORT = 7777;

/** Prints one JSON line per datagram received: family, source port, length and SHA-256 of the payload. */
const LISTENER = `
const dgram = require('node:dgram');
const crypto = require('node:crypto');
const [port, ...hosts] = process.argv.slice(1);
let pending = hosts.length;
for (const host of hosts) {
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  sock.on('message', (m, r) => {
    const sha256 = crypto.createHash('sha256').update(m).digest('hex');
    console.log(JSON.stringify({ host, port: r.port, length: m.length, sha256 }));
  });
  sock.bind(Number(port), host, () => { if (--pending === 0) console.log('ready'); });
}
`;

/** Reads [1-byte family][4-byte big-endian length][payload] records from stdin and sends each, one at a time. */
const SENDER = `
const dgram = require('node:dgram');
const [v4, v6, port, srcPort] = process.argv.slice(1);
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', async () => {
  const data = Buffer.concat(chunks);
  // ipv6Only: otherwise the udp6 socket also claims the IPv4 port and the second bind fails.
  const socks = { 4: dgram.createSocket('udp4'), 6: dgram.createSocket({ type: 'udp6', ipv6Only: true }) };
  for (const s of Object.values(socks)) s.on('error', (e) => { console.error(String(e)); process.exit(1); });
  await Promise.all([new Promise((r) => socks[4].bind(Number(srcPort), r)), new Promise((r) => socks[6].bind(Number(srcPort), r))]);
  let i = 0;
  let n = 0;
  while (i < data.length) {
    const family = data[i];
    const length = data.readUInt32BE(i + 1);
    const payload = data.subarray(i + 5, i + 5 + length);
    i += 5 + length;
    await new Promise((resolve, reject) => socks[family].send(payload, Number(port), family === 4 ? v4 : v6, (e) => (e ? reject(e) : resolve())));
    n++;
    await new Promise((r) => setTimeout(r, 20));
  }
  socks[4].close();
  socks[6].close();
  console.log('sent ' + n);
});
`;

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function randomBytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

function shuffle<T>(rand: () => number, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

type Order = 'in-order' | 'reversed' | 'shuffled';

function ordered(rand: () => number, fragments: readonly Uint8Array[], order: Order): Uint8Array[] {
  if (order === 'reversed') return [...fragments].reverse();
  if (order === 'shuffled') {
    // A shuffle that happens to keep the order would test nothing new.
    for (;;) {
      const s = shuffle(rand, fragments);
      if (fragments.length < 2 || s.some((f, i) => f !== fragments[i])) return s;
    }
  }
  return [...fragments];
}

interface Received {
  readonly host: string;
  readonly port: number;
  readonly length: number;
  readonly sha256: string;
}

function receivedBy(listener: LabProcess): Received[] {
  return listener.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Received);
}

async function startListener(lab: RunningLab, node: string, hosts: readonly string[]): Promise<LabProcess> {
  const p = lab.spawn(node, [process.execPath, '-e', LISTENER, String(PORT), ...hosts]);
  await p.waitForOutput(/^ready$/m, 10_000);
  return p;
}

/** Waits until every hash was printed by the listener (or the time is up); returns what was received. */
async function waitForHashes(listener: LabProcess, hashes: readonly string[], timeoutMs = 5000): Promise<Received[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const got = receivedBy(listener);
    const seen = new Set(got.map((r) => r.sha256));
    if (hashes.every((h) => seen.has(h)) || Date.now() > end) return got;
    await delay(25);
  }
}

describe('our fragments → the Linux kernel reassembles and delivers them', needsRoot(), () => {
  let lab: RunningLab;
  let listener: LabProcess;
  let injector: RawInjector;
  let v4: { src: string; dst: string };
  let v6: { src: string; dst: string };
  const rand = prng(0x5eed_f1);
  let nextPort = 30_000;

  before(async () => {
    lab = await startLab({
      name: 'frag-inject',
      nodes: [
        { name: 'tx', kind: 'host' },
        { name: 'rx', kind: 'host' },
      ],
      links: [{ endpoints: [{ node: 'tx', ifname: 'eth1' }, { node: 'rx', ifname: 'eth1' }] }],
    });
    v4 = { src: lab.address('tx', 4), dst: lab.address('rx', 4) };
    v6 = { src: lab.address('tx', 6), dst: lab.address('rx', 6) };
    listener = await startListener(lab, 'rx', [v4.dst, v6.dst]);
    injector = await RawInjector.open(lab, { node: 'tx', ifname: 'eth1', peerNode: 'rx', peerIfname: 'eth1' });
  });
  after(async () => {
    await lab?.destroy();
  });

  interface Case {
    readonly family: 4 | 6;
    readonly size: number;
    readonly mtu: number;
    readonly order: Order;
    readonly srcPort: number;
    readonly payload: Uint8Array;
    readonly fragments: Uint8Array[];
  }

  /** A UDP datagram to the listener, fragmented by our code; `extra` adds IPv4 options or IPv6 extension headers. */
  function makeCase(family: 4 | 6, size: number, mtu: number, order: Order, extra = false): Case {
    const srcPort = nextPort++;
    const payload = randomBytes(rand, size);
    const a = family === 4 ? v4 : v6;
    const udp = emitUdp({ srcPort, dstPort: PORT, payloadLength: size }, payload, a.src, a.dst);
    let result;
    if (family === 4) {
      // Record Route is not copied: the first fragment carries it, the others have plain 20-byte headers.
      const options = extra ? emitIpv4Options([{ type: 7, copied: false, data: Uint8Array.from([4, 0, 0, 0, 0, 0, 0, 0, 0]) }]) : new Uint8Array(0);
      const ip = emitIpv4(
        {
          src: a.src,
          dst: a.dst,
          protocol: IpProtocol.Udp,
          ttl: 64,
          dscp: 0,
          ecn: 0,
          ident: Math.floor(rand() * 0x10000),
          reservedFlag: false,
          dontFragment: false,
          moreFragments: false,
          fragmentOffset: 0,
          options,
          payloadLength: udp.length,
        },
        udp,
      );
      result = fragmentIpv4(ip, mtu);
    } else {
      // Hop-by-Hop (per-fragment) and Destination Options (fragmentable). Linux drops a header with more than 7
      // bytes of padding in a row (RFC 4942 section 2.1.9.5), so the 16-byte one carries an experimental option
      // (0x1e, RFC 4727; its action bits 00 say "skip if unknown") instead of a long PadN.
      const chain = extra
        ? emitIpv6Chain([
            { kind: 'hop-by-hop', nextHeader: IpProtocol.Ipv6Opts, options: [{ type: 1, data: new Uint8Array(4) }] },
            { kind: 'destination-options', nextHeader: IpProtocol.Udp, options: [{ type: 0x1e, data: new Uint8Array(12).fill(0x5a) }] },
          ])
        : new Uint8Array(0);
      const body = new Uint8Array(chain.length + udp.length);
      body.set(chain);
      body.set(udp, chain.length);
      const ip = emitIpv6(
        { src: a.src, dst: a.dst, nextHeader: extra ? IpProtocol.HopByHop : IpProtocol.Udp, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLength: body.length },
        body,
      );
      result = fragmentIpv6(ip, mtu, Math.floor(rand() * 2 ** 32));
    }
    assert.ok(result.ok, result.ok ? '' : result.reason);
    assert.ok(result.fragments.length > 1, `size ${size} at mtu ${mtu} should fragment`);
    return { family, size, mtu, order, srcPort, payload, fragments: ordered(rand, result.fragments, order) };
  }

  /** Sends cases a few at a time (the listener's socket buffer is small) and checks each arrives exactly once. */
  async function deliver(cases: readonly Case[]): Promise<void> {
    for (let i = 0; i < cases.length; i += 4) {
      const group = cases.slice(i, i + 4);
      await injector.send(group.flatMap((c) => c.fragments));
      await waitForHashes(
        listener,
        group.map((c) => sha256(c.payload)),
      );
    }
    const got = receivedBy(listener);
    for (const c of cases) {
      const matches = got.filter((r) => r.port === c.srcPort);
      const label = `IPv${c.family} ${c.size} bytes at mtu ${c.mtu}, ${c.order}, ${c.fragments.length} fragments`;
      assert.equal(matches.length, 1, `${label}: delivered ${matches.length} times`);
      assert.deepEqual(matches[0], { host: c.family === 4 ? v4.dst : v6.dst, port: c.srcPort, length: c.size, sha256: sha256(c.payload) }, label);
    }
  }

  const MTUS = [576, 1000, 1001, 1280, 1500];
  const ORDERS: readonly Order[] = ['in-order', 'reversed', 'shuffled'];

  for (const family of [4, 6] as const) {
    it(`IPv${family}: every payload arrives exactly, for MTUs ${MTUS.join(', ')} in order, reversed and shuffled`, async () => {
      const cases = MTUS.flatMap((mtu) => ORDERS.map((order) => makeCase(family, 2000 + Math.floor(rand() * 6001), mtu, order)));
      cases.push(makeCase(family, 8000, 576, 'shuffled', true), makeCase(family, 3000, 1280, 'in-order', true));
      await deliver(cases);
    });
  }

  it('interleaved fragments of several datagrams, both families at once', async () => {
    const cases = [makeCase(4, 5000, 1000, 'in-order'), makeCase(6, 5000, 1000, 'reversed'), makeCase(4, 3000, 576, 'shuffled'), makeCase(6, 7000, 1280, 'shuffled')];
    const all = shuffle(rand, cases.flatMap((c) => c.fragments));
    await injector.send(all);
    await waitForHashes(listener, cases.map((c) => sha256(c.payload)));
    const got = receivedBy(listener);
    for (const c of cases) assert.equal(got.filter((r) => r.sha256 === sha256(c.payload)).length, 1, `IPv${c.family} ${c.size}`);
  });

  it('a datagram missing one fragment (first, middle or last) is not delivered', async () => {
    const incomplete: Case[] = [];
    for (const family of [4, 6] as const) {
      for (const missing of ['first', 'middle', 'last'] as const) {
        const c = makeCase(family, 4000, 1000, 'in-order');
        const drop = missing === 'first' ? 0 : missing === 'last' ? c.fragments.length - 1 : 2;
        incomplete.push({ ...c, fragments: c.fragments.filter((_, i) => i !== drop) });
      }
    }
    // Complete datagrams sent after the incomplete ones: once they arrive, the kernel has seen everything before them.
    const sentinels = [makeCase(4, 4000, 1000, 'in-order'), makeCase(6, 4000, 1000, 'in-order')];
    await injector.send([...incomplete.flatMap((c) => c.fragments), ...sentinels.flatMap((c) => c.fragments)]);
    const got = await waitForHashes(listener, sentinels.map((c) => sha256(c.payload)));
    for (const s of sentinels) assert.ok(got.some((r) => r.sha256 === sha256(s.payload)), `sentinel IPv${s.family} arrived`);
    await delay(300);
    const after = receivedBy(listener);
    for (const c of incomplete) assert.ok(!after.some((r) => r.port === c.srcPort), `IPv${c.family} datagram without a fragment was delivered`);
  });
});

// ---------------------------------------------------------------- kernel fragments → our reassembler

const V4_MTU = 1000;
const V6_MTU = 1280;
const SRC_PORT = 40_000;
/** Up to the largest UDP payload each family allows (65535 minus the IPv4 and UDP headers; 65535 minus UDP for IPv6). */
const UDP_SIZES = { 4: [1300, 2000, 2999, 5000, 8000, 30_000, 65_507], 6: [1300, 2000, 2999, 5000, 8000, 30_000, 65_527] } as const;

interface Completed {
  readonly datagram: Uint8Array;
  readonly fragments: number;
}

/** The IP packet inside an Ethernet frame, cut to the length its header claims (veths do not pad, NICs do). */
function ipPacketOf(frame: Uint8Array): Uint8Array | undefined {
  const eth = EthernetFrame.check(frame);
  if (!eth.ok) return undefined;
  const payload = eth.value.payload();
  if (eth.value.etherType === EtherType.Ipv4) {
    const p = Ipv4Packet.check(payload);
    return p.ok ? payload.subarray(0, p.value.totalLength) : undefined;
  }
  if (eth.value.etherType === EtherType.Ipv6) {
    const p = Ipv6Packet.check(payload);
    return p.ok ? payload.subarray(0, IPV6_HEADER + p.value.payloadLength) : undefined;
  }
  return undefined;
}

function isFragment(ip: Uint8Array): boolean {
  if (ip[0]! >> 4 === 4) {
    const p = Ipv4Packet.check(ip);
    return p.ok && p.value.isFragment;
  }
  const p = Ipv6Packet.check(ip);
  if (!p.ok) return false;
  const w = walkIpv6Extensions(p.value);
  return w.ok && w.value.fragment !== undefined;
}

describe('the kernel’s fragments → our Reassembler gives back the exact datagrams', needsRoot(), () => {
  let dir: string;
  const completed: Completed[] = [];
  const fragmentsSeen: Uint8Array[] = [];
  const dropped: string[] = [];
  let v4: { src: string; dst: string };
  let v6: { src: string; dst: string };
  const rand = prng(0xc0ffee);
  const payloads = new Map<4 | 6, Uint8Array[]>([
    [4, UDP_SIZES[4].map((n) => randomBytes(rand, n))],
    [6, UDP_SIZES[6].map((n) => randomBytes(rand, n))],
  ]);
  let delivered: Received[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mts-frag-'));
    // One 1280-byte link (the IPv6 minimum, below which labs refuse to go); IPv4 from tx to rx is held to 1000 by a
    // locked route MTU, so requests are cut at 1000 and rx's replies at 1280.
    const lab = await startLab({
      name: 'frag-kernel',
      nodes: [
        { name: 'tx', kind: 'host' },
        { name: 'rx', kind: 'host' },
      ],
      links: [{ endpoints: [{ node: 'tx', ifname: 'eth1' }, { node: 'rx', ifname: 'eth1' }], mtu: V6_MTU }],
    });
    try {
      v4 = { src: lab.address('tx', 4), dst: lab.address('rx', 4) };
      v6 = { src: lab.address('tx', 6), dst: lab.address('rx', 6) };
      await lab.mustExec('tx', ['ip', 'route', 'replace', `${v4.dst}/32`, 'dev', 'eth1', 'mtu', 'lock', String(V4_MTU)]);
      const listener = await startListener(lab, 'rx', [v4.dst, v6.dst]);
      const dumps = ['eth1'].map((ifname) => {
        const path = join(dir, `${ifname}.pcap`);
        return { path, proc: lab.spawn('rx', ['tcpdump', '-n', '-i', ifname, '-w', path, '-U', '-s', '0']) };
      });
      await Promise.all(dumps.map((d) => d.proc.waitForOutput(/listening on/, 10_000)));

      const records: Uint8Array[] = [];
      for (const family of [4, 6] as const) {
        for (const p of payloads.get(family)!) {
          const r = new Uint8Array(5 + p.length);
          r[0] = family;
          put32(r, 1, p.length);
          r.set(p, 5);
          records.push(r);
        }
      }
      const input = new Uint8Array(records.reduce((n, r) => n + r.length, 0));
      let o = 0;
      for (const r of records) {
        input.set(r, o);
        o += r.length;
      }
      const sent = await lab.mustExec('tx', [process.execPath, '-e', SENDER, v4.dst, v6.dst, String(PORT), String(SRC_PORT)], { input, timeoutMs: 20_000 });
      assert.equal(sent.stdout.trim(), `sent ${records.length}`);
      await lab.mustExec('tx', ['ping', '-4', '-n', '-c', '2', '-i', '0.2', '-W', '2', '-M', 'dont', '-s', '3000', v4.dst], { timeoutMs: 10_000 });
      await lab.mustExec('tx', ['ping', '-6', '-n', '-c', '2', '-i', '0.2', '-W', '2', '-s', '3000', v6.dst], { timeoutMs: 10_000 });
      delivered = await waitForHashes(listener, [...payloads.values()].flat().map(sha256));
      // tcpdump loses what is still in its ring buffer at SIGINT; give it time to drain (see kernel-captures.ts).
      await delay(1200);
      for (const d of dumps) {
        const exit = await d.proc.stop('SIGINT', 5000);
        assert.equal(exit.code, 0, d.proc.stderr);
        assert.match(d.proc.stderr, /\b0 packets dropped by kernel/);
      }

      const reassembler = new Reassembler();
      for (const d of dumps) {
        for (const packet of await readCaptureFile(d.path)) {
          const ip = ipPacketOf(packet.data);
          if (ip === undefined) continue;
          if (isFragment(ip)) fragmentsSeen.push(ip);
          const outcome = reassembler.push(ip, Number(packet.timestampNs / 1_000_000n));
          if (outcome.status === 'complete') completed.push({ datagram: outcome.datagram, fragments: outcome.fragments });
          else if (outcome.status === 'dropped') dropped.push(outcome.reason);
        }
      }
    } finally {
      await lab.destroy();
    }
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the kernel itself delivered every datagram (the traffic is sound)', () => {
    for (const p of [...payloads.values()].flat()) assert.ok(delivered.some((r) => r.sha256 === sha256(p) && r.length === p.length), `${p.length} bytes`);
  });

  it('nothing the kernel sent is dropped by our reassembler', () => {
    assert.deepEqual(dropped, []);
    assert.ok(fragmentsSeen.length > 200, `only ${fragmentsSeen.length} fragments captured`);
    // The kernel cut at the MTUs meant: IPv4 from tx at the locked route MTU, the rest at the link's.
    for (const f of fragmentsSeen) {
      const fromTx = f[0]! >> 4 === 4 ? bytesEqual(f.subarray(12, 16), ipBytes(v4.src, 4)) : false;
      assert.ok(f.length <= (fromTx ? V4_MTU : V6_MTU), `a ${f.length}-byte fragment`);
    }
    assert.ok(fragmentsSeen.some((f) => f.length > V4_MTU), 'rx replies are cut at 1280, not 1000');
  });

  for (const family of [4, 6] as const) {
    it(`IPv${family}: each UDP datagram comes back byte for byte, with the header fields that must survive`, () => {
      const a = family === 4 ? v4 : v6;
      for (const payload of payloads.get(family)!) {
        const expectedUdp = emitUdp({ srcPort: SRC_PORT, dstPort: PORT, payloadLength: payload.length }, payload, a.src, a.dst);
        const matches = completed.filter((c) => c.datagram[0]! >> 4 === family && bytesEqual(udpOf(c.datagram), expectedUdp));
        assert.equal(matches.length, 1, `IPv${family} ${payload.length}-byte payload reassembled ${matches.length} times`);
        const { datagram, fragments } = matches[0]!;
        const pieces = piecesOf(datagram, fragmentsSeen);
        assert.equal(fragments, pieces.length, 'fragment count');
        assert.ok(pieces.length >= Math.ceil((payload.length + 8) / (family === 4 ? V4_MTU - 20 : V6_MTU - 48)));
        if (family === 4) checkV4Header(datagram, pieces, a);
        else checkV6Header(datagram, pieces, a);
      }
    });
  }

  it('pings of 3000 bytes: requests and the fragmented replies are reassembled, replies echo the requests', () => {
    for (const family of [4, 6] as const) {
      const proto = family === 4 ? IpProtocol.Icmp : IpProtocol.Icmpv6;
      const icmp = completed.filter((c) => c.datagram[0]! >> 4 === family && upperProtocolOf(c.datagram) === proto).map((c) => ({ c, body: upperOf(c.datagram) }));
      const [request, reply] = family === 4 ? [8, 0] : [128, 129];
      const requests = icmp.filter((x) => x.body[0] === request);
      const replies = icmp.filter((x) => x.body[0] === reply);
      assert.equal(requests.length, 2, `IPv${family} echo requests`);
      assert.equal(replies.length, 2, `IPv${family} echo replies`);
      for (const q of requests) {
        assert.equal(q.body.length, 3008);
        const r = replies.find((x) => u16(x.body, 4) === u16(q.body, 4) && u16(x.body, 6) === u16(q.body, 6));
        assert.ok(r, 'a reply with the same identifier and sequence');
        assert.ok(bytesEqual(r.body.subarray(8), q.body.subarray(8)), 'the reply echoes the request data');
        for (const x of [q, r]) {
          const sum = family === 4 ? sum16(x.body, 0, x.body.length) : sum16(x.body, 0, x.body.length, v6PseudoSum(x.c.datagram, x.body.length));
          assert.ok(sumVerifies(sum), `IPv${family} ICMP checksum over the reassembled message`);
        }
      }
    }
  });
});

function upperProtocolOf(datagram: Uint8Array): number {
  if (datagram[0]! >> 4 === 4) return datagram[9]!;
  const p = Ipv6Packet.check(datagram);
  assert.ok(p.ok);
  const w = walkIpv6Extensions(p.value);
  assert.ok(w.ok);
  return w.value.upperProtocol;
}

function upperOf(datagram: Uint8Array): Uint8Array {
  if (datagram[0]! >> 4 === 4) {
    const p = Ipv4Packet.check(datagram);
    assert.ok(p.ok);
    return p.value.payload();
  }
  const p = Ipv6Packet.check(datagram);
  assert.ok(p.ok);
  const w = walkIpv6Extensions(p.value);
  assert.ok(w.ok);
  return datagram.subarray(w.value.upperOffset, IPV6_HEADER + p.value.payloadLength);
}

function udpOf(datagram: Uint8Array): Uint8Array {
  return upperProtocolOf(datagram) === IpProtocol.Udp ? upperOf(datagram) : new Uint8Array(0);
}

function v6PseudoSum(datagram: Uint8Array, length: number): number {
  return sum16(datagram, 8, 40) + IpProtocol.Icmpv6 + Math.floor(length / 0x10000) + (length & 0xffff);
}

/**
 * The captured fragments a datagram was made of. IPv4: same addresses, protocol and identification. IPv6: the
 * reassembled datagram no longer says its identification, so it is found through the first fragment, the one at
 * offset 0 whose data starts the datagram's payload.
 */
function piecesOf(datagram: Uint8Array, fragments: readonly Uint8Array[]): Uint8Array[] {
  if (datagram[0]! >> 4 === 4) {
    return fragments.filter(
      (f) => f[0]! >> 4 === 4 && bytesEqual(f.subarray(12, 20), datagram.subarray(12, 20)) && u16(f, 4) === u16(datagram, 4) && f[9] === datagram[9],
    );
  }
  const v6 = fragments.filter((f) => f[0]! >> 4 === 6 && bytesEqual(f.subarray(8, 40), datagram.subarray(8, 40)));
  const first = v6.find((f) => {
    const h = v6FragmentHeader(f);
    const data = f.subarray(h.dataAt);
    return h.offset === 0 && bytesEqual(data, datagram.subarray(IPV6_HEADER, IPV6_HEADER + data.length));
  });
  if (first === undefined) return [];
  const ident = v6FragmentHeader(first).ident;
  return v6.filter((f) => v6FragmentHeader(f).ident === ident);
}

function v6FragmentHeader(fragment: Uint8Array): { ident: number; offset: number; dataAt: number } {
  const p = Ipv6Packet.check(fragment);
  assert.ok(p.ok);
  const w = walkIpv6Extensions(p.value);
  assert.ok(w.ok && w.value.fragment);
  return { ident: w.value.fragment.ident, offset: w.value.fragment.fragmentOffset, dataAt: w.value.upperOffset };
}

function checkV4Header(datagram: Uint8Array, pieces: readonly Uint8Array[], a: { src: string; dst: string }): void {
  const d = Ipv4Packet.check(datagram);
  assert.ok(d.ok);
  const p = d.value;
  assert.equal(p.totalLength, datagram.length);
  assert.equal(p.isFragment, false);
  assert.ok(p.checksumValid(), 'header checksum of the reassembled datagram');
  assert.ok(bytesEqual(p.src, ipBytes(a.src, 4)) && bytesEqual(p.dst, ipBytes(a.dst, 4)));
  const first = pieces.find((f) => (u16(f, 6) & 0x1fff) === 0);
  assert.ok(first, 'the first fragment was captured');
  // Everything but total length, flags/offset and checksum is the first fragment's header.
  const mask = (b: Uint8Array): number[] => [...b.subarray(0, p.headerLength)].map((x, i) => ([2, 3, 6, 7, 10, 11].includes(i) ? 0 : x));
  assert.deepEqual(mask(datagram), mask(first));
  assert.equal(u16(datagram, 6) & 0x2000, 0, 'MF cleared');
  assert.equal(u16(datagram, 6) & 0x1fff, 0, 'offset cleared');
}

function checkV6Header(datagram: Uint8Array, pieces: readonly Uint8Array[], a: { src: string; dst: string }): void {
  const d = Ipv6Packet.check(datagram);
  assert.ok(d.ok);
  const p = d.value;
  assert.equal(IPV6_HEADER + p.payloadLength, datagram.length);
  assert.ok(bytesEqual(p.src, ipBytes(a.src, 6)) && bytesEqual(p.dst, ipBytes(a.dst, 6)));
  const w = walkIpv6Extensions(p);
  assert.ok(w.ok);
  assert.equal(w.value.fragment, undefined, 'Fragment header removed');
  assert.equal(p.nextHeader, IpProtocol.Udp);
  const first = pieces.find((f) => v6FragmentHeader(f).offset === 0);
  assert.ok(first, 'the first fragment was captured');
  // Version, traffic class, flow label and hop limit, addresses: as in the first fragment.
  assert.ok(bytesEqual(datagram.subarray(0, 4), first.subarray(0, 4)) && datagram[7] === first[7]);
  assert.ok(bytesEqual(datagram.subarray(8, 40), first.subarray(8, 40)));
}
