import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeFrame, type DecodedFrame } from '../../src/packet/frame.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { LinkType } from '../../src/packet/link-type.js';
import { emitNullLoop } from '../../src/packet/null-loop.js';
import { eth, ipv4, sampleFrames, udp, V4 } from '../support/sample-frames.js';

const NAMES: Readonly<Record<string, string>> = { ethernet: 'eth', icmpv4: 'icmp' };

export function stackOf(frame: DecodedFrame): string {
  let s = '';
  let inQuote = false;
  for (const l of frame.layers) {
    if (l.quoted && !inQuote) {
      s += ':[';
      inQuote = true;
    } else if (s) s += ':';
    s += NAMES[l.protocol] ?? l.protocol;
  }
  return inQuote ? `${s}]` : s;
}

describe('frame decoder', () => {
  for (const sample of sampleFrames()) {
    it(`finds the layer stack of: ${sample.name}`, () => {
      const f = decodeFrame(sample.linkType, sample.data);
      assert.equal(f.error, undefined, f.error && JSON.stringify(f.error));
      assert.equal(f.truncated, false);
      assert.equal(stackOf(f), sample.stack);
      for (const l of f.layers) {
        if ('checksum' in l && !l.quoted) assert.notEqual(l.checksum, 'bad', `${sample.name}: ${l.protocol} checksum`);
      }
    });
  }

  it('decodes every prefix of every sample as a snapped capture: truncated, never malformed, never throwing', () => {
    for (const sample of sampleFrames()) {
      for (let len = 0; len < sample.data.length; len++) {
        const f = decodeFrame(sample.linkType, sample.data.subarray(0, len), sample.data.length);
        assert.equal(f.error, undefined, `${sample.name} cut at ${len}: ${JSON.stringify(f.error)}`);
        assert.equal(f.truncated, true, `${sample.name} cut at ${len} is not marked truncated`);
        for (const l of f.layers) assert.ok(l.offset <= len);
      }
    }
  });

  it('reports the ICMP MTU and the quoted connection', () => {
    const s = sampleFrames().find((x) => x.name.startsWith('icmp frag-needed'))!;
    const f = decodeFrame(s.linkType, s.data);
    const icmp = f.layers.find((l) => l.protocol === 'icmpv4');
    assert.ok(icmp && icmp.protocol === 'icmpv4' && icmp.repr.kind === 'destination-unreachable');
    assert.equal(icmp.repr.nextHopMtu, 1400);
    const quotedTcp = f.layers.find((l) => l.protocol === 'tcp');
    assert.ok(quotedTcp && quotedTcp.quoted && quotedTcp.depth === 1);
    assert.equal(quotedTcp.offset, 14 + 20 + 8 + 20);
  });

  it('rebases an error inside a tunnel to its offset in the frame', () => {
    const s = sampleFrames().find((x) => x.name.startsWith('vxlan'))!;
    const data = s.data.slice();
    const innerIp = 14 + 20 + 8 + 8 + 14;
    data[innerIp] = 0x43;
    const f = decodeFrame(s.linkType, data);
    assert.ok(f.error);
    assert.deepEqual([f.error.protocol, f.error.field, f.error.offset], ['ipv4', 'ihl', innerIp]);
    assert.equal(stackOf(f), 'eth:ipv4:udp:vxlan:eth');
  });

  it('marks a length that runs past an unsnapped frame as malformed and truncated', () => {
    const frame = eth(0x0800, ipv4({ protocol: IpProtocol.Udp }, udp(1, 2, new Uint8Array(100), V4.client, V4.server)));
    const cut = frame.subarray(0, 14 + 10);
    const f = decodeFrame(LinkType.Ethernet, cut);
    assert.ok(f.error);
    assert.equal(f.error.offset, 14);
  });

  it('follows Foo-over-UDP only on configured ports', () => {
    const inner = ipv4({ protocol: IpProtocol.Udp, src: '10.9.0.1', dst: '10.9.0.2' }, udp(7, 8, new Uint8Array(4), '10.9.0.1', '10.9.0.2'));
    const frame = ipv4({ protocol: IpProtocol.Udp }, udp(1, 5555, inner, V4.client, V4.server));
    assert.equal(stackOf(decodeFrame(LinkType.Raw, frame)), 'ipv4:udp');
    assert.equal(stackOf(decodeFrame(LinkType.Raw, frame, frame.length, { fouPorts: new Map([[5555, 4]]) })), 'ipv4:udp:fou:ipv4:udp');
  });

  it('decodes NULL and LOOP headers in either byte order', () => {
    const pkt = ipv4({ protocol: IpProtocol.Udp }, udp(1, 2, new Uint8Array(4), V4.client, V4.server));
    for (const [lt, le] of [[LinkType.Null, true], [LinkType.Null, false], [LinkType.Loop, false]] as const) {
      const f = decodeFrame(lt, emitNullLoop({ family: 2, littleEndian: le }, pkt));
      assert.equal(stackOf(f), 'null:ipv4:udp');
    }
  });

  it('names an unsupported link type', () => {
    const f = decodeFrame(147, new Uint8Array(10));
    assert.ok(f.error && /link type 147/.test(f.error.reason));
  });
});
