import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseResultsQuery, renderResultsJson, renderSummaryPage } from '../../src/checker/results-api.js';
import type { ResultsStore, ResultsSummary, StoredRun } from '../../src/checker/results-store.js';
import { freshStore, type StoreBackend, storeBackends } from './results-backends.js';
import { sampleResult, steppingClock } from './results-fixtures.js';
import { unescapeHtml } from '../support/html-text.js';

function parse(query: string): ReturnType<typeof parseResultsQuery> {
  return parseResultsQuery(new URLSearchParams(query));
}

function errorOf(query: string): string {
  const parsed = parse(query);
  assert.equal(parsed.ok, false, `${query} should be refused`);
  return parsed.ok ? '' : parsed.error;
}

/** The cells' texts of each body row of the table with this caption (or the first table without caption). */
function tableRows(html: string, caption?: string): string[][] {
  const tables = [...html.matchAll(/<table>([\s\S]*?)<\/table>/g)].map((m) => m[1]!);
  const table = tables.find((t) => (caption === undefined ? !t.includes('<caption>') : t.includes(`<caption>${caption}</caption>`)));
  assert.ok(table, `no table ${caption ?? 'without caption'}`);
  const rows = [...table.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => m[1]!);
  return rows.map((row) => [...row.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((c) => unescapeHtml(c[1]!.replace(/<[^>]+>/g, ''))));
}

async function storeWith(backend: StoreBackend, ...changes: Parameters<typeof sampleResult>[0][]): Promise<ResultsStore> {
  const store = await freshStore(backend, { now: steppingClock('2024-05-01T10:00:00.000Z'), nodeName: 'node-a' });
  for (const c of changes) await store.record(sampleResult(c));
  return store;
}

describe('parseResultsQuery', () => {
  it('accepts no parameters, and every parameter at its bounds', () => {
    assert.deepEqual(parse(''), { ok: true, query: {} });
    assert.deepEqual(parse('limit=1&before=1&test=icmp&verdict=no-df&family=ipv6'), {
      ok: true,
      query: { limit: 1, beforeId: 1, test: 'icmp', verdict: 'no-df', family: 'ipv6' },
    });
    assert.deepEqual(parse('limit=1000&before=9007199254740991&test=frag&verdict=blocked&family=ipv4'), {
      ok: true,
      query: { limit: 1000, beforeId: 9007199254740991, test: 'frag', verdict: 'blocked', family: 'ipv4' },
    });
    assert.deepEqual(parse('verdict=pass-probing'), { ok: true, query: { verdict: 'pass-probing' } });
    assert.deepEqual(parse('test=frag&verdict=inconclusive'), { ok: true, query: { test: 'frag', verdict: 'inconclusive' } }, '/frag has an inconclusive verdict too');
  });

  it('ignores parameters that are not its own', () => {
    assert.deepEqual(parse('format=json&limit=5&callback=x'), { ok: true, query: { limit: 5 } });
  });

  it('refuses a bad limit, naming the parameter and the value', () => {
    for (const bad of ['0', '1001', '-1', '2.5', '1e3', 'ten', '', ' 5', '+5', '99999999999999999999']) {
      assert.equal(errorOf(`limit=${encodeURIComponent(bad)}`), `limit: ${JSON.stringify(bad)} is not an integer from 1 to 1000`);
    }
  });

  it('refuses a bad before', () => {
    for (const bad of ['0', '-4', 'last', '3.0', '9007199254740992', '']) {
      assert.equal(errorOf(`before=${encodeURIComponent(bad)}`), `before: ${JSON.stringify(bad)} is not a positive integer (a result id)`);
    }
  });

  it('refuses unknown tests, verdicts and families, listing the allowed ones', () => {
    assert.equal(errorOf('test=tcp'), 'test: "tcp" is not one of icmp, frag, download');
    assert.equal(errorOf('test=ICMP'), 'test: "ICMP" is not one of icmp, frag, download');
    assert.equal(errorOf('verdict=ok'), 'verdict: "ok" is not one of pass, pass-probing, blackhole, no-df, inconclusive, blocked, clear');
    assert.equal(errorOf('family=inet6'), 'family: "inet6" is not one of ipv4, ipv6');
  });

  it('refuses a verdict the chosen test never gives', () => {
    assert.equal(errorOf('test=frag&verdict=blackhole'), 'verdict: "blackhole" is not a verdict of test frag (pass, blocked, inconclusive)');
    assert.equal(errorOf('verdict=blocked&test=icmp'), 'verdict: "blocked" is not a verdict of test icmp (pass, pass-probing, blackhole, no-df, inconclusive)');
  });

  it('refuses a parameter given twice', () => {
    assert.equal(errorOf('limit=5&limit=6'), 'limit: given 2 times, at most once allowed');
  });

  it('shortens a long bad value in its message and keeps it quoted', () => {
    const error = errorOf(`family=${'x'.repeat(5000)}`);
    assert.ok(error.length < 200, error);
    assert.ok(error.startsWith(`family: "${'x'.repeat(64)}"…`), error);
    assert.equal(errorOf('test=%22%0A'), 'test: "\\"\\n" is not one of icmp, frag, download');
  });
});

for (const backend of storeBackends()) {
describe(`renderResultsJson over ${backend.name}`, { skip: backend.skip }, () => {
  backend.setUp();
  it('gives the runs and the id to page on from', async () => {
    const store = await storeWith(backend, {}, { verdict: 'blackhole' }, { test: 'frag', verdict: 'blocked' });
    try {
      const page = await store.list({ limit: 2 });
      const text = renderResultsJson(page, 2);
      const body = JSON.parse(text) as { results: StoredRun[]; next: number | null };
      const listed = page.map(({ publicId: _publicId, ...rest }) => rest);
      assert.deepEqual(body, JSON.parse(JSON.stringify({ results: listed, next: 2 })));
      for (const run of page) assert.ok(!text.includes(run.publicId), 'the page ids stay out of the list');
      assert.equal(body.results[0]?.node, 'node-a');
      assert.deepEqual(body.results.map((r) => [r.id, r.test, r.verdict]), [[3, 'frag', 'blocked'], [2, 'icmp', 'blackhole']]);
      const rest = await store.list({ limit: 2, beforeId: body.next! });
      assert.deepEqual(JSON.parse(renderResultsJson(rest, 2)), JSON.parse(JSON.stringify({ results: rest.map(({ publicId: _publicId, ...listed }) => listed), next: null })));
    } finally {
      await store.close();
    }
  });

  it('says there is no next page when the page is empty, short, or ends at the first run', async () => {
    const store = await storeWith(backend, {}, {}, {}, {}, {});
    try {
      assert.equal(JSON.parse(renderResultsJson([])).next, null);
      assert.equal(JSON.parse(renderResultsJson(await store.list({ limit: 3, beforeId: 3 }), 3)).next, null, 'short page');
      assert.equal(JSON.parse(renderResultsJson(await store.list({ limit: 3, beforeId: 3 }))).next, null, 'ends at id 1');
      assert.equal(JSON.parse(renderResultsJson(await store.list({ limit: 3 }))).next, 3);
      assert.equal(JSON.parse(renderResultsJson(await store.list({ limit: 3, test: 'icmp' }), 3)).next, 3);
    } finally {
      await store.close();
    }
  });
});

describe(`renderSummaryPage over ${backend.name}`, { skip: backend.skip }, () => {
  backend.setUp();
  const hostileAddress = '<script>alert("address")</script>';
  const hostileExplanation = `" onmouseover="alert(1)" x='<img src=x onerror=alert(2)>' & more`;

  async function samplePage(): Promise<{ html: string; summary: ResultsSummary; recent: StoredRun[] }> {
    const store = await storeWith(backend, 
      {},
      { verdict: 'blackhole', evidence: { reactionMs: null, packetTooBigSent: 3, packetTooBigSuppressed: 2 } },
      { test: 'frag', verdict: 'pass', evidence: { family: 'ipv6', clientAddress: 'fd00:1:2:3::4', fragmentsSent: 6, reactionMs: 250.4 } },
      { test: 'frag', verdict: 'blocked', explanation: hostileExplanation, evidence: { clientAddress: hostileAddress, fragmentsSent: 12 } },
      { verdict: 'blackhole', evidence: { family: 'ipv6', clientAddress: 'fd00:5::6', testMtu: 1280, largestClientPacket: 1500 } },
    );
    try {
      const summary = await store.summary();
      const recent = await store.list({ limit: 4 });
      return { html: renderSummaryPage(summary, recent), summary, recent };
    } finally {
      await store.close();
    }
  }

  it('is a complete page titled "mtuscope results" that links to the checker and the API', async () => {
    const { html } = await samplePage();
    assert.match(html, /^<!DOCTYPE html>\n<html lang="en">/);
    assert.match(html, /<\/html>\n$/);
    assert.match(html, /<meta charset="utf-8">/);
    assert.match(html, /<title>mtuscope results<\/title>/);
    assert.match(html, /<a href="\/">/);
    assert.match(html, /<a href="\/api\/results">/);
  });

  it('needs nothing from elsewhere and runs no script', async () => {
    const { html } = await samplePage();
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\(/i);
    // The page's own tags (escaped text holds no `<`, escaped values no `"`), with their attribute values blanked.
    const tags = (html.match(/<[a-z][^>]*>/gi) ?? []).map((tag) => tag.replace(/"[^"]*"/g, '""'));
    assert.ok(tags.length > 50);
    for (const tag of tags) assert.doesNotMatch(tag, /\s(src|srcset|action|on[a-z]+)=/i, tag);
    assert.doesNotMatch(html, /(https?:)?\/\/[a-z0-9]/i);
    assert.deepEqual([...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]), ['/', '/api/results']);
  });

  it('counts verdicts per test and family, with every verdict of the test as a column and totals', async () => {
    const { html } = await samplePage();
    assert.deepEqual(tableRows(html, '/icmp'), [
      ['family', 'pass', 'pass-probing', 'blackhole', 'no-df', 'inconclusive', 'total'],
      ['ipv4', '1', '0', '1', '0', '0', '2'],
      ['ipv6', '0', '0', '1', '0', '0', '1'],
      ['all', '1', '0', '2', '0', '0', '3'],
    ]);
    assert.deepEqual(tableRows(html, '/frag'), [
      ['family', 'pass', 'blocked', 'inconclusive', 'total'],
      ['ipv4', '0', '1', '0', '1'],
      ['ipv6', '1', '0', '0', '1'],
      ['all', '1', '1', '0', '2'],
    ]);
    assert.match(html, /<p>5 runs from <time datetime="2024-05-01T10:00:00.000Z">2024-05-01 10:00:00Z<\/time> to <time datetime="2024-05-01T10:00:04.000Z">2024-05-01 10:00:04Z<\/time>.<\/p>/);
    assert.match(html, /<p class="nodes">Run by 1 checker node: node-a \(5\)\.<\/p>/);
  });

  it('lists the recent runs with their evidence, newest first', async () => {
    const { html } = await samplePage();
    assert.deepEqual(tableRows(html), [
      ['time', 'node', 'test', 'family', 'client', 'verdict', 'largest packet', 'MTU', 'PTB / fragments sent', 'reaction'],
      ['2024-05-01 10:00:04Z', 'node-a', 'icmp', 'ipv6', 'fd00:5::6', 'blackhole', '1500', '1280', '2 PTB', '1.3 ms'],
      ['2024-05-01 10:00:03Z', 'node-a', 'frag', 'ipv4', hostileAddress, 'blocked', '1500', '905', '12 fragments', '1.3 ms'],
      ['2024-05-01 10:00:02Z', 'node-a', 'frag', 'ipv6', 'fd00:1:2:3::4', 'pass', '1500', '905', '6 fragments', '250 ms'],
      ['2024-05-01 10:00:01Z', 'node-a', 'icmp', 'ipv4', '10.1.2.3', 'blackhole', '1500', '905', '3 PTB (+2 rate-limited)', '—'],
    ]);
  });

  it('a /frag run whose fragments the rate limit held back says so; a run stored before that figure existed shows none', async () => {
    const store = await storeWith(backend, { test: 'frag', verdict: 'inconclusive', evidence: { fragmentsSent: 0, fragmentsSuppressed: 9 } });
    try {
      const [run] = await store.list();
      assert.ok(run);
      const older: Record<string, unknown> = { ...run.result.evidence };
      delete older['fragmentsSuppressed'];
      const olderRun = { ...run, result: { ...run.result, evidence: older as unknown as typeof run.result.evidence } };
      const rows = tableRows(renderSummaryPage(await store.summary(), [run, olderRun]));
      assert.deepEqual(
        rows.slice(1).map((r) => [r[5], r[8]]),
        [
          ['inconclusive', '0 fragments (+9 rate-limited)'],
          ['inconclusive', '0 fragments'],
        ],
      );
      assert.deepEqual(tableRows(renderSummaryPage(await store.summary(), []), '/frag').at(-1), ['all', '0', '0', '1', '1']);
    } finally {
      await store.close();
    }
  });

  it('escapes a hostile client address and explanation so they show as text', async () => {
    const { html } = await samplePage();
    assert.ok(!html.includes(hostileAddress));
    assert.ok(html.includes('&lt;script&gt;alert(&quot;address&quot;)&lt;/script&gt;'));
    assert.ok(!html.includes('" onmouseover='));
    assert.ok(!html.includes('<img'));
    const titles = [...html.matchAll(/title="([^"]*)"/g)].map((m) => unescapeHtml(m[1]!));
    assert.ok(titles.includes(hostileExplanation), 'the explanation survives as the verdict cell title');
  });

  it('says so when there are no runs yet', () => {
    const html = renderSummaryPage({ total: 0, nodes: [], counts: [], firstStoredAt: null, lastStoredAt: null }, []);
    assert.equal(html.match(/No runs recorded yet\./g)?.length, 2);
    assert.deepEqual(tableRows(html, '/frag').at(-1), ['all', '0', '0', '0', '0']);
  });
});
}
