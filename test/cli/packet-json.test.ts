import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonValue } from '../../src/cli/json-value.js';
import { layerJson } from '../../src/cli/layer-json.js';
import { packetJson } from '../../src/cli/packet-json.js';
import { capturedPacket } from '../../src/capture/captured-packet.js';
import { decodeFrame } from '../../src/packet/frame.js';
import { fuzzInputs } from '../support/fuzz-inputs.js';
import { sampleFrames } from '../support/sample-frames.js';

describe('decode --json output', () => {
  it('writes every layer exactly as the generic conversion does (the fast writers miss no field)', () => {
    let layers = 0;
    const seen = new Set<string>();
    const inputs = [...sampleFrames().map((s) => ({ linkType: s.linkType, data: s.data, originalLength: s.data.length })), ...fuzzInputs(20_000, 7)];
    for (const input of inputs) {
      const frame = decodeFrame(input.linkType, input.data, input.originalLength);
      for (const l of frame.layers) {
        assert.deepEqual(JSON.parse(layerJson(l)), JSON.parse(jsonValue(l)!), `${l.protocol} layer`);
        seen.add(l.protocol);
        layers++;
      }
    }
    assert.ok(layers > 30_000, `${layers} layers`);
    for (const p of ['ethernet', 'ipv4', 'ipv6', 'tcp', 'udp', 'icmpv4', 'icmpv6']) assert.ok(seen.has(p), `no ${p} layer was checked`);
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
