import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explain } from '../../src/checker/explain.js';
import { renderTextReport } from '../../src/checker/report-text.js';
import { timelineTextLines } from '../../src/checker/timeline-text.js';
import type { IpFamilyName } from '../../src/packet/ip-family.js';
import { type CheckerTest, FRAG_VERDICTS, ICMP_VERDICTS, type TestEvidence, type TestResult, type Verdict } from '../../src/checker/test-result.js';

import { sampleTimeline } from './results-fixtures.js';

const SERVER = { ipv4: '192.0.2.10', ipv6: '2001:db8::10' } as const;

function evidence(test: CheckerTest, family: IpFamilyName, verdict: Verdict): TestEvidence {
  const testMtu = test === 'icmp' ? (family === 'ipv4' ? 905 : 1280) : family === 'ipv4' ? 576 : 1280;
  return {
    family,
    clientAddress: family === 'ipv4' ? '198.51.100.7' : '2001:db8:1::7',
    clientPort: 51_234,
    serverAddress: SERVER[family],
    serverPort: 8080,
    clientMss: verdict === 'inconclusive' ? 1344 : 1460,
    largestClientPacket: verdict === 'inconclusive' ? 804 : 1500,
    largestPacketAfterReaction: verdict === 'pass' || verdict === 'pass-probing' ? 905 : null,
    testMtu,
    oversizedPackets: verdict === 'blackhole' ? 17 : verdict === 'pass' || verdict === 'pass-probing' ? 3 : 0,
    oversizedWithoutDf: verdict === 'no-df' ? 6 : 0,
    packetTooBigSent: verdict === 'blackhole' ? 13 : verdict === 'pass' || verdict === 'pass-probing' ? 3 : 0,
    packetTooBigSuppressed: verdict === 'blackhole' ? 4 : 0,
    segmentsFragmented: test === 'frag' && verdict !== 'inconclusive' ? 6 : 0,
    fragmentsSent: test === 'frag' && verdict !== 'inconclusive' ? 18 : 0,
    fragmentsSuppressed: test === 'frag' && verdict === 'inconclusive' ? 9 : 0,
    retransmissions: verdict === 'blocked' ? 3 : 1,
    reactionMs: verdict === 'pass' ? 42 : verdict === 'pass-probing' ? 6100 : null,
    durationMs: 1234,
  };
}

function result(test: CheckerTest, family: IpFamilyName, verdict: Verdict): TestResult {
  const e = evidence(test, family, verdict);
  const { explanation, advice } = explain(test, verdict, e, 10_000);
  return { test, verdict, explanation, advice, startedAt: '2024-05-01T12:00:00.000Z', evidence: e };
}

const ALL: [CheckerTest, Verdict][] = [...ICMP_VERDICTS.map((v): [CheckerTest, Verdict] => ['icmp', v]), ...FRAG_VERDICTS.map((v): [CheckerTest, Verdict] => ['frag', v])];

describe('renderTextReport', () => {
  for (const family of ['ipv4', 'ipv6'] as const) {
    for (const [test, verdict] of ALL) {
      it(`/${test} ${verdict} over ${family}: the figures, the verdict sentence, and RESULT as the last line`, () => {
        const r = result(test, family, verdict);
        const text = renderTextReport(r);
        assert.ok(text.endsWith(`\nRESULT: ${verdict}\n`), text.slice(-60));
        assert.equal(text.match(/^RESULT: /gm)?.length, 1, 'one RESULT line');
        assert.ok(text.startsWith(`mtuscope ${test === 'icmp' ? 'ICMP Packet Too Big test' : 'IP fragmentation test'} (${family === 'ipv4' ? 'IPv4' : 'IPv6'}), started 2024-05-01T12:00:00.000Z\n`));
        assert.ok(text.includes(`Verdict: ${verdict}. ${r.explanation}\n`));
        assert.ok(text.includes(`${r.evidence.testMtu} bytes`), 'the test MTU');
        assert.ok(text.includes(`${r.evidence.clientAddress} port 51234`));
        for (const a of r.advice) assert.ok(text.includes(`  - ${a}\n`));
        assert.ok(r.advice.length > 0);
        if (family === 'ipv6') {
          assert.doesNotMatch(text, /\bip route\b/, 'IPv6 advice uses ip -6');
          assert.doesNotMatch(text, /iptables -A/);
        }
        // The figures the explanation quotes are this run's.
        if (verdict === 'blackhole') assert.ok(r.explanation.includes('13 '), 'Packet Too Big messages actually sent, not the 17 oversized');
        if (verdict === 'pass' && test === 'icmp') assert.ok(r.explanation.includes('42 ms'));
      });
    }
  }

  for (const family of ['ipv4', 'ipv6'] as const) {
    it(`/icmp pass over ${family}: advice to look at and flush the cached path MTU`, () => {
      const text = renderTextReport(result('icmp', family, 'pass'));
      const ip = family === 'ipv4' ? 'ip' : 'ip -6';
      assert.ok(text.includes(`\`${ip} route get ${SERVER[family]}\` now shows "mtu ${family === 'ipv4' ? 905 : 1280}"`));
      assert.ok(text.includes(`\`${ip} route flush cache to ${SERVER[family]}\``));
    });
  }

  it('every command in the advice is a code span (between backticks), so that the web page shows it as code', () => {
    const commandOutsideCode = /\b(tcpdump -|ip6?tables -|sysctl (-w |net\.)|ip (-6 )?route )/;
    let spans = 0;
    for (const family of ['ipv4', 'ipv6'] as const) {
      for (const [test, verdict] of ALL) {
        for (const advice of result(test, family, verdict).advice) {
          const parts = advice.split('`');
          assert.equal(parts.length % 2, 1, `unpaired backtick in: ${advice}`);
          const prose = parts.filter((_, i) => i % 2 === 0).join(' ');
          assert.doesNotMatch(prose, commandOutsideCode, advice);
          spans += (parts.length - 1) / 2;
        }
      }
    }
    assert.ok(spans >= 20, `${spans} code spans`);
    // The check can fail: a command written as prose is found.
    assert.match('Watch them arrive with: tcpdump -ni any ip', commandOutsideCode);
  });

  it('the table aligns its values and shows absent figures as words', () => {
    const r = result('icmp', 'ipv4', 'inconclusive');
    const text = renderTextReport({ ...r, evidence: { ...r.evidence, clientMss: null } });
    const rows = text.split('\n').filter((l) => l.startsWith('  ') && !l.startsWith('  - '));
    assert.ok(rows.length >= 12);
    const valueColumns = new Set(rows.map((row) => row.length - (/^ {2}.+? {2,}(\S.*)$/.exec(row)?.[1] ?? '').length));
    assert.equal(valueColumns.size, 1, 'every value starts in the same column');
    assert.match(text, /MSS announced by the client +none\n/);
    assert.match(text, /time from first intervention to reaction +no reaction\n/);
    assert.match(text, /largest packet after the reaction +-\n/);
  });

  it('/frag inconclusive says why nothing was tested, from the figures: fragments held back, or none sent at all', () => {
    const held = result('frag', 'ipv4', 'inconclusive');
    const text = renderTextReport(held);
    assert.match(text, /fragments sent +0\n/);
    assert.match(text, /fragments not sent \(rate limit\) +9\n/);
    assert.match(held.explanation, /rate limit held back all 9 fragments/);
    assert.doesNotMatch(held.explanation, /drops IP fragments/, 'says nothing of the path');
    const e = { ...held.evidence, fragmentsSuppressed: 0 };
    const none = explain('frag', 'inconclusive', e, 10_000);
    assert.match(none.explanation, /none of this response as IP fragments/);
    assert.ok(none.advice.some((a) => a.includes('`curl http://192.0.2.10:8080/frag`')), none.advice.join('\n'));
    const six = explain('frag', 'inconclusive', { ...e, family: 'ipv6', serverAddress: SERVER.ipv6 }, 10_000);
    assert.ok(six.advice.some((a) => a.includes('`curl http://[2001:db8::10]:8080/frag`')), six.advice.join('\n'));
  });

  it('the /frag report says "largest fragment" and shows fragment figures, not ICMP ones', () => {
    const text = renderTextReport(result('frag', 'ipv4', 'blocked'));
    assert.match(text, /largest fragment +576 bytes\n/);
    assert.match(text, /fragments sent +18\n/);
    assert.match(text, /retransmissions by the server +3\n/);
    assert.doesNotMatch(text, /Packet Too Big messages sent/);
  });

  it('gives the address of the result page, when there is one, just before the RESULT line', () => {
    const r = result('icmp', 'ipv4', 'pass');
    const url = 'http://192.0.2.10:8080/r/AbCdEfGhIjKlMnOpQrStUv';
    const text = renderTextReport(r, url);
    assert.ok(text.endsWith(`\n\nThis result's page, to send to your ISP or support team: ${url}\n\nRESULT: pass\n`), text);
    assert.equal(text.match(/^RESULT: /gm)?.length, 1);
    assert.doesNotMatch(renderTextReport(r), /result's page/, 'a result that was not stored has no page');
  });

  it('verbose: lists the packets after what was seen and before the verdict; not verbose: leaves them out', () => {
    const r = { ...result('icmp', 'ipv4', 'pass'), timeline: sampleTimeline() };
    const text = renderTextReport(r, undefined, true);
    const lines = timelineTextLines(r.timeline);
    assert.ok(text.includes(`  test duration                             1234 ms\n\n${lines.join('\n')}\n\nVerdict: pass.`), text);
    assert.ok(!renderTextReport(r).includes(lines[0]!));
    assert.ok(renderTextReport(result('icmp', 'ipv4', 'pass'), undefined, true).includes('\nThis result was stored without its packet timeline.\n\nVerdict'));
  });
});
