import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeFrame } from '../../src/packet/frame.js';
import { LinkType } from '../../src/packet/link-type.js';
import { decodeResponderMessage } from '../../src/packet/responder-message.js';
import { Reassembler } from '../../src/frag/reassembler.js';
import {
  fragmentsFromTargetFinding,
  fragmentsToTargetFinding,
  httpTestFinding,
  noServerFinding,
  ptbFromTargetFinding,
  type ProbeOutcome,
  type ReplyOutcome,
} from '../../src/probe/cooperating-server-verdict.js';
import { probePackets, probePlan, replyIpSize } from '../../src/probe/udp-probe-plan.js';

function probes(acknowledged: readonly boolean[]): ProbeOutcome[] {
  return probePlan(4).map((p, i) => ({ ...p, acknowledged: acknowledged[i] ?? false }));
}

function replies(arrived: readonly boolean[], sizes = [1232, 1500, 2048, 4096]): ReplyOutcome[] {
  return sizes.map((replySize, i) => ({ replySize, ipSize: replyIpSize(4, replySize), arrived: arrived[i] ?? false }));
}

describe('cooperating server: the datagram plan', () => {
  it('IPv4: a 1280-byte control, then datagrams that fragment at 1280 into exactly 2, 3 and 6 pieces', () => {
    assert.deepEqual(
      probePlan(4).map((p) => [p.probeId, p.ipSize, p.udpPayload, p.fragmentCount, p.fragmentSize]),
      [[1, 1280, 1252, 1, 0], [2, 1340, 1312, 2, 1280], [3, 2596, 2568, 3, 1280], [4, 6364, 6336, 6, 1280]],
    );
  });

  it('IPv6: fragments hold 1232 data bytes after the fixed and Fragment headers', () => {
    assert.deepEqual(probePlan(6).map((p) => [p.ipSize, p.fragmentCount]), [[1280, 1], [1336, 2], [2568, 3], [6264, 6]]);
  });

  it('the packets of each datagram are what the plan says, and a reassembler gives back the probe message', () => {
    const endpoints = { family: 4 as const, source: '10.0.1.2', sourcePort: 40000, destination: '10.0.9.2', destinationPort: 8080 };
    const nonce = new Uint8Array(8).fill(3);
    const cookie = new Uint8Array(16).fill(4);
    for (const p of probePlan(4)) {
      const packets = probePackets(p, endpoints, nonce, cookie, 777);
      assert.equal(packets.length, p.fragmentCount);
      assert.ok(packets.every((b) => b.length <= (p.fragmentSize || p.ipSize)));
      // DF clear on every packet (flags word bit 0x4000).
      assert.ok(packets.every((b) => (b[6]! & 0x40) === 0));
      const r = new Reassembler();
      let whole: Uint8Array | undefined;
      for (const b of packets) {
        const out = r.push(b, 0);
        if (out.status === 'complete') whole = out.datagram;
        if (out.status === 'not-fragment') whole = b;
      }
      assert.ok(whole !== undefined, `probe ${p.probeId} did not reassemble`);
      const frame = decodeFrame(LinkType.Raw, whole, whole.length);
      const udp = frame.layers.find((l) => l.protocol === 'udp');
      assert.ok(udp !== undefined && udp.protocol === 'udp');
      assert.equal(udp.checksum, 'good');
      const message = decodeResponderMessage(whole.subarray(28));
      assert.ok(message.ok && message.value.type === 'probe');
      assert.deepEqual([message.value.probeId, message.value.fragmentCount, whole.length], [p.probeId, p.fragmentCount, p.ipSize]);
    }
  });
});

describe('cooperating server: findings from measured values', () => {
  it('scenario 2, all acknowledged: fragments reach the target (no problem, high)', () => {
    assert.deepEqual(fragmentsToTargetFinding(4, probes([true, true, true, true])), {
      direction: 'to-target',
      code: 'udp-fragments-to-target-pass',
      problem: false,
      confidence: 'high',
      sentence: 'IPv4 fragments reach the target: UDP datagrams of 2, 3 and 6 fragments (at most 1280 bytes each, up to 6364 bytes in all) arrived whole, and the unfragmented control of 1280 bytes arrived.',
    });
  });

  it('scenario 2, control only: fragments toward the target are dropped (problem, high)', () => {
    const f = fragmentsToTargetFinding(6, probes([true, false, false, false]));
    assert.equal(f.code, 'udp-fragments-to-target-dropped');
    assert.equal(f.problem, true);
    assert.equal(f.confidence, 'high');
    assert.match(f.sentence, /^IPv6 fragments toward the target are dropped: none of the UDP datagrams sent as 2, 3 and 6 fragments \(at most 1280 bytes each\) arrived, while the unfragmented control of 1280 bytes arrived\./);
  });

  it('scenario 2, two fragments pass and six do not: partial (problem, medium)', () => {
    const f = fragmentsToTargetFinding(4, probes([true, true, false, false]));
    assert.deepEqual([f.code, f.problem, f.confidence], ['udp-fragments-to-target-partial', true, 'medium']);
    assert.match(f.sentence, /datagrams of 2 fragments arrived, those of 3 and 6 fragments did not/);
  });

  it('scenario 2, not even the control: cannot tell (no problem, low), never "dropped"', () => {
    assert.deepEqual(fragmentsToTargetFinding(4, probes([false, false, false, false])), {
      direction: 'to-target',
      code: 'udp-fragments-to-target-unknown',
      problem: false,
      confidence: 'low',
      sentence: "Cannot tell whether IPv4 fragments reach the target: even the unfragmented control datagram of 1280 bytes got no acknowledgement, so the loss is not the fragments' own.",
    });
    // Fragmented ones acknowledged but the control lost: still cannot tell (the evidence contradicts itself).
    assert.equal(fragmentsToTargetFinding(4, probes([false, true, true, true])).code, 'udp-fragments-to-target-unknown');
  });

  it('scenario 4, all arrived: fragments from the target reach this host (the sizes above 1500 on the wire named)', () => {
    assert.deepEqual(fragmentsFromTargetFinding(4, replies([true, true, true, true]), true, 1500), {
      direction: 'from-target',
      code: 'udp-fragments-from-target-pass',
      problem: false,
      confidence: 'high',
      sentence:
        'UDP replies of 1232, 1500, 2048 and 4096 bytes from the target all arrived; those of 1500, 2048 and 4096 bytes (more than this host\'s link MTU of 1500 bytes on the wire) can only have come as IP fragments, so IPv4 fragments from the target reach this host.',
    });
  });

  it('scenario 4 on a link larger than the replies (loopback, jumbo frames): all arrived, but they may have come whole, so cannot tell', () => {
    const f = fragmentsFromTargetFinding(4, replies([true, true, true, true]), true, 65536);
    assert.deepEqual([f.code, f.problem, f.confidence], ['udp-fragments-from-target-pass', false, 'low']);
    assert.match(f.sentence, /none was larger than this host's link MTU of 65536 bytes on the wire, so they need not have been fragmented: cannot tell about fragments\./);
    // A link of 2000: only the 2048 and 4096-byte replies prove that fragments arrive.
    assert.match(fragmentsFromTargetFinding(4, replies([true, true, true, true]), true, 2000).sentence, /those of 2048 and 4096 bytes \(more than this host's link MTU of 2000 bytes/);
  });

  it('scenario 4, only the one that can travel whole arrived: fragments from the target dropped (problem, high)', () => {
    const f = fragmentsFromTargetFinding(4, replies([true, false, false, false]), true, 1500);
    assert.deepEqual([f.code, f.problem, f.confidence, f.direction], ['udp-fragments-from-target-dropped', true, 'high', 'from-target']);
    assert.match(f.sentence, /none of the UDP replies of 1500, 2048 and 4096 bytes \(sent as IP fragments\) arrived, while the reply of 1232 bytes that can travel unfragmented arrived\./);
  });

  it('scenario 4, nothing large arrived, not even 1232: lost, but fragments or MTU cannot be told apart (medium)', () => {
    const f = fragmentsFromTargetFinding(4, replies([false, false, false, false]), true, 1500);
    assert.deepEqual([f.code, f.problem, f.confidence], ['udp-large-replies-from-target-lost', true, 'medium']);
    assert.match(f.sentence, /cannot tell which/);
  });

  it('scenario 4, cannot tell: no cookie came back, every size refused, only small sizes asked, losses that do not follow size', () => {
    assert.equal(fragmentsFromTargetFinding(4, replies([true, true, true, true]), false, 1500).code, 'udp-fragments-from-target-unknown');
    const refused = replies([false, false], [1232, 1500]).map((r) => ({ ...r, refused: 'rate-limited (1)' }));
    assert.match(fragmentsFromTargetFinding(4, refused, true, 1500).sentence, /the server refused every reply size asked for \(1232: rate-limited \(1\); 1500: rate-limited \(1\)\)/);
    const small = fragmentsFromTargetFinding(4, replies([true], [1000]), true, 1500);
    assert.deepEqual([small.code, small.confidence], ['udp-fragments-from-target-pass', 'low']);
    assert.match(small.sentence, /cannot tell about fragments/);
    const odd = fragmentsFromTargetFinding(4, replies([false, true, true, true]), true, 1500);
    assert.equal(odd.code, 'udp-fragments-from-target-unknown');
    assert.equal(odd.problem, false);
  });

  it('scenario 4, partial: some fragmented sizes arrive and larger ones do not', () => {
    const f = fragmentsFromTargetFinding(4, replies([true, true, true, false]), true, 1500);
    assert.deepEqual([f.code, f.problem], ['udp-fragments-from-target-partial', true]);
    assert.match(f.sentence, /replies of 1500 and 2048 bytes arrived as fragments, those of 4096 bytes did not/);
  });

  it('HTTP verdicts map to findings with scenario, direction and problem; no verdict is "cannot tell"', () => {
    const f = (test: 'icmp' | 'download' | 'frag', verdict?: string, error?: string) =>
      httpTestFinding(6, { test, ms: 1, ...(verdict === undefined ? {} : { verdict }), ...(error === undefined ? {} : { error }) });
    assert.deepEqual(f('icmp', 'blackhole'), {
      code: 'http-icmp-blackhole',
      problem: true,
      confidence: 'high',
      direction: 'to-target',
      sentence: '/icmp (scenario 1, IPv6): this host kept sending packets too big for the path: ICMP Packet Too Big does not reach it (or it ignores it), a black hole for large uploads.',
    });
    assert.deepEqual([f('icmp', 'pass').problem, f('download', 'clear').problem, f('frag', 'pass').problem], [false, false, false]);
    assert.deepEqual([f('frag', 'blocked').problem, f('frag', 'blocked').direction, f('download', 'blackhole').direction], [true, 'from-target', 'from-target']);
    assert.deepEqual(f('download', undefined, 'connect ECONNREFUSED'), {
      code: 'http-download-not-run',
      problem: false,
      confidence: 'low',
      direction: 'from-target',
      sentence: "Cannot tell about path MTU discovery for the target's full-size packets toward this host: /download (scenario 3, IPv6) gave no verdict (connect ECONNREFUSED).",
    });
    assert.deepEqual([f('frag', 'inconclusive').problem, f('frag', 'inconclusive').confidence], [false, 'low']);
  });

  it('no server: the sentence says which port and that scenarios 2 and 4 were not tested', () => {
    assert.equal(noServerFinding(8080, 'no answer to 3 hellos in 3 s').sentence, 'No cooperating mtuscope server answered on UDP port 8080: scenarios 2 and 4 (UDP) not tested (no answer to 3 hellos in 3 s).');
  });

  it('a Packet Too Big from the target: arrived is no problem, lost while its controls arrived is a from-target problem, neither is "cannot tell"', () => {
    const base = { requestSize: 128, requestsSent: 3, controlsArrived: 3 };
    assert.deepEqual(ptbFromTargetFinding(4, '10.0.5.2', { ...base, requestsSent: 1, controlsArrived: 1, result: 'arrived', ms: 1.4 }), {
      direction: 'from-target',
      family: 'ipv4',
      code: 'ptb-from-target-arrives',
      problem: false,
      confidence: 'high',
      sentence: 'IPv4: an ICMP "fragmentation needed" that the server at 10.0.5.2 sent toward this host arrived (1 ms after the request): the path back lets forwarded Packet Too Big through.',
    });
    assert.deepEqual(ptbFromTargetFinding(6, 'fd00:5::2', { ...base, result: 'lost' }), {
      direction: 'from-target',
      family: 'ipv6',
      code: 'ptb-from-target-dropped',
      problem: true,
      confidence: 'high',
      sentence:
        'IPv6: an ICMPv6 Packet Too Big the server at fd00:5::2 sent toward this host did not arrive (3 sent, none arrived) while its UDP answers did (3 of its ' +
        "ptb-sent controls): something on the path back drops ICMP Packet Too Big / fragmentation needed, so every router's message about a smaller link on the " +
        'way to the target is lost too.',
    });
    const unknown = ptbFromTargetFinding(4, '10.0.5.2', { ...base, controlsArrived: 0, result: 'not-tested', reason: 'the server answered with the error ptb-unavailable (0)' });
    assert.deepEqual([unknown.code, unknown.problem, unknown.confidence], ['ptb-from-target-unknown', false, 'low']);
    assert.equal(unknown.sentence, 'IPv4: cannot tell whether a Packet Too Big from the target reaches this host: the server answered with the error ptb-unavailable (0).');
  });
});
