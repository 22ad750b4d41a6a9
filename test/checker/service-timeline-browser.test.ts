/**
 * The packet timeline chart in headless Chromium: the checker page draws one for every test it runs, from the JSON
 * answer, and the result's own page /r/ID draws the same one from the store. Screenshots of both are kept in
 * test/out/ (ignored by git) for people to look at.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { StoredRun } from '../../src/checker/results-store.js';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { openBrowserInNamespace, waitForVerdicts, type BrowserSession, type VerdictQuery } from '../support/browser.js';
import { type CheckerLab, startCheckerLab } from '../support/checker-lab.js';
import { needsRoot } from '../support/root.js';

/** test/out/ of the repository (this file runs as dist/test/checker/*.js). */
const OUT_DIR = fileURLToPath(new URL('../../../test/out/', import.meta.url));

interface ShownMark {
  readonly action: string;
  readonly atMs: number;
  readonly ipLength: number;
  readonly transform: string;
  /** Where the browser drew the mark's centre, in page pixels. */
  readonly centreY: number;
  readonly centreX: number;
}

interface ShownChart {
  readonly marks: ShownMark[];
  /** The test MTU line's height in page pixels, and the MTU it stands for. */
  readonly mtuLineY: number | null;
  readonly mtu: number | null;
  readonly reactionAtMs: number | null;
  readonly empty: boolean;
}

/** The chart inside `selector` as the browser laid it out. */
async function readChart(page: Page, selector: string): Promise<ShownChart> {
  return page.locator(`${selector} svg.timeline-chart`).evaluate((svg) => {
    const centre = (el: { getBoundingClientRect(): { left: number; top: number; width: number; height: number } }): { x: number; y: number } => {
      const box = el.getBoundingClientRect();
      return { x: box.left + box.width / 2, y: box.top + box.height / 2 };
    };
    // The mark without its retransmission ring, which is larger and centred alike.
    const marks = [...svg.querySelectorAll('g.event')].map((g) => {
      const c = centre(g.lastElementChild?.previousElementSibling ?? g);
      return {
        action: g.getAttribute('data-action') ?? '',
        atMs: Number(g.getAttribute('data-at-ms')),
        ipLength: Number(g.getAttribute('data-ip-length')),
        transform: g.getAttribute('transform') ?? '',
        centreX: c.x,
        centreY: c.y,
      };
    });
    const line = svg.querySelector('line.test-mtu');
    const reaction = svg.querySelector('line.reaction');
    return {
      marks,
      mtuLineY: line === null ? null : centre(line).y,
      mtu: line === null ? null : Number(line.getAttribute('data-mtu')),
      reactionAtMs: reaction === null ? null : Number(reaction.getAttribute('data-at-ms')),
      empty: svg.classList.contains('timeline-empty'),
    };
  });
}

describe('the packet timeline chart in headless Chromium', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;
  let browser: BrowserSession | undefined;

  before(async () => {
    c = await startCheckerLab({ name: 'chk-chart', clients: [{ name: 'client' }] });
    serve = await c.serve();
    mkdirSync(OUT_DIR, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  it('the page draws a chart for each test, with the stored events at their points, and /r/ID draws the same', async () => {
    browser = await openBrowserInNamespace(c.lab.namespace('client'));
    const { page } = browser;
    await page.setViewportSize({ width: 1000, height: 800 });
    await page.goto(c.url(4, '/'));
    const queries: VerdictQuery[] = [
      { family: 'ipv4', test: 'icmp' },
      { family: 'ipv4', test: 'frag' },
      { family: 'ipv6', test: 'icmp' },
      { family: 'ipv6', test: 'frag' },
    ];
    const shown = await waitForVerdicts(page, queries, 60_000);
    await page.screenshot({ path: `${OUT_DIR}timeline-checker-page.png`, fullPage: true });
    const pages: { query: VerdictQuery; href: string; chart: ShownChart }[] = [];
    for (const query of queries) {
      const key = `${query.family}/${query.test}`;
      const v = shown[key]!;
      assert.equal(v.state, 'done', `${key}: ${v.text}`);
      const selector = `.result[data-family="${query.family}"][data-test="${query.test}"]`;
      const chart = await readChart(page, selector);
      const href = (await page.locator(`${selector} .result-link a`).getAttribute('href')) ?? '';
      const stored = JSON.parse((await c.curl('client', ['-g', href.replace('/r/', '/api/results/')])).stdout) as StoredRun;
      const timeline = stored.result.timeline;
      assert.ok(timeline, `${key}: stored with its timeline`);
      assert.equal(chart.empty, false, key);
      // One mark per event, in order, for what the server did.
      assert.deepEqual(
        chart.marks.map((m) => [m.action, m.atMs, m.ipLength]),
        timeline.events.map((e) => [e.action, e.atMs, e.ipLength]),
        key,
      );
      assert.equal(chart.mtu, stored.result.evidence.testMtu, key);
      assert.equal(chart.reactionAtMs, timeline.reactionAtMs, key);
      // As the browser laid them out: packets above the test MTU above its line, the others on or below it; later to the right.
      assert.ok(chart.mtuLineY !== null);
      for (const m of chart.marks) {
        if (m.ipLength > chart.mtu) assert.ok(m.centreY < chart.mtuLineY - 1, `${key}: ${m.ipLength} bytes drawn above the line: ${JSON.stringify(m)}`);
        else assert.ok(m.centreY > chart.mtuLineY - 1, `${key}: ${m.ipLength} bytes drawn on or below the line: ${JSON.stringify(m)}`);
      }
      for (let i = 1; i < chart.marks.length; i++) assert.ok(chart.marks[i]!.centreX >= chart.marks[i - 1]!.centreX - 0.01, `${key}: mark ${i} left of mark ${i - 1}`);
      if (query.test === 'icmp') assert.ok(chart.marks.some((m) => m.action === 'dropped-ptb-sent'), key);
      else assert.ok(chart.marks.some((m) => m.action === 'fragmented') && chart.marks.some((m) => m.action === 'ack'), key);
      pages.push({ query, href, chart });
    }
    assert.deepEqual(browser.pageErrors, []);

    for (const { query, href, chart } of pages) {
      await page.goto(href);
      const onItsPage = await readChart(page, 'section.result');
      assert.deepEqual(
        onItsPage.marks.map((m) => [m.action, m.atMs, m.ipLength, m.transform]),
        chart.marks.map((m) => [m.action, m.atMs, m.ipLength, m.transform]),
        `${query.family}/${query.test}: /r/ID draws the same points`,
      );
      assert.deepEqual([onItsPage.mtu, onItsPage.reactionAtMs], [chart.mtu, chart.reactionAtMs]);
      if (query.family === 'ipv4' && query.test === 'icmp') await page.screenshot({ path: `${OUT_DIR}timeline-result-page.png`, fullPage: true });
    }
    assert.deepEqual(browser.pageErrors, []);
  });
});
