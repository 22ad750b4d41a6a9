import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isResultId, newResultId } from '../../src/checker/result-id.js';
import { renderResultPage, renderResultSection, resultApiPath, resultPagePath } from '../../src/checker/result-page.js';
import { LATEST_SCHEMA_VERSION, pendingMigrations, RESULTS_MIGRATIONS } from '../../src/checker/results-migrations.js';
import type { StoredRun } from '../../src/checker/results-store.js';
import { unescapeHtml } from '../support/html-text.js';
import { sampleResult, sampleTimeline } from './results-fixtures.js';
import { NO_TIMELINE_TEXT, resultTimelineChart } from '../../src/checker/timeline-chart.js';

function storedRun(changes: Partial<StoredRun> = {}, result = sampleResult()): StoredRun {
  return {
    id: 7,
    publicId: 'AbCdEfGhIjKlMnOpQrStUv',
    node: 'edge-1',
    storedAt: '2024-05-01T10:00:01.000Z',
    test: result.test,
    verdict: result.verdict,
    family: result.evidence.family,
    clientAddress: result.evidence.clientAddress,
    result,
    ...changes,
  };
}

/** The page's text without tags, as a reader sees it (roughly). */
function visibleText(html: string): string {
  return unescapeHtml(html.replace(/<style>[^]*?<\/style>/, '').replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ');
}

describe('result ids', () => {
  it('are 22 base64url characters of random bits, each new', () => {
    const ids = Array.from({ length: 1000 }, newResultId);
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) {
      assert.match(id, /^[A-Za-z0-9_-]{22}$/);
      assert.equal(Buffer.from(id, 'base64url').length, 16);
      assert.ok(isResultId(id));
    }
  });

  it('refuses what cannot be an id before any lookup, and accepts the hex ids of runs stored before pages existed', () => {
    for (const bad of ['', 'abc', 'A'.repeat(21), 'A'.repeat(23), '../../etc/passwd00000', 'AbCdEfGhIjKlMnOpQrSt+/', 'ABCDEF0123456789abcdef0123456789']) {
      assert.equal(isResultId(bad), false, bad);
    }
    assert.ok(isResultId('0123456789abcdef0123456789abcdef'));
  });
});

describe('renderResultPage', () => {
  it('shows the verdict, explanation, advice, evidence, node and times of the run, titled by test, family and verdict', () => {
    const result = sampleResult({ verdict: 'blackhole', explanation: 'Your packets stayed too large.', advice: ['Run `ip route get 10.0.2.2`.'] });
    const html = renderResultPage(storedRun({ verdict: 'blackhole' }, result));
    assert.match(html, /^<!DOCTYPE html>\n<html lang="en">/);
    assert.match(html, /<title>mtuscope result: \/icmp over IPv4: blackhole<\/title>/);
    assert.match(html, /<section class="result" data-test="icmp" data-verdict="blackhole">/);
    assert.match(html, /<li>Run <code>ip route get 10\.0\.2\.2<\/code>\.<\/li>/);
    const text = visibleText(html);
    assert.match(text, /Verdict: blackhole \. Your packets stayed too large\./);
    assert.match(text, /client 10\.1\.2\.3 port 54321/);
    assert.match(text, /test MTU 905 bytes/);
    assert.match(text, /checker node edge-1/);
    assert.match(text, /stored 2024-05-01T10:00:01\.000Z/);
    assert.deepEqual([...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]), ['/', '/api/results/AbCdEfGhIjKlMnOpQrStUv']);
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\(/i);
  });

  it('draws the packet timeline in the result, the same chart as the web page, and says when the run has none', () => {
    const result = { ...sampleResult(), timeline: sampleTimeline() };
    const html = renderResultSection(storedRun({}, result));
    const chart = resultTimelineChart(result);
    assert.ok(html.includes(`<figure class="timeline">\n${chart}\n<figcaption>`));
    assert.equal(html.match(/<g class="event /g)?.length, 5);
    const without = visibleText(renderResultPage(storedRun()));
    assert.ok(without.includes(NO_TIMELINE_TEXT), 'a run stored without a timeline says so');
    assert.ok(!visibleText(html).includes(NO_TIMELINE_TEXT));
  });

  it('says when the node was not recorded', () => {
    assert.match(visibleText(renderResultPage(storedRun({ node: null }))), /checker node not recorded/);
  });

  it('escapes whatever the stored run holds', () => {
    const hostile = '<script>alert("x")</script>';
    const html = renderResultPage(
      storedRun(
        { node: hostile, publicId: '"><img src=x>' },
        sampleResult({ explanation: hostile, advice: [`\`${hostile}\``], evidence: { clientAddress: hostile } }),
      ),
    );
    assert.ok(!html.includes(hostile));
    assert.ok(!html.includes('<img'));
    assert.equal(visibleText(html).split(hostile).length - 1, 4, 'explanation, advice, client and node show as text');
  });

  it('its paths encode the id', () => {
    assert.equal(resultPagePath('AbC-_9'), '/r/AbC-_9');
    assert.equal(resultApiPath('a/b'), '/api/results/a%2Fb');
  });
});

describe('results migrations', () => {
  it('are numbered 1, 2, ... without gaps, and a database gets those it lacks, in order', () => {
    assert.deepEqual(RESULTS_MIGRATIONS.map((m) => m.version), Array.from({ length: LATEST_SCHEMA_VERSION }, (_, i) => i + 1));
    assert.deepEqual(pendingMigrations(0).map((m) => m.version), RESULTS_MIGRATIONS.map((m) => m.version));
    assert.deepEqual(pendingMigrations(1).map((m) => m.version), [2, 3]);
    assert.deepEqual(pendingMigrations(LATEST_SCHEMA_VERSION), []);
    assert.throws(() => pendingMigrations(LATEST_SCHEMA_VERSION + 1), /schema version 4 was written by a newer mtuscope \(this one knows up to 3\)/);
  });
});
