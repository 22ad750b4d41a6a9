import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { type AnalysisResult, Analyzer } from '../../src/analyze/analyzer.js';
import { caveatPhrase } from '../../src/analyze/capture-conditions-detector.js';
import { defaultParts } from '../../src/analyze/default-parts.js';
import { DEFAULT_LIMITS } from '../../src/analyze/detector.js';
import type { Finding } from '../../src/analyze/finding.js';
import { hopsCrossed } from '../../src/analyze/mss-clamp-detector.js';
import { tunnelCandidates } from '../../src/analyze/tunnel-mtus.js';
import { PcapngEncoder } from '../../src/capture/pcapng-encoder.js';
import { LinkType } from '../../src/packet/link-type.js';
import { ipRecord, T0_US } from './support/facts.js';
import { SYN, SYN_ACK, segment, type Segment } from './support/tcp-packets.js';

const run = promisify(execFile);

interface Pkt {
  readonly ip: Uint8Array;
  readonly iface?: string;
  readonly timeUs?: number;
  readonly originalLength?: number;
}

const IFACES = ['eth1', 'eth2'];

function analyze(packets: readonly Pkt[], linkMtu?: number): AnalysisResult {
  const analyzer = new Analyzer(defaultParts(DEFAULT_LIMITS), { pcapng: true, ...(linkMtu === undefined ? {} : { linkMtu }) });
  packets.forEach((p, i) => {
    const iface = p.iface ?? 'eth1';
    analyzer.push(ipRecord(p.ip, i + 1, { interfaceName: iface, interfaceId: IFACES.indexOf(iface), ...(p.timeUs === undefined ? {} : { timeUs: p.timeUs }), ...(p.originalLength === undefined ? {} : { originalLength: p.originalLength }) }));
  });
  return analyzer.report(true);
}

function kind(r: AnalysisResult, k: Finding['kind']): Finding[] {
  return r.findings.filter((f) => f.kind === k);
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mss-unit-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes the packets as a two-interface pcapng and returns the frames tshark shows with `filter`. */
async function tsharkShows(packets: readonly Pkt[], filter: string): Promise<number[]> {
  const enc = new PcapngEncoder({ interfaces: IFACES.map((name) => ({ linkType: LinkType.Raw, name })) });
  const parts: Uint8Array[] = [enc.fileHeader()];
  packets.forEach((p, i) => {
    const pkt = { timestampNs: BigInt(p.timeUs ?? T0_US + (i + 1) * 1000) * 1000n, data: p.ip, interfaceId: IFACES.indexOf(p.iface ?? 'eth1') };
    const out = new Uint8Array(enc.encodedLength(pkt));
    enc.encodePacket(pkt, out, 0);
    parts.push(out);
  });
  const path = join(dir, `f${Math.random().toString(36).slice(2)}.pcapng`);
  await writeFile(path, Buffer.concat(parts));
  const { stdout } = await run('tshark', ['-r', path, '-Y', filter, '-T', 'fields', '-e', 'frame.number']);
  return stdout.split('\n').filter((l) => l !== '').map(Number);
}

const C = { src: '10.0.1.2', dst: '10.0.2.2', sport: 40000, dport: 80 };
const S = { src: '10.0.2.2', dst: '10.0.1.2', sport: 80, dport: 40000 };
const syn = (o: Partial<Segment> = {}): Uint8Array => segment({ ...C, seq: 1000, flags: SYN, mss: 1460, ...o });
const synAck = (o: Partial<Segment> = {}): Uint8Array => segment({ ...S, seq: 5000, ack: 1001, flags: SYN_ACK, mss: 1460, ...o });

describe('mss-clamped across two capture points', () => {
  it('names the clamp, both interfaces and both frames when the same SYN crosses eth1 with MSS 1460 and eth2 with 1360', async () => {
    const pkts = [{ ip: syn(), iface: 'eth1' }, { ip: syn({ mss: 1360, ttl: 63 }), iface: 'eth2' }];
    const [f, ...rest] = kind(analyze(pkts), 'mss-clamped');
    assert.equal(rest.length, 0);
    assert.equal(f!.severity, 'warning');
    assert.equal(f!.confidence, 'high');
    assert.ok(f!.sentence.startsWith('MSS clamped from 1460 to 1360 between eth1 and eth2 (frames 1 and 2)'), f!.sentence);
    assert.deepEqual(f!.facts, { segment: 'SYN', fromMss: 1460, toMss: 1360, fromInterface: 'eth1', toInterface: 'eth2', connections: 1, otherDirectionRewritten: 0, otherDirectionKept: 0 });
    assert.deepEqual(await tsharkShows(pkts, f!.displayFilter), [1, 2]);
  });

  it('orders the two sightings by time, not by record: a pcapng from dumpcap may write eth2 first', () => {
    const pkts = [{ ip: syn({ mss: 1360, ttl: 63 }), iface: 'eth2', timeUs: T0_US + 20 }, { ip: syn(), iface: 'eth1', timeUs: T0_US + 10 }];
    const [f] = kind(analyze(pkts), 'mss-clamped');
    assert.ok(f!.sentence.startsWith('MSS clamped from 1460 to 1360 between eth1 and eth2 (frames 2 and 1)'), f!.sentence);
  });

  it('counts connections clamped alike in one finding and says the SYN-ACKs kept their MSS (a clamp in one direction only)', async () => {
    const pkts: Pkt[] = [];
    for (const port of [40000, 40001]) {
      pkts.push({ ip: syn({ sport: port }), iface: 'eth1' }, { ip: syn({ sport: port, mss: 1360 }), iface: 'eth2' });
      pkts.push({ ip: synAck({ dport: port }), iface: 'eth2' }, { ip: synAck({ dport: port }), iface: 'eth1' });
    }
    const found = kind(analyze(pkts), 'mss-clamped');
    assert.equal(found.length, 1);
    assert.equal(found[0]!.facts.connections, 2);
    assert.match(found[0]!.sentence, /2 SYNs of this capture were rewritten the same way\. The SYN-ACKs crossing the same two points kept their MSS \(2 seen\): the rewrite acts in one direction only\./);
    assert.deepEqual(await tsharkShows(pkts, found[0]!.displayFilter), [1, 2, 5, 6]);
  });

  it('says nothing when the MSS is the same on both interfaces, when the ISN differs, or when one interface sees the SYN twice', () => {
    assert.deepEqual(kind(analyze([{ ip: syn(), iface: 'eth1' }, { ip: syn({ ttl: 63 }), iface: 'eth2' }]), 'mss-clamped'), []);
    assert.deepEqual(kind(analyze([{ ip: syn(), iface: 'eth1' }, { ip: syn({ seq: 1001, mss: 1360 }), iface: 'eth2' }]), 'mss-clamped'), []);
    assert.deepEqual(kind(analyze([{ ip: syn(), iface: 'eth1' }, { ip: syn({ mss: 1360 }), iface: 'eth1' }]), 'mss-clamped'), []);
  });
});

describe('mss-clamped at one capture point', () => {
  const handshake = (server: string, synAckMss: number, ttl: number, port = 40000): Pkt[] => [
    { ip: syn({ dst: server, sport: port }) },
    { ip: synAck({ src: server, dport: port, mss: synAckMss, ttl }) },
  ];

  it('is a low-confidence info naming both explanations when a SYN-ACK from beyond a router announces much less', async () => {
    const pkts = handshake('10.0.2.2', 1360, 62);
    const [f, ...rest] = kind(analyze(pkts), 'mss-clamped');
    assert.equal(rest.length, 0);
    assert.equal(f!.severity, 'info');
    assert.equal(f!.confidence, 'low');
    assert.equal(
      f!.sentence,
      "The SYN-ACK from 10.0.2.2 announced MSS 1360, 100 bytes less than the SYN's 1460 (frames 1 and 2), and crossed 2 routers to reach eth1: " +
        "either that host's link MTU is 1400 or a router between clamps the MSS to 1360. One capture point cannot tell which; capture on both sides of the routers to see it.",
    );
    assert.deepEqual(await tsharkShows(pkts, f!.displayFilter), [1, 2]);
  });

  it('is a medium-confidence warning when three different servers all announce the same smaller MSS', () => {
    const pkts = [...handshake('10.0.2.2', 1360, 62, 40000), ...handshake('10.0.3.2', 1360, 60, 40001), ...handshake('10.0.4.2', 1360, 55, 40002)];
    const [f] = kind(analyze(pkts), 'mss-clamped');
    assert.equal(f!.severity, 'warning');
    assert.equal(f!.confidence, 'medium');
    assert.equal(f!.facts.hosts, 3);
  });

  it('is silent for a server on this link (TTL 64: nothing between could rewrite it), a difference of 20 bytes or less, and a SYN-ACK acking another ISN', () => {
    assert.deepEqual(kind(analyze(handshake('10.0.2.2', 1360, 64)), 'mss-clamped'), []);
    assert.deepEqual(kind(analyze(handshake('10.0.2.2', 1440, 62)), 'mss-clamped'), []);
    assert.deepEqual(kind(analyze([{ ip: syn() }, { ip: synAck({ ack: 7, mss: 1360, ttl: 62 }) }]), 'mss-clamped'), []);
  });

  it('estimates router hops from the nearest initial TTL', () => {
    assert.deepEqual([64, 62, 128, 120, 255, 250, 30].map(hopsCrossed), [0, 2, 0, 8, 0, 5, 2]);
  });
});

describe('mss-tunnel', () => {
  it('names VXLAN over IPv4 for MSS 1410 (1450 − 40) and VXLAN over IPv6 outer for an IPv6 MSS 1370, at low confidence', () => {
    const r = analyze([{ ip: syn({ mss: 1410 }) }, { ip: segment({ src: 'fd00::1', dst: 'fd00::2', sport: 1, dport: 2, seq: 1, flags: SYN, mss: 1370 }) }]);
    const found = kind(r, 'mss-tunnel');
    assert.deepEqual(found.map((f) => [f.facts.impliedMtu, f.severity, f.confidence]), [[1450, 'info', 'low'], [1430, 'info', 'low']]);
    assert.match(found[0]!.sentence, /^10\.0\.1\.2 announced MSS 1410 \(in one SYN, first frame 1\): 1410 \+ 40 = 1450, the MTU of VXLAN or Geneve over IPv4 \(1500 − 50\)/);
  });

  it('names nothing for the MSS of a plain 1500-byte link or an MSS one byte off a tunnel MTU', () => {
    assert.deepEqual(tunnelCandidates(1460, 4), []);
    assert.deepEqual(tunnelCandidates(1440, 6), []);
    assert.deepEqual(tunnelCandidates(1411, 4), []);
    assert.deepEqual(kind(analyze([{ ip: syn() }, { ip: synAck({ mss: 1409 }) }]), 'mss-tunnel'), []);
  });
});

describe('segment-exceeds-mss', () => {
  const data = (payload: number, seq = 1001): Uint8Array => segment({ ...C, seq, ack: 5001, payload });

  it('warns about segments carrying more than the MSS the receiver announced, with the SYN-ACK as evidence', async () => {
    const pkts = [{ ip: syn() }, { ip: synAck({ mss: 1360 }) }, { ip: data(1448) }, { ip: data(1360, 2449) }];
    const [f, ...rest] = kind(analyze(pkts), 'segment-exceeds-mss');
    assert.equal(rest.length, 0);
    assert.equal(f!.severity, 'warning');
    assert.equal(f!.confidence, 'high');
    assert.deepEqual(f!.evidence.map((e) => e.frame), [2, 3]);
    assert.deepEqual(f!.facts, { mss: 1360, mssFrame: 2, segments: 1, largestPayload: 1448 });
    assert.deepEqual(await tsharkShows(pkts, f!.displayFilter), [3]);
  });

  it('is silent for segments of exactly the MSS, and when no SYN-ACK announced one', () => {
    assert.deepEqual(kind(analyze([{ ip: syn() }, { ip: synAck({ mss: 1360 }) }, { ip: data(1360) }]), 'segment-exceeds-mss'), []);
    assert.deepEqual(kind(analyze([{ ip: syn() }, { ip: data(1448) }]), 'segment-exceeds-mss'), []);
  });

  it('is suppressed, with a caveat saying why, where the interface holds super-packets', () => {
    const r = analyze([{ ip: syn() }, { ip: synAck({ mss: 1360 }) }, { ip: data(1448) }, { ip: data(2896 * 2, 2449) }], 1500);
    assert.deepEqual(kind(r, 'segment-exceeds-mss'), []);
    const note = kind(r, 'capture-caveat').find((f) => f.facts.condition === 'segments-over-mss-explained')!;
    assert.equal(note.facts.segments, 2);
    assert.ok(note.caveats.includes('the capture holds 1 TSO/GRO super-packet on eth1 (offloads on the capture host)'), note.caveats.join(' / '));
  });
});

describe('capture conditions', () => {
  it('phrases one caveat per condition, with the interface', () => {
    assert.equal(caveatPhrase('super-packets', 12, 'eth0'), 'the capture holds 12 TSO/GRO super-packets on eth0 (offloads on the capture host)');
    assert.equal(caveatPhrase('snapped', 1, undefined), 'the capture holds 1 packet cut short by the snaplen');
    assert.equal(caveatPhrase('missed-segments', 3, 'eth1'), 'the capture missed TCP data that 3 acknowledgements on eth1 cover (capture loss, not network loss)');
  });

  it('flags the acknowledgement of data the capture lost, once per gap, and not an in-order transfer', () => {
    const d = (seq: number): Uint8Array => segment({ ...S, seq, ack: 1001, payload: 1000 });
    const a = (ack: number): Uint8Array => segment({ ...C, seq: 1001, ack });
    const lossy = analyze([{ ip: d(5001) }, { ip: d(7001) }, { ip: a(6001) }, { ip: a(8001) }, { ip: a(8001) }]);
    const missed = kind(lossy, 'capture-caveat').find((f) => f.facts.condition === 'missed-segments')!;
    assert.deepEqual(missed.evidence.map((e) => e.frame), [4]);
    assert.equal(missed.evidence[0]!.role, 'acknowledges data the capture did not see');
    const clean = analyze([{ ip: d(5001) }, { ip: d(6001) }, { ip: a(6001) }, { ip: a(7001) }]);
    assert.equal(kind(clean, 'capture-caveat').filter((f) => f.facts.condition === 'missed-segments').length, 0);
  });

  it('counts snapped packets and offers them as a contents caveat only', () => {
    const r = analyze([{ ip: syn().subarray(0, 30), originalLength: 44 }]);
    const snapped = kind(r, 'capture-caveat').find((f) => f.facts.condition === 'snapped')!;
    assert.equal(snapped.facts.count, 1);
    assert.equal(snapped.displayFilter, 'frame.interface_name == "eth1" && frame.cap_len < frame.len');
  });

  it('never throws on hostile bytes', () => {
    let x = 12345;
    const rand = (): number => (x = (x * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    const pkts: Pkt[] = [];
    for (let i = 0; i < 2000; i++) {
      const base = i % 2 === 0 ? syn() : segment({ ...C, seq: i, payload: 100 });
      const b = base.slice();
      for (let k = 0; k < 4; k++) b[rand() % b.length] = rand();
      pkts.push({ ip: b.subarray(0, 1 + (rand() % b.length)), iface: IFACES[i % 2]! });
    }
    assert.doesNotThrow(() => analyze(pkts, 1500));
  });
});

