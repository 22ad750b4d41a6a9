import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonValue } from '../../src/cli/json-value.js';
import { layerJson } from '../../src/cli/layer-json.js';
import { packetJson } from '../../src/cli/packet-json.js';
import { capturedPacket } from '../../src/capture/captured-packet.js';
import { decodeFrame } from '../../src/packet/frame.js';
import { fuzzInputs } from '../support/fuzz-inputs.js';
import { eth, ipv4, ipv6, sampleFrames, tcp, udp } from '../support/sample-frames.js';
import { LinkType } from '../../src/packet/link-type.js';

/** ICMP messages of every kind the fast writers know (type, code, bytes 4-7, then a quote or echo data), SACK, GUE variant 1. */
function extraKinds(): { linkType: number; data: Uint8Array; originalLength: number }[] {
  const message = (type: number, code: number) => Uint8Array.from([type, code, 0, 0, 0x12, 0x34, 0x05, 0x78, ...new Uint8Array(28)]);
  const frames = [
    ...[[0, 0], [8, 0], [3, 4], [3, 1], [11, 0], [11, 1], [5, 1]].map(([t, c]) => eth(0x0800, ipv4({ protocol: 1 }, message(t!, c!)), [{ vid: 7 }])),
    ...[[1, 4], [2, 0], [3, 0], [4, 1], [128, 0], [129, 0], [135, 0]].map(([t, c]) => eth(0x86dd, ipv6({ nextHeader: 58 }, message(t!, c!)))),
    eth(0x0800, ipv4({ protocol: 6 }, tcp({ options: [{ kind: 'sack', blocks: [{ left: 1, right: 2 }] }] }, new Uint8Array(0), '10.1.0.2', '10.2.0.2'))),
    // GUE variant 1: the UDP payload is the inner IPv4 packet itself.
    eth(0x0800, ipv4({ protocol: 17 }, udp(40000, 6080, ipv4({ protocol: 17 }, udp(1, 2, new Uint8Array(4), '10.9.0.1', '10.9.0.2')), '10.1.0.2', '10.2.0.2'))),
  ];
  return frames.map((data) => ({ linkType: LinkType.Ethernet, data, originalLength: data.length }));
}

describe('decode --json output', () => {
  it('writes every layer exactly as the generic conversion does, byte for byte (the fast writers miss no field)', () => {
    let layers = 0;
    const seen = new Set<string>();
    const inputs = [
      ...sampleFrames().map((s) => ({ linkType: s.linkType, data: s.data, originalLength: s.data.length })),
      ...extraKinds(),
      ...fuzzInputs(20_000, 7),
    ];
    for (const input of inputs) {
      const frame = decodeFrame(input.linkType, input.data, input.originalLength);
      for (const l of frame.layers) {
        assert.equal(layerJson(l), jsonValue(l), `${l.protocol} layer`);
        seen.add(l.protocol);
        if (l.protocol === 'icmpv4' || l.protocol === 'icmpv6') seen.add(`${l.protocol} ${l.repr.kind}`);
        if (l.protocol === 'ethernet' && l.repr.vlans.length > 0) seen.add('vlan');
        if (l.protocol === 'ipv6') for (const e of l.extensions) seen.add(`ipv6 ${e.kind}`);
        if (l.protocol === 'tcp') for (const o of l.repr.options) seen.add(`tcp option ${o.kind}`);
        if (l.protocol === 'gue') seen.add(`gue variant ${l.repr.variant}`);
        if (l.protocol === 'gre') seen.add(`gre${l.repr.key === undefined ? '' : ' key'}${l.repr.sequence === undefined ? '' : ' sequence'}`);
        layers++;
      }
    }
    assert.ok(layers > 30_000, `${layers} layers`);
    const kinds = ['ethernet', 'vlan', 'ipv4', 'ipv6', 'ipv6 fragment', 'ipv6 hop-by-hop', 'ipv6 destination-options', 'tcp', 'udp', 'vxlan', 'gue variant 0', 'gue variant 1', 'gre', 'gre key sequence'];
    for (const kind of ['echo-request', 'echo-reply', 'destination-unreachable', 'time-exceeded', 'other']) kinds.push(`icmpv4 ${kind}`, `icmpv6 ${kind}`);
    kinds.push('icmpv6 packet-too-big', 'icmpv6 parameter-problem');
    for (const kind of ['nop', 'mss', 'timestamps', 'sack-permitted', 'window-scale', 'end', 'sack']) kinds.push(`tcp option ${kind}`);
    for (const kind of kinds) assert.ok(seen.has(kind), `no ${kind} layer was checked`);
  });

  it('is one valid JSON object per line for hostile input too, with the error when decoding stopped', () => {
    let errors = 0;
    let n = 0;
    for (const input of fuzzInputs(5_000, 11)) {
      const pkt = capturedPacket(input.linkType, 0, 1_000_000_123n, input.originalLength, input.data);
      const line = packetJson(++n, pkt, decodeFrame(input.linkType, input.data, input.originalLength));
      assert.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'));
      const o = JSON.parse(line) as { n: number; time: string; error?: { protocol: string; offset: number } };
      assert.equal(o.n, n);
      assert.equal(o.time, '1.000000123');
      if (o.error) errors++;
    }
    assert.ok(errors > 100, `${errors} errors`);
  });

  it('gives byte fields as hex and payload-like ones as a count', () => {
    assert.equal(jsonValue({ options: Uint8Array.from([1, 0xab]), data: new Uint8Array(9), quoted: new Uint8Array(3) }), '{"options":"01ab","data":9,"quoted":3}');
    assert.equal(jsonValue({ reason: 'a "quoted" \\ thing', skipped: undefined, big: 5n }), '{"reason":"a \\"quoted\\" \\\\ thing","big":"5"}');
  });
});
