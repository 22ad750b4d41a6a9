import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlowSummaries } from '../../src/analyze/flow-summaries.js';
import { TcpFlag } from '../../src/packet/tcp.js';
import { ipFacts } from './support/facts.js';
import { innerSegment } from './support/tunnels.js';

describe('flow summaries', () => {
  it('counts each conversation once in both directions, however its packets interleave with others', () => {
    const s = new FlowSummaries(100);
    const out = (port: number, length: number) => innerSegment({ seq: 1, length, srcPort: port });
    const back = (port: number) => innerSegment({ src: '10.99.0.1', dst: '10.1.0.2', srcPort: 8080, dstPort: port, seq: 1, length: 0, flags: TcpFlag.Ack });
    const order = [out(1, 100), back(1), out(2, 200), out(1, 300), back(2), out(3, 10), back(1), out(2, 50), out(3, 10), back(3), out(1, 5)];
    order.forEach((ip, i) => s.observe(ipFacts(ip, i + 1)));
    const got = s.summaries([]).map((x) => [x.flow.srcPort, x.packets, x.bytes, x.largest, x.firstFrame]);
    assert.deepEqual(got, [
      [1, 5, 140 + 40 + 340 + 40 + 45, 340, 1],
      [2, 3, 240 + 40 + 90, 240, 3],
      [3, 3, 50 + 50 + 40, 50, 6],
    ]);
  });

  it('forgets the oldest conversation beyond its capacity, even the one it saw last but one', () => {
    const s = new FlowSummaries(1);
    s.observe(ipFacts(innerSegment({ seq: 1, length: 10, srcPort: 1 }), 1));
    s.observe(ipFacts(innerSegment({ seq: 1, length: 10, srcPort: 2 }), 2));
    s.observe(ipFacts(innerSegment({ seq: 1, length: 10, srcPort: 1 }), 3));
    assert.deepEqual(s.summaries([]).map((x) => [x.flow.srcPort, x.packets, x.firstFrame]), [[1, 1, 3]]);
    assert.equal(s.eviction().evicted, 2);
  });
});
