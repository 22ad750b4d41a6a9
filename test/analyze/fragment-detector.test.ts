import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FragmentDetector, TINY_FRAGMENT_BYTES } from '../../src/analyze/fragment-detector.js';
import { CLEAN_CAPTURE } from '../../src/analyze/capture-conditions.js';
import { emitUdp } from '../../src/packet/udp.js';
import { emitTcp } from '../../src/packet/tcp.js';
import { emitWholeIpv4 } from '../../src/packet/ipv4.js';
import { filled, v4Fragment, v4Split, v6Fragment, v6Split } from '../frag/fragment-builders.js';
import { floodFragmentV4, floodFragmentV6 } from '../support/flood-fragment.js';
import { prng } from '../support/prng.js';
import { ipFacts, T0_US } from './support/facts.js';
import { at, frames, kinds, runFragments } from './support/fragments.js';

const V4 = { src: '10.0.2.2', dst: '10.0.1.2', ident: 0x1234 };
const V6 = { src: 'fd00::2', dst: 'fd00::1', ident: 0xabcdef };

function udp4000(src = V4.src, dst = V4.dst): Uint8Array {
  const payload = new Uint8Array(4000).map((_, i) => (i * 7) & 0xff);
  return emitUdp({ srcPort: 9999, dstPort: 40000, payloadLength: payload.length }, payload, src, dst);
}

/** A filler packet that is not a fragment, to move the capture's end. */
function other(): Uint8Array {
  return emitWholeIpv4({ src: '10.0.9.1', dst: '10.0.9.2', protocol: 17, ttl: 64, ident: 1 }, emitUdp({ srcPort: 1, dstPort: 2, payloadLength: 4 }, new Uint8Array(4), '10.0.9.1', '10.0.9.2'));
}

describe('fragments-incomplete', () => {
  it('names the byte range that never arrived, the frames and the age of a datagram missing its middle fragment', () => {
    const [a, , c] = v4Split(V4, udp4000(), [1480, 2960]);
    const { findings } = runFragments([at(0, a!), at(1, c!), at(5000, other())]);
    assert.deepEqual(kinds(findings), ['fragments-incomplete']);
    const f = findings[0]!;
    assert.equal(f.severity, 'error');
    assert.equal(f.confidence, 'high');
    assert.match(f.sentence, /bytes 1480-2959 of 4008 never arrived/);
    assert.deepEqual(frames(f), [1, 2]);
    assert.equal(f.facts.missingRanges, '1480-2959');
    assert.equal(f.facts.datagramBytes, 4008);
    assert.equal(f.facts.receivedBytes, 4008 - 1480);
    assert.equal(f.facts.ageMs, 5000);
    assert.equal(f.facts.timedOut, false);
    assert.equal(f.flow?.srcPort, 9999);
    assert.equal(f.displayFilter, 'ip.src == 10.0.2.2 && ip.dst == 10.0.1.2 && ip.id == 0x1234 && (ip.flags.mf == 1 || ip.frag_offset > 0)');
  });

  it('says nothing when every fragment arrives, in any order', () => {
    const parts = v4Split(V4, udp4000(), [1480, 2960]);
    const { findings, detector } = runFragments([at(0, parts[2]!), at(1, parts[0]!), at(2, parts[1]!), at(5000, other())]);
    assert.deepEqual(findings, []);
    assert.equal(detector.counts.completed, 1);
    assert.equal(detector.memoryUsed, 0);
  });

  it('names the missing end when the last fragment never came (IPv6)', () => {
    const parts = v6Split(V6, udp4000(V6.src, V6.dst), [1448, 2896]);
    const { findings } = runFragments([at(0, parts[0]!), at(1, parts[1]!), at(3000, other())]);
    const f = findings[0]!;
    assert.equal(f.kind, 'fragments-incomplete');
    // The first fragment's UDP header tells the datagram's length.
    assert.match(f.sentence, /bytes 2896-4007 of 4008 never arrived/);
    assert.equal(f.facts.lastFragmentSeen, false);
    assert.equal(f.facts.missingRanges, '2896-4007');
    assert.equal(f.displayFilter, 'ipv6.src == fd00::2 && ipv6.dst == fd00::1 && ipv6.fraghdr.ident == 0x00abcdef');
  });

  it('says the end is unknown when neither the first nor the last fragment came', () => {
    const parts = v4Split(V4, udp4000(), [1480, 2960]);
    const f = runFragments([at(0, parts[1]!), at(3000, other())]).findings[0]!;
    assert.match(f.sentence, /bytes 0-1479 of at least 2960 and the last fragment \(everything after byte 2959\) never arrived/);
    assert.equal(f.facts.missingRanges, '0-1479,2960-');
    assert.equal(f.flow?.srcPort, undefined);
  });

  it('cannot tell when the capture ends less than a second after the last fragment', () => {
    const [a] = v4Split(V4, udp4000(), [1480, 2960]);
    const { findings } = runFragments([at(0, a!), at(400, other())]);
    assert.equal(findings[0]?.severity, 'info');
    assert.equal(findings[0]?.confidence, 'low');
    assert.match(findings[0].sentence, /Cannot tell/);
  });

  it('reports a datagram timed out after 30 s (IPv4) when a late fragment of the same id starts a new one', () => {
    const [a, b, c] = v4Split(V4, udp4000(), [1480, 2960]);
    const { findings } = runFragments([at(0, a!), at(1, b!), at(31_000, c!), at(40_000, other())]);
    const timedOut = findings.filter((f) => f.facts.timedOut === true);
    assert.equal(timedOut.length, 1);
    assert.deepEqual(frames(timedOut[0]), [1, 2]);
    assert.match(timedOut[0]!.sentence, /within the reassembly timeout \(30 s/);
    // The late fragment is a datagram of its own, itself incomplete.
    assert.equal(findings.length, 2);
  });

  it('keeps waiting for an IPv6 datagram at 31 s (its timeout is 60 s), and completes it', () => {
    const [a, b, c] = v6Split(V6, udp4000(V6.src, V6.dst), [1448, 2896]);
    const { findings } = runFragments([at(0, a!), at(1, b!), at(31_000, c!), at(40_000, other())]);
    assert.deepEqual(findings, []);
  });

  it('does not report live (not final) datagrams that may still complete', () => {
    const [a] = v4Split(V4, udp4000(), [1480, 2960]);
    assert.deepEqual(runFragments([at(0, a!), at(5000, other())], { final: false }).findings, []);
  });

  it('treats the copies of each fragment on two interfaces as two observations, not overlaps, and a late duplicate as nothing', () => {
    const parts = v4Split(V4, udp4000(), [1480, 2960]);
    const on = (name: string) => ({ interfaceName: name });
    const packets = parts.flatMap((p, i) => [at(i * 2, p, on('eth0')), at(i * 2 + 1, p, on('eth1'))]);
    packets.push(at(10, parts[2]!, on('eth0')), at(5000, other()));
    const { findings, detector } = runFragments(packets);
    assert.deepEqual(findings, []);
    assert.equal(detector.counts.completed, 2);
    assert.equal(detector.counts.lateDuplicates, 1);
  });
});

describe('fragment-overlap and fragment-overlap-conflict', () => {
  const data = filled(64, 0x41);
  it('warns about an overlap with the same bytes', () => {
    const a = v4Fragment(V4, 0, true, filled(48, 0x41));
    const b = v4Fragment(V4, 24, false, data);
    const { findings } = runFragments([at(0, a), at(1, b)]);
    const f = findings.find((x) => x.kind.startsWith('fragment-overlap'));
    assert.equal(f?.kind, 'fragment-overlap');
    assert.equal(f.severity, 'warning');
    assert.equal(f.facts.overlapBytes, 24);
    assert.equal(f.facts.differingBytes, 0);
    assert.deepEqual(frames(f), [1, 2]);
  });

  it('is an error when the overlapping bytes differ (IPv4 and IPv6)', () => {
    const a = v4Fragment(V4, 0, true, filled(48, 0x41));
    const b = v4Fragment(V4, 24, false, filled(64, 0x42));
    const f4 = runFragments([at(0, a), at(1, b)]).findings.find((x) => x.kind.startsWith('fragment-overlap'));
    assert.equal(f4?.kind, 'fragment-overlap-conflict');
    assert.equal(f4.severity, 'error');
    assert.equal(f4.facts.differingBytes, 24);
    const c = v6Fragment(V6, 0, true, filled(1232, 0x41));
    const d = v6Fragment(V6, 1224, false, filled(100, 0x43));
    const f6 = runFragments([at(0, c), at(1, d)]).findings.find((x) => x.kind.startsWith('fragment-overlap'));
    assert.equal(f6?.kind, 'fragment-overlap-conflict');
    assert.equal(f6.facts.overlapBytes, 8);
  });

  it('says nothing about an exact duplicate fragment (a retransmitted or doubly captured copy)', () => {
    const parts = v4Split(V4, udp4000(), [1480, 2960]);
    const { findings, detector } = runFragments([at(0, parts[0]!), at(1, parts[0]!), at(2, parts[1]!), at(3, parts[2]!)]);
    assert.deepEqual(findings, []);
    assert.equal(detector.counts.duplicates, 1);
  });
});

describe('fragment-tiny', () => {
  it('flags a TCP first fragment that does not hold the TCP header (RFC 1858)', () => {
    const tcp = emitTcp({ srcPort: 1, dstPort: 80, seq: 1, ack: 0, flags: 0x02, window: 1000, urgentPointer: 0, options: [], payloadLength: 0 }, new Uint8Array(0), V4.src, V4.dst);
    const spec = { ...V4, protocol: 6 };
    const a = v4Fragment(spec, 0, true, tcp.subarray(0, 8));
    const b = v4Fragment(spec, 8, false, tcp.subarray(8));
    const f = runFragments([at(0, a), at(1, b)]).findings.find((x) => x.kind === 'fragment-tiny');
    assert.equal(f?.severity, 'warning');
    assert.match(f.sentence, /8 bytes of the 20-byte TCP header/);
    assert.deepEqual(frames(f), [1, 2]);
  });

  it(`flags a non-last fragment under ${TINY_FRAGMENT_BYTES} bytes, not one of ${TINY_FRAGMENT_BYTES}`, () => {
    const small = runFragments([at(0, v4Fragment(V4, 0, true, filled(56, 1))), at(1, v4Fragment(V4, 56, false, filled(100, 1)))]).findings;
    assert.deepEqual(kinds(small), ['fragment-tiny']);
    assert.equal(small[0]!.facts.smallestDataBytes, 56);
    const enough = runFragments([at(0, v4Fragment(V4, 0, true, filled(64, 1))), at(1, v4Fragment(V4, 64, false, filled(8, 1)))]).findings;
    assert.deepEqual(enough, []);
  });
});

describe('fragment-too-large', () => {
  it('flags a fragment that makes the datagram longer than 65535 bytes (ping of death)', () => {
    const a = v4Fragment(V4, 0, true, filled(1480, 1));
    const b = v4Fragment(V4, 65528, false, filled(100, 1));
    const f = runFragments([at(0, a), at(1, b)]).findings.find((x) => x.kind === 'fragment-too-large');
    assert.equal(f?.severity, 'error');
    assert.equal(f.facts.largestSize, 20 + 65628);
    assert.deepEqual(frames(f), [2]);
  });

  it('does not flag a last fragment that ends the datagram at exactly 65535 bytes', () => {
    const b = v4Fragment(V4, 65512, false, filled(3, 1));
    const found = runFragments([at(0, b)]).findings.filter((x) => x.kind === 'fragment-too-large');
    assert.deepEqual(found, []);
  });

  it('flags two last fragments that disagree on the end', () => {
    const a = v4Fragment(V4, 0, true, filled(1480, 1));
    const b = v4Fragment(V4, 2960, false, filled(100, 1));
    const c = v4Fragment(V4, 2960, false, filled(200, 1));
    const f = runFragments([at(0, a), at(1, b), at(2, c)]).findings.find((x) => x.kind === 'fragment-too-large');
    assert.match(f!.sentence, /two last fragments disagree/);
  });
});

describe('fragment-df', () => {
  it('flags IPv4 fragments with DF set, and not DF on whole packets', () => {
    const spec = { ...V4, dontFragment: true };
    const parts = v4Split(spec, udp4000(), [1480, 2960]);
    const f = runFragments(parts.map((p, i) => at(i, p))).findings;
    assert.deepEqual(kinds(f), ['fragment-df']);
    assert.equal(f[0]!.facts.fragments, 3);
    const whole = emitWholeIpv4({ src: V4.src, dst: V4.dst, protocol: 17, ttl: 64, ident: 1, dontFragment: true }, filled(100, 0));
    assert.deepEqual(runFragments([at(0, whole)]).findings, []);
  });
});

describe('a fragment flood', () => {
  it('stays within the fragment memory cap, says what it evicted and never throws', () => {
    const cap = 1024 * 1024;
    const limits = { maxFlows: 1000, fragmentMemory: cap, maxFindingsPerKind: 50 };
    const detector = new FragmentDetector(limits);
    const rand = prng(7);
    const buf = new Uint8Array(2000);
    const n = 300_000;
    for (let i = 0; i < n; i++) {
      const len = 8 + 8 * Math.floor(rand() * 150);
      const ip =
        i % 3 === 0
          ? floodFragmentV6(buf, (rand() * 0xffffffff) >>> 0, i, 8 * Math.floor(rand() * 1000), rand() < 0.8, len)
          : floodFragmentV4(buf, (rand() * 0xffffffff) >>> 0, i & 0xffff, 17, 8 * Math.floor(rand() * 1000), rand() < 0.8, len);
      detector.observe(ipFacts(ip, i + 1, { timeUs: T0_US + i * 10 }));
      if (i % 1000 === 0) assert.ok(detector.memoryUsed <= cap, `memory ${detector.memoryUsed} over the cap at packet ${i}`);
    }
    assert.ok(detector.peakMemory <= cap + 4000, `peak ${detector.peakMemory}`);
    const findings = detector.report({ nowUs: T0_US + n * 10 + 5_000_000, conditions: CLEAN_CAPTURE, final: true });
    const evictions = detector.evictions();
    const pending = evictions.find((e) => e.table.startsWith('pending fragment datagrams'));
    assert.ok(pending !== undefined && pending.evicted > 100_000, JSON.stringify(evictions));
    for (const kind of new Set(findings.map((f) => f.kind))) assert.ok(findings.filter((f) => f.kind === kind).length <= 50, kind);
    assert.ok(evictions.some((e) => e.table === 'fragments-incomplete findings beyond the limit'));
  });

  it('turns random bytes into no exception', () => {
    const detector = new FragmentDetector({ maxFlows: 100, fragmentMemory: 65536, maxFindingsPerKind: 10 });
    const rand = prng(3);
    for (let i = 0; i < 20_000; i++) {
      const b = new Uint8Array(20 + Math.floor(rand() * 200)).map(() => Math.floor(rand() * 256));
      b[0] = i % 2 === 0 ? 0x45 : 0x60;
      if (i % 4 === 0) b[6] = 0x20;
      detector.observe(ipFacts(b, i + 1));
    }
    detector.report({ nowUs: T0_US + 1e9, conditions: CLEAN_CAPTURE, final: true });
  });
});
