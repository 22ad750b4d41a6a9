import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sequenceOffset, variedFrame, variedPort } from '../../bench/analyze-input.js';
import { decodeFrame, type DecodedFrame } from '../../src/packet/frame.js';
import { LinkType } from '../../src/packet/link-type.js';
import { packetTooBigQuoting } from '../../src/packet/packet-too-big.js';
import { sampleFrames } from '../support/sample-frames.js';
import { innerSegment } from '../analyze/support/tunnels.js';

function shape(f: DecodedFrame): string[] {
  return f.layers.map((l) => `${l.protocol}${'checksum' in l ? `:${l.checksum}` : ''}${l.quoted ? ' quoted' : ''}`);
}

describe('bench/analyze input: the seed varied per repetition', () => {
  it('keeps every sample frame decoding to the same layers with the same checksum verdicts', () => {
    for (const s of sampleFrames()) {
      const before = decodeFrame(s.linkType, s.data, s.data.length);
      for (const n of [1, 2, 77, 5000]) {
        const after = decodeFrame(s.linkType, variedFrame(s.linkType, s.data, n), s.data.length);
        assert.deepEqual(shape(after), shape(before), `${s.name}, repetition ${n}`);
        assert.deepEqual(after.error, before.error, s.name);
      }
    }
  });

  it('maps an ephemeral port and the sequence numbers the same way in both directions and in an ICMP quote', () => {
    const n = 9;
    const out = innerSegment({ seq: 1000, length: 100, srcPort: 40000, dstPort: 8080 });
    const back = innerSegment({ src: '10.99.0.1', dst: '10.1.0.2', seq: 5, ack: 1100, length: 0, srcPort: 8080, dstPort: 40000 });
    const ptb = packetTooBigQuoting(4, '10.0.0.1', '10.1.0.2', out, 576, 1);
    const tcpOf = (f: DecodedFrame, quoted: boolean) => f.layers.find((l) => l.protocol === 'tcp' && l.quoted === quoted);
    const a = tcpOf(decodeFrame(LinkType.Raw, variedFrame(LinkType.Raw, out, n)), false);
    const r = tcpOf(decodeFrame(LinkType.Raw, variedFrame(LinkType.Raw, back, n)), false);
    const q = decodeFrame(LinkType.Raw, variedFrame(LinkType.Raw, ptb, n));
    assert.ok(a?.protocol === 'tcp' && r?.protocol === 'tcp');
    assert.equal(a.repr.srcPort, variedPort(40000, n));
    assert.notEqual(a.repr.srcPort, 40000);
    assert.equal(a.repr.dstPort, 8080);
    assert.equal(r.repr.dstPort, a.repr.srcPort);
    assert.equal(r.repr.ack, (a.repr.seq + 100) >>> 0);
    assert.equal(a.repr.seq, (1000 + sequenceOffset(n)) >>> 0);
    const quoted = q.layers.find((l) => l.quoted && l.protocol === 'tcp');
    assert.ok(quoted?.protocol === 'tcp');
    assert.equal(quoted.repr.srcPort, a.repr.srcPort);
    assert.equal(quoted.repr.seq, a.repr.seq);
    assert.equal(q.layers.find((l) => l.protocol === 'icmpv4' && !l.quoted && 'checksum' in l && l.checksum === 'good')?.protocol, 'icmpv4');
  });
});
