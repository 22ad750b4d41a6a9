import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { middleboxFindings } from '../../src/probe/middlebox-findings.js';
import type { ProbeFinding } from '../../src/probe/probe-finding.js';
import { rfc792, TCP_FLOW4, TCP_FLOW6, withMss, without } from './middlebox-packets.js';
import { runSimulatedPath, type SimRouter } from './middlebox-path.js';

const R4 = ['10.0.1.1', '10.0.2.1', '10.0.3.1', '10.0.4.1'];
const R6 = ['fd00:1::1', 'fd00:2::1', 'fd00:3::1', 'fd00:4::1'];

function findings(flow: typeof TCP_FLOW4, routers: readonly SimRouter[]): ProbeFinding[] {
  return middleboxFindings(runSimulatedPath(flow, routers).result);
}

function codes(fs: readonly ProbeFinding[]): string[] {
  return fs.map((f) => f.code);
}

describe('middlebox findings', () => {
  for (const [flow, R] of [
    [TCP_FLOW4, R4],
    [TCP_FLOW6, R6],
  ] as const) {
    const v = `IPv${flow.family}`;
    it(`${v}: a clean path of 3 routers gives "no change seen" over hops 1-3 and nothing else`, () => {
      const fs = findings(flow, R.slice(0, 3).map((address) => ({ address })));
      assert.deepEqual(fs, [
        {
          code: 'middlebox-none-seen',
          problem: false,
          confidence: 'high',
          where: { beforeHop: 3 },
          direction: 'to-target',
          sentence:
            'No change to the probe (MSS 1460, window scale 7, SACK-permitted, timestamps, DSCP 10, ECN ECT(0)) in the quotes of hops 1-3. ' +
            'A change made by hop 3 itself after its TTL check, or between it and the destination, cannot show in any quote.',
        },
      ]);
    });

    it(`${v}: an MSS clamp in router 2's FORWARD chain is placed between hop 2 and hop 3 with both addresses and both values`, () => {
      const routers: SimRouter[] = [{ address: R[0]! }, { address: R[1]!, forward: { tcp: withMss(1344) } }, { address: R[2]! }, { address: R[3]! }];
      const fs = findings(flow, routers);
      assert.deepEqual(fs, [
        {
          code: 'mss-clamped',
          problem: false,
          confidence: 'high',
          where: { afterHop: 2, beforeHop: 3, address: R[2]! },
          direction: 'to-target',
          sentence: `MSS clamped from 1460 to 1344 between hop 2 (${R[1]!}) and hop 3 (${R[2]!}).`,
        },
      ]);
    });
  }

  it('a clamp seen only by the last router that quotes is placed, with medium confidence and the caveat that it may rewrite only its quotes', () => {
    const fs = findings(TCP_FLOW4, [{ address: R4[0]! }, { address: R4[1]!, forward: { tcp: withMss(1400) } }, { address: R4[2]! }]);
    assert.equal(fs.length, 1);
    assert.equal(fs[0]!.code, 'mss-clamped');
    assert.equal(fs[0]!.confidence, 'medium');
    assert.equal(
      fs[0]!.sentence,
      "MSS clamped from 1460 to 1400 between hop 2 (10.0.2.1) and hop 3 (10.0.3.1). Only hop 3's quote shows it, no later router quoted the probe: that router may rewrite what it quotes only.",
    );
  });

  it('a clamp at this host (before hop 1) is placed between this host and hop 1', () => {
    const fs = middleboxFindings(runSimulatedPath(TCP_FLOW4, [{ address: R4[0]!, quoteOnly: { tcp: withMss(1380) } }, { address: R4[1]!, quoteOnly: { tcp: withMss(1380) } }]).result);
    assert.equal(fs[0]!.sentence, 'MSS clamped from 1460 to 1380 between this host and hop 1 (10.0.1.1).');
    assert.deepEqual(fs[0]!.where, { beforeHop: 1, address: '10.0.1.1' });
  });

  it('a router that rewrites only its own quote gives "change-not-persistent", not a placed change', () => {
    const fs = findings(TCP_FLOW4, [{ address: R4[0]! }, { address: R4[1]!, quoteOnly: { ip: { dscp: 0 } } }, { address: R4[2]! }]);
    assert.deepEqual(codes(fs), ['change-not-persistent']);
    assert.equal(
      fs[0]!.sentence,
      'The quote of hop 2 (10.0.2.1) shows the DSCP as 0, but hop 3 (10.0.3.1) quotes 10 again: that router may rewrite only what it quotes, or the probes took different paths (load balancing); cannot tell where the DSCP is changed, if at all.',
    );
    assert.equal(fs[0]!.problem, false);
    assert.equal(fs[0]!.confidence, 'low');
  });

  it('DSCP bleached and ECN cleared by router 1 are two findings at the same place', () => {
    const fs = findings(TCP_FLOW4, [{ address: R4[0]!, forward: { ip: { dscp: 0, ecn: 0 } } }, { address: R4[1]! }, { address: R4[2]! }]);
    assert.deepEqual(
      fs.map((f) => [f.code, f.problem, f.sentence]),
      [
        ['dscp-rewritten', false, 'DSCP rewritten from 10 to 0 between hop 1 (10.0.1.1) and hop 2 (10.0.2.1).'],
        ['ecn-cleared', true, 'ECN field cleared from ECT(0) to Not-ECT between hop 1 (10.0.1.1) and hop 2 (10.0.2.1).'],
      ],
    );
  });

  it('a removed option is reported with its value, once: the shorter header and changed checksum that follow from it make no findings of their own', () => {
    const fs = findings(TCP_FLOW6, [{ address: R6[0]! }, { address: R6[1]!, forward: { tcp: without('timestamps') } }, { address: R6[2]! }, { address: R6[3]! }]);
    assert.deepEqual(codes(fs), ['option-removed']);
    assert.equal(fs[0]!.sentence, 'The timestamps option (TSval 1 TSecr 0) removed between hop 2 (fd00:2::1) and hop 3 (fd00:3::1).');
    assert.equal(fs[0]!.problem, true);
  });

  it("a NAT's address and port translation at the same place make one finding", () => {
    const fs = findings(TCP_FLOW4, [{ address: R4[0]!, forward: { ip: { src: '10.200.0.1' }, tcp: (r) => ({ ...r, srcPort: 1024 }) } }, { address: R4[1]! }, { address: R4[2]! }]);
    assert.deepEqual(codes(fs), ['nat']);
    assert.equal(fs[0]!.sentence, 'Source address translated from 10.0.0.2 to 10.200.0.1 and source port translated from 40001 to 1024 between hop 1 (10.0.1.1) and hop 2 (10.0.2.1).');
  });

  it('routers that quote only 8 bytes of TCP past hop 1 give "cannot tell" for the options after hop 1, never "no change" for them', () => {
    const fs = findings(TCP_FLOW4, [{ address: R4[0]! }, { address: R4[1]!, forward: { tcp: withMss(1344) }, quoteBytes: 28 }, { address: R4[2]!, quoteBytes: 28 }, { address: R4[3]!, quoteBytes: 28 }]);
    assert.deepEqual(
      fs.map((f) => [f.code, f.sentence]),
      [
        [
          'middlebox-none-seen',
          'No change to the probe (MSS 1460, window scale 7, SACK-permitted, timestamps, DSCP 10, ECN ECT(0)) in the quotes of hop 1. ' +
            'No change to the IP header, the ports or the sequence number in the partial quotes of hops 2-4, which hold nothing of the TCP options. ' +
            'A change made by hop 4 itself after its TTL check, or between it and the destination, cannot show in any quote.',
        ],
        [
          'middlebox-cannot-tell',
          'Hops 2-4 quoted only the first 8 bytes of TCP (RFC 792): cannot tell whether the MSS, the other TCP options, the window or the flags are changed after hop 1 (10.0.1.1).',
        ],
      ],
    );
    assert.deepEqual(fs[1]!.where, { afterHop: 1, address: '10.0.1.1' });
  });

  it('when every router quotes 8 bytes, the only findings say what the partial quotes hold and that the options cannot be told', () => {
    const fs = findings(TCP_FLOW6, [{ address: R6[0]!, quoteBytes: 48 }, { address: R6[1]!, quoteBytes: 48 }]);
    assert.deepEqual(codes(fs), ['middlebox-none-seen', 'middlebox-cannot-tell']);
    assert.equal(fs[0]!.confidence, 'medium');
    assert.equal(fs[1]!.sentence, 'Hops 1-2 quoted only the first 8 bytes of TCP (RFC 792): cannot tell whether the MSS, the other TCP options, the window or the flags are changed on the whole path.');
  });

  it('silent routers after the last quote and a destination that never answers are "cannot tell" for the probe after the last quoting hop', () => {
    const run = runSimulatedPath(TCP_FLOW4, [{ address: R4[0]! }, { address: R4[1]!, silent: true }, { address: R4[2]!, silent: true }], { maxHops: 4, triesPerHop: 2, replyTimeoutMs: 500 }, false);
    assert.equal(run.result.end, 'max-hops');
    const fs = middleboxFindings(run.result);
    assert.deepEqual(codes(fs), ['middlebox-none-seen', 'middlebox-cannot-tell']);
    assert.equal(fs[1]!.sentence, 'Hops 2-4 did not answer, the destination did not answer within 4 hops: cannot tell whether the probe is changed after hop 1 (10.0.1.1).');
  });

  it('no quote at all: one "cannot tell" and no "no change seen"', () => {
    const run = runSimulatedPath(TCP_FLOW4, [{ address: R4[0]!, silent: true }, { address: R4[1]!, silent: true }]);
    assert.deepEqual(middleboxFindings(run.result), [
      {
        code: 'middlebox-cannot-tell',
        problem: false,
        confidence: 'high',
        direction: 'to-target',
        sentence: 'No router quoted the probe in an ICMP error (hops 1-2 sent none): cannot tell whether anything on the path changes it.',
      },
    ]);
  });

  it('a quoted TTL above 1 is reported per hop as a TTL the hops before did not decrement', () => {
    const fs = findings(TCP_FLOW4, [{ address: R4[0]! }, { address: R4[1]!, quoteOnly: { ip: { ttl: 2 } } }, { address: R4[2]! }]);
    assert.deepEqual(codes(fs), ['ttl-unexpected']);
    assert.match(fs[0]!.sentence, /^Hop 2 \(10\.0\.2\.1\) quotes TTL 2 where 1 was expected/);
  });

  it('the RFC 792 quote helper gives 28 bytes for IPv4 (the check above leans on it)', () => {
    assert.equal(rfc792(new Uint8Array(60).fill(0x45, 0, 1)).length, 28);
  });
});
