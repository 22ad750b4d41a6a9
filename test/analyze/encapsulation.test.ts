import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CLEAN_CAPTURE } from '../../src/analyze/capture-conditions.js';
import { DEFAULT_LIMITS } from '../../src/analyze/detector.js';
import { EncapsulationDetector } from '../../src/analyze/encapsulation.js';
import type { Finding } from '../../src/analyze/finding.js';
import type { TunnelKind } from '../../src/analyze/packet-facts.js';
import { fragmentIpv4 } from '../../src/frag/fragment-ipv4.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { packetTooBigQuoting } from '../../src/packet/packet-too-big.js';
import { TcpFlag } from '../../src/packet/tcp.js';
import { ipFacts } from './support/facts.js';
import { encapsulate, FOU_PORT, INNER, innerSegment, OUTER4, OUTER6, OVERHEAD4 } from './support/tunnels.js';

const FACTS = { fouPorts: new Map([[FOU_PORT, IpProtocol.IpInIp]]) };
const KINDS: readonly TunnelKind[] = ['vxlan', 'gue', 'fou', 'gre', 'ip-in-ip'];
const NAMES = { vxlan: 'VXLAN', gue: 'GUE', fou: 'FOU', gre: 'GRE', 'ip-in-ip': 'IP-in-IP' } as const;

function analyse(packets: readonly Uint8Array[], limits = DEFAULT_LIMITS): Finding[] {
  const d = new EncapsulationDetector(limits);
  packets.forEach((ip, i) => d.observe(ipFacts(ip, i + 1, { facts: FACTS })));
  return d.report({ nowUs: 0, conditions: CLEAN_CAPTURE, final: true });
}

function ofKind(findings: readonly Finding[], kind: Finding['kind']): Finding[] {
  return findings.filter((f) => f.kind === kind);
}

/** A router's "fragmentation needed" / Packet Too Big to the outer source, quoting what fits of `outer`. */
function ptbFor(outer: Uint8Array, mtu: number, from: string, to: string): Uint8Array {
  const family = from.includes(':') ? 6 : 4;
  return packetTooBigQuoting(family, from, to, outer.subarray(0, family === 4 ? 548 : 1232), mtu, 7);
}

/** 1460 bytes of data: a 1500-byte inner packet. */
const FULL = 1460;

describe('encapsulation overhead from a Packet Too Big quoting a tunnel packet', () => {
  const big = innerSegment({ seq: 1000, length: FULL });
  const outer = encapsulate('vxlan', big, OUTER4.lb, OUTER4.server);

  it('names the overhead and the sizes, with the path MTU the Packet Too Big reports, and the inner sender that kept its size', () => {
    const findings = analyse([big, outer, ptbFor(outer, 1500, OUTER4.router, OUTER4.lb), innerSegment({ seq: 1000, length: FULL })]);
    const [overhead] = ofKind(findings, 'encap-overhead');
    assert.ok(overhead, JSON.stringify(findings));
    assert.equal(overhead.severity, 'error');
    assert.equal(overhead.confidence, 'high');
    assert.match(overhead.sentence, /inner 1500 \+ VXLAN overhead 50 = 1550 bytes, larger than the path's 1500 \(the MTU the "fragmentation needed" reports\)/);
    assert.deepEqual(overhead.evidence.map((e) => e.frame), [3]);
    assert.equal(overhead.displayFilter, 'frame.number in {3}');
    assert.deepEqual(overhead.facts, {
      tunnel: 'vxlan', outerSrc: OUTER4.lb, outerDst: OUTER4.server, overhead: 50, innerLength: 1500, outerLength: 1550,
      pathMtu: 1500, pathMtuSource: 'packet-too-big', packetTooBig: 1, ptbFrom: OUTER4.router,
    });
    assert.deepEqual(overhead.flow, { family: 4, protocol: 'tcp', src: INNER.client, srcPort: 40000, dst: INNER.service, dstPort: 8080 });
    const [endpoint] = ofKind(findings, 'ptb-to-tunnel-endpoint');
    assert.ok(endpoint);
    assert.equal(endpoint.severity, 'error');
    assert.match(endpoint.sentence, /went to the VXLAN tunnel endpoint 10\.0\.2\.1, not to 10\.1\.0\.2/);
    assert.match(endpoint.sentence, /Not relayed: the inner sender kept sending packets too big for the tunnel afterwards \(1, of 1500 bytes/);
    assert.deepEqual(endpoint.evidence.map((e) => e.frame), [3, 4]);
    assert.equal(endpoint.facts['tooBigAfter'], 1);
  });

  it("says when the endpoint's own kernel refused the packet (the Packet Too Big comes from the endpoint itself)", () => {
    const [overhead] = ofKind(analyse([outer, ptbFor(outer, 1500, OUTER4.lb, OUTER4.lb)]), 'encap-overhead');
    assert.match(overhead!.sentence, /from the tunnel endpoint 10\.0\.2\.1 itself/);
  });

  it('calls it relayed (info) when the inner sender shrinks its packets to fit the tunnel afterwards', () => {
    const findings = analyse([outer, ptbFor(outer, 1500, OUTER4.router, OUTER4.lb), innerSegment({ seq: 1000, length: FULL }), innerSegment({ seq: 1000, length: 1410 }), innerSegment({ seq: 2410, length: 50 })]);
    const [endpoint] = ofKind(findings, 'ptb-to-tunnel-endpoint');
    assert.equal(endpoint!.severity, 'info');
    assert.match(endpoint!.sentence, /shrank to fit \(2 after the last one too big, up to 1450 bytes\)/);
  });

  it('calls it relayed (info) when a Packet Too Big to the inner sender about the same flow follows', () => {
    const relay = ptbFor(big, 1450, OUTER4.lb, INNER.client);
    const [endpoint] = ofKind(analyse([outer, ptbFor(outer, 1500, OUTER4.router, OUTER4.lb), relay]), 'ptb-to-tunnel-endpoint');
    assert.equal(endpoint!.severity, 'info');
    assert.equal(endpoint!.facts['relayedFrame'], 3);
  });

  it('cannot tell (warning, low) when no data packet of the inner flow follows', () => {
    const [endpoint] = ofKind(analyse([outer, ptbFor(outer, 1500, OUTER4.router, OUTER4.lb)]), 'ptb-to-tunnel-endpoint');
    assert.equal(endpoint!.severity, 'warning');
    assert.equal(endpoint!.confidence, 'low');
    assert.match(endpoint!.sentence, /Cannot tell/);
  });

  it('reports nothing for a Packet Too Big quoting a packet that is not tunnelled', () => {
    assert.deepEqual(analyse([big, ptbFor(big, 1400, OUTER4.router, INNER.client), innerSegment({ seq: 1000, length: FULL })]), []);
  });

  it('reports no overhead when the reported MTU is not below the quoted tunnel packet (only where the Packet Too Big went)', () => {
    const findings = analyse([outer, ptbFor(outer, 1600, OUTER4.router, OUTER4.lb)]);
    assert.deepEqual(ofKind(findings, 'encap-overhead'), []);
    assert.equal(ofKind(findings, 'ptb-to-tunnel-endpoint').length, 1);
  });

  for (const kind of KINDS) {
    for (const family of [4, 6] as const) {
      const o = family === 4 ? OUTER4 : OUTER6;
      const overhead = OVERHEAD4[kind] + (family === 6 ? 20 : 0);
      it(`measures the ${NAMES[kind]} overhead over IPv${family} (${overhead} bytes) from the quote`, () => {
        const packet = encapsulate(kind, big, o.lb, o.server);
        const findings = analyse([packet, ptbFor(packet, 1500, o.router, o.lb)]);
        const [f] = ofKind(findings, 'encap-overhead');
        assert.ok(f, JSON.stringify(findings));
        assert.match(f.sentence, new RegExp(`inner 1500 \\+ ${NAMES[kind]} overhead ${overhead} = ${1500 + overhead} bytes, larger than the path's 1500`));
        assert.equal(ofKind(findings, 'ptb-to-tunnel-endpoint')[0]?.facts['endpoint'], o.lb);
      });
    }
  }
});

describe('encapsulation overhead from outer fragments', () => {
  const outer = encapsulate('vxlan', innerSegment({ seq: 1000, length: FULL }), OUTER4.lb, OUTER4.server, { dontFragment: false, ident: 77 });

  it('names the overhead and the largest fragment as the path MTU when tunnel packets cross as IPv4 fragments', () => {
    const r = fragmentIpv4(outer, 1500);
    assert.ok(r.ok);
    const [f, ...rest] = analyse(r.fragments);
    assert.deepEqual(rest, []);
    assert.equal(f!.kind, 'encap-overhead');
    assert.equal(f!.severity, 'warning');
    assert.match(f!.sentence, /inner 1500 \+ VXLAN overhead 50 = 1550 bytes, larger than the path's 1500 \(the largest outer fragment seen\)/);
    assert.deepEqual(f!.evidence.map((e) => e.frame), [1, 2]);
    assert.equal(f!.facts['pathMtuSource'], 'largest-fragment');
  });

  it('reports nothing for tunnel packets that fit, nor for fragments of datagrams that carry no tunnel', () => {
    const fits = encapsulate('vxlan', innerSegment({ seq: 1000, length: 1400 }), OUTER4.lb, OUTER4.server);
    const plain = innerSegment({ seq: 1000, length: 3000 });
    const r = fragmentIpv4(Uint8Array.from(plain.map((b, i) => (i === 6 ? b & ~0x40 : b))), 1500);
    assert.ok(r.ok);
    assert.deepEqual(analyse([fits, ...r.fragments]), []);
  });
});

describe('encapsulation overhead from outer packets larger than any acknowledged', () => {
  const ack = (n: number): Uint8Array => innerSegment({ src: INNER.service, dst: INNER.client, srcPort: 8080, dstPort: 40000, seq: 1, ack: n, length: 0, flags: TcpFlag.Ack });

  for (const kind of KINDS) {
    it(`names the ${NAMES[kind]} overhead of a segment sent three times and never acknowledged, above the largest one acknowledged`, () => {
      const wrap = (seq: number, length: number): Uint8Array => encapsulate(kind, innerSegment({ seq, length }), OUTER4.lb, OUTER4.server);
      const findings = analyse([wrap(1000, 500), ack(1500), wrap(1500, FULL), wrap(1500, FULL), wrap(1500, FULL)]);
      const [f, ...rest] = findings;
      assert.deepEqual(rest, []);
      const answered = 540 + OVERHEAD4[kind];
      assert.equal(f!.kind, 'encap-overhead');
      assert.equal(f!.severity, 'error');
      assert.equal(f!.confidence, 'medium');
      assert.match(f!.sentence, new RegExp(`sent 3 times and never acknowledged: inner 1500 \\+ ${NAMES[kind]} overhead ${OVERHEAD4[kind]} = ${1500 + OVERHEAD4[kind]} bytes, larger than the path's ${answered} \\(the largest outer packet of this tunnel that was acknowledged, frame 2\\)`));
      assert.deepEqual(f!.evidence.map((e) => e.frame), [3, 4, 5]);
    });
  }

  it('reports nothing when the large segment is acknowledged, sent only twice, or no tunnel packet was ever acknowledged', () => {
    const wrap = (seq: number, length: number): Uint8Array => encapsulate('vxlan', innerSegment({ seq, length }), OUTER4.lb, OUTER4.server);
    assert.deepEqual(analyse([wrap(1000, 500), ack(1500), wrap(1500, FULL), wrap(1500, FULL), wrap(1500, FULL), ack(1500 + FULL)]), []);
    assert.deepEqual(analyse([wrap(1000, 500), ack(1500), wrap(1500, FULL), wrap(1500, FULL)]), []);
    assert.deepEqual(analyse([wrap(1500, FULL), wrap(1500, FULL), wrap(1500, FULL)]), []);
  });

  it('keeps no more findings than the limit and counts the rest as evicted', () => {
    const packets: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) {
      const outer = encapsulate('vxlan', innerSegment({ seq: 1000, length: FULL, srcPort: 40000 + i }), OUTER4.lb, `10.0.3.${i + 1}`);
      packets.push(outer, ptbFor(outer, 1500, OUTER4.router, OUTER4.lb));
    }
    const d = new EncapsulationDetector({ ...DEFAULT_LIMITS, maxFindingsPerKind: 2 });
    packets.forEach((ip, i) => d.observe(ipFacts(ip, i + 1)));
    const findings = d.report({ nowUs: 0, conditions: CLEAN_CAPTURE, final: true });
    assert.equal(ofKind(findings, 'encap-overhead').length, 2);
    assert.ok(d.evictions().some((e) => e.table === 'encap-overhead findings' && e.evicted === 3));
  });
});

describe('encapsulation detector on hostile input', () => {
  it('never throws on random bytes, nor on cut tunnel packets and quotes', () => {
    const outer = encapsulate('vxlan', innerSegment({ seq: 1000, length: FULL }), OUTER4.lb, OUTER4.server);
    const ptb = ptbFor(outer, 1500, OUTER4.router, OUTER4.lb);
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 200, size: 'max' }), fc.integer({ min: 0, max: ptb.length }).map((n) => ptb.slice(0, n)), fc.integer({ min: 0, max: outer.length }).map((n) => outer.slice(0, n))), { maxLength: 20 }), (packets) => {
        analyse(packets);
      }),
      { numRuns: 300 },
    );
  });
});
