/**
 * The server test's report over several connections: the tally, the family summary and finding for each mix of
 * verdicts (including the one that must not be called healthy), the text lines, and the rule listing parser that
 * tells our queue rules and their owner from everything else in a filter table.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServerTestEvidence } from '../../src/probe/server-test-connection.js';
import { familyResult, serverTestJson, serverTestReport, serverTestText, type ServerTestConnectionResult } from '../../src/probe/server-test-report.js';
import { findServerTestRules } from '../../src/probe/server-test-rules.js';
import type { ServerTestVerdict } from '../../src/probe/server-test-verdict.js';

const EVIDENCE: ServerTestEvidence = {
  segments: 11, fullSize: 10, noDf: 0, packetTooBigSent: 10, firstPacketTooBigMs: 2, fullSizeRetransmissions: 0,
  firstSmallerResend: { atMs: 3.5, ipLength: 1336 }, serverMss: 1460, largestPacket: 1500, dropped: 10, packetTooBigLimited: 0, largestSmallerResend: 1336,
};
const HONOURED: ServerTestVerdict = { verdict: 'honoured', reactionMs: 1.5 };
const IGNORED: ServerTestVerdict = { verdict: 'ignored' };

function conn(index: number, verdict: ServerTestVerdict, evidence: Partial<ServerTestEvidence> = {}): ServerTestConnectionResult {
  return { index, localPort: 40_000 + index, ptbMtu: 1344 - 8 * index, verdict, evidence: { ...EVIDENCE, ...evidence }, http: { status: 200, bytes: 0, error: undefined, cutShort: true }, durationMs: 5 };
}

const ignoredEvidence = { fullSizeRetransmissions: 3, firstSmallerResend: undefined, largestSmallerResend: undefined, packetTooBigSent: 13 };

describe('the server test report', () => {
  it('all honoured: healthy, with the median and slowest reaction', () => {
    const f = familyResult(4, '10.99.0.1', [conn(1, HONOURED), conn(2, { verdict: 'honoured', reactionMs: 4 }), conn(3, { verdict: 'honoured', reactionMs: 0.5 })]);
    assert.equal(f.summary, 'honours');
    assert.deepEqual(f.reactionMs, { median: 1.5, max: 4 });
    const r = serverTestReport({ url: 'http://10.99.0.1/', host: '10.99.0.1', port: 80, ptbMtu: 1280, windowMs: 5000, families: [f], untested: [] });
    assert.deepEqual(r.findings.map((x) => [x.code, x.problem]), [['server-honours-ptb', false]]);
    assert.equal(r.findings[0]!.sentence, 'IPv4: the server at 10.99.0.1 port 80 honoured Packet Too Big on 3 of 3 connections: it re-sent in smaller packets, 1.5 ms after our message (median; slowest 4.0 ms).');
  });

  it('some honoured, some ignored: a problem, not "healthy", naming both counts and the full size', () => {
    const f = familyResult(6, 'fd00:99::1', [conn(1, HONOURED), conn(2, IGNORED, ignoredEvidence), conn(3, IGNORED, ignoredEvidence), conn(4, { verdict: 'cannot-tell', reason: 'no-resend' })]);
    assert.deepEqual([f.summary, f.honoured, f.ignored, f.cannotTell], ['partly', 1, 2, 1]);
    const r = serverTestReport({ url: 'http://[fd00:99::1]/', host: '[fd00:99::1]', port: 80, ptbMtu: 1280, windowMs: 5000, families: [f], untested: [{ family: 4, reason: 'x has no IPv4 address' }] });
    assert.deepEqual(r.findings.map((x) => [x.code, x.problem]), [['server-ptb-partly-ignored', true], ['server-test-cannot-tell', false]]);
    assert.match(r.findings[0]!.sentence, /^IPv6: the server at fd00:99::1 port 80 honoured Packet Too Big on 1 of 4 connections and ignored it on 2, re-sending 1500-byte packets \(1 cannot tell: 1 nothing re-sent after our Packet Too Big\)\./);
    const text = serverTestText(r);
    assert.match(text, / 2 {3}40002 {2}1328 {2}1500 {5}13 {3}ignored {6}re-sent dropped data at full size 3 times \(largest 1500 bytes\) after 13 Packet Too Big, never smaller\n/);
    assert.match(text, /IPv6: 1 of 4 connections honoured Packet Too Big \(reaction median 1\.5 ms, slowest 1\.5 ms\), 2 ignored it, 1 cannot tell/);
    assert.match(text, /IPv4: not tested: x has no IPv4 address/);
    const json = serverTestJson(r);
    assert.equal(json.families[0]!.family, 'ipv6');
    assert.equal(JSON.parse(JSON.stringify(json)).families[0].connections[3].reason, 'no-resend');
  });

  it('all ignored: a black hole; none conclusive: cannot tell, not a problem', () => {
    assert.equal(familyResult(4, '10.0.0.1', [conn(1, IGNORED, ignoredEvidence)]).summary, 'ignores');
    const none = familyResult(4, '10.0.0.1', [conn(1, { verdict: 'cannot-tell', reason: 'no-full-size' }, { largestPacket: 1280, packetTooBigSent: 0 })]);
    assert.equal(none.summary, 'cannot-tell');
    const r = serverTestReport({ url: 'http://10.0.0.1/', host: '10.0.0.1', port: 80, ptbMtu: 1280, windowMs: 5000, families: [none], untested: [] });
    assert.deepEqual(r.findings.map((x) => [x.code, x.problem, x.confidence]), [['server-test-cannot-tell', false, 'low']]);
    assert.match(serverTestText(r), /cannot tell: the server sent no packet bigger than 1336 bytes \(largest 1280, MSS 1460, 11 data packets, HTTP 200, 0 bytes\)/);
  });
});

describe('findServerTestRules', () => {
  const owner = '"mtuscope pid=4242 start=777"';
  it('finds our chain, the jump to it and its owner, and removes the jump before the chain', () => {
    const listing = [
      '-P INPUT ACCEPT',
      '-N MTUSCOPE-IN-8080',
      '-N MTUSCOPE-SRVTEST',
      `-A INPUT -m comment --comment ${owner} -j MTUSCOPE-SRVTEST`,
      '-A INPUT -j MTUSCOPE-IN-8080',
      `-A MTUSCOPE-SRVTEST -s 10.99.0.1/32 -p tcp -m tcp --sport 8080 -m conntrack --ctstate ESTABLISHED -m comment --comment ${owner} -j NFQUEUE --queue-num 7362 --queue-bypass`,
    ].join('\n');
    const found = findServerTestRules(listing);
    assert.deepEqual(found?.owners, [{ pid: 4242, start: 777 }]);
    assert.deepEqual(found?.removal, ['-D INPUT -m comment --comment "mtuscope pid=4242 start=777" -j MTUSCOPE-SRVTEST', '-F MTUSCOPE-SRVTEST', '-X MTUSCOPE-SRVTEST']);
  });
  it('finds nothing in a table without them (the engine\'s chains are not ours)', () => {
    assert.equal(findServerTestRules('-P INPUT ACCEPT\n-N MTUSCOPE-IN-8080\n-A INPUT -j MTUSCOPE-IN-8080\n'), undefined);
  });
});
