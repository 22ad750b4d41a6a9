/**
 * A capture of ever new flows (every packet a TCP SYN or UDP datagram of a flow never seen before, as bench/analyze's
 * memory run sends) through the default detectors with small limits: every flow table stays within its capacity,
 * says what it evicted (result.evictions, the text's `evicted:` lines, the JSON summary), and a flow still in the
 * tables is judged as it would be without the flood, while one pushed out before its evidence came is not.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uniqueFlowFrame } from '../../bench/analyze-flows.js';
import { analysisText } from '../../src/analyze/analysis-text.js';
import { summaryJson } from '../../src/analyze/analysis-json.js';
import { Analyzer } from '../../src/analyze/analyzer.js';
import { defaultParts } from '../../src/analyze/default-parts.js';
import { type AnalyzerLimits, DEFAULT_LIMITS } from '../../src/analyze/detector.js';
import { capturedPacket, type CapturedPacket } from '../../src/capture/captured-packet.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { emitIpv4 } from '../../src/packet/ipv4.js';
import { LinkType } from '../../src/packet/link-type.js';
import { emitTcp, TcpFlag } from '../../src/packet/tcp.js';

const LIMITS: AnalyzerLimits = { ...DEFAULT_LIMITS, maxFlows: 1000 };
const FLOOD = 200_000;
const T0_NS = 1_700_000_000_000_000_000n;

/** A TCP segment of a conversation between 10.250.0.1 and 10.250.0.2 (raw IP record), `client` → server or back. */
function segment(clientPort: number, fromClient: boolean, flags: number, seq: number, ack: number, dataLength: number, mss?: number): Uint8Array {
  const [src, dst] = fromClient ? ['10.250.0.1', '10.250.0.2'] : ['10.250.0.2', '10.250.0.1'];
  const [srcPort, dstPort] = fromClient ? [clientPort, 80] : [80, clientPort];
  const tcp = emitTcp(
    { srcPort, dstPort, seq, ack, flags, window: 64000, urgentPointer: 0, options: mss === undefined ? [] : [{ kind: 'mss', value: mss }], payloadLength: dataLength },
    new Uint8Array(dataLength),
    src,
    dst,
  );
  return emitIpv4(
    { src, dst, protocol: IpProtocol.Tcp, ttl: 64, dscp: 0, ecn: 0, ident: 1, reservedFlag: false, dontFragment: true, moreFragments: false, fragmentOffset: 0, options: new Uint8Array(0), payloadLength: tcp.length },
    tcp,
  );
}

/** A handshake whose server announces MSS 1000; its client later sends a 1400-byte segment (segment-exceeds-mss). */
function handshake(clientPort: number): Uint8Array[] {
  return [segment(clientPort, true, TcpFlag.Syn, 1000, 0, 0, 1460), segment(clientPort, false, TcpFlag.Syn | TcpFlag.Ack, 5000, 1001, 0, 1000), segment(clientPort, true, TcpFlag.Ack, 1001, 5001, 0)];
}

function oversized(clientPort: number): Uint8Array {
  return segment(clientPort, true, TcpFlag.Ack | TcpFlag.Psh, 1001, 5001, 1400);
}

describe('a capture of ever new flows', () => {
  it('stays within every table, says what it evicted, and still judges a flow that is still in the tables', () => {
    const analyzer = new Analyzer(defaultParts(LIMITS), {}, LIMITS);
    let frame = 0;
    const push = (linkType: number, data: Uint8Array): void => {
      const p: CapturedPacket = capturedPacket(linkType, 0, T0_NS + BigInt(frame) * 1_000_000n, data.length, data);
      frame++;
      analyzer.push(p);
    };
    // An early flow: its handshake is pushed out of the tables by the flood before its oversized segment comes.
    for (const ip of handshake(40001)) push(LinkType.Raw, ip);
    for (let n = 0; n < FLOOD; n++) {
      push(LinkType.Ethernet, uniqueFlowFrame(n));
      // A late flow: its handshake comes 100 new flows before the end, well within the tables' 1000.
      if (n === FLOOD - 100) for (const ip of handshake(40002)) push(LinkType.Raw, ip);
    }
    push(LinkType.Raw, oversized(40001));
    push(LinkType.Raw, oversized(40002));

    const result = analyzer.report(true);
    assert.equal(result.packets, FLOOD + 8);
    const evicted = new Map(result.evictions.map((e) => [e.table, e]));
    for (const e of result.evictions) assert.ok(e.evicted >= 0 && e.capacity >= 1, `${e.table}: ${JSON.stringify(e)}`);
    // Every flow (one per packet, plus the two conversations, the early one twice: it comes back after its eviction)
    // passes through the flow summaries.
    assert.equal(evicted.get('flow summaries')?.evicted, FLOOD + 3 - LIMITS.maxFlows);
    assert.equal(result.flows.length, LIMITS.maxFlows);
    for (const table of ['TCP flows checked for capture loss', 'TCP directions (path MTU)', 'TCP directions checked against their MSS', 'TCP SYNs compared across capture points', 'non-TCP conversations (Packet Too Big matching)']) {
      const e = evicted.get(table);
      assert.ok(e !== undefined && e.evicted > FLOOD / 2 - 2 * LIMITS.maxFlows, `${table}: ${JSON.stringify(e)}`);
    }

    const exceeded = result.findings.filter((f) => f.kind === 'segment-exceeds-mss');
    assert.deepEqual(
      exceeded.map((f) => [f.flow?.srcPort, f.facts['mss'], f.facts['largestPayload']]),
      [[40002, 1000, 1400]],
      'the late flow is judged; the early one was forgotten before its evidence came',
    );
    assert.deepEqual(exceeded[0]!.evidence.map((e) => e.frame), [FLOOD - 100 + 6, frame]);

    const text = analysisText({ file: 'flood.pcap', interfaces: ['-'], readError: undefined }, result, []);
    assert.match(text, /evicted: the table of flow summaries was full \(1,000 entries\): 199,003 evicted; findings about them may be missing/);
    assert.match(text, /evicted: the table of TCP directions \(path MTU\) was full \(1,000 entries\): \d{2,3},\d{3} evicted/);
    const json = summaryJson({ file: 'flood.pcap', interfaces: ['-'], readError: undefined }, result, [], 0);
    assert.deepEqual(json.evictions.find((e) => e.table === 'flow summaries'), { table: 'flow summaries', evicted: 199_003, capacity: 1000 });
  });
});
