import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { openBrowserInNamespace, waitForVerdicts, type BrowserSession, type VerdictQuery } from '../support/browser.js';
import { type CheckerLab, startCheckerLab } from '../support/checker-lab.js';
import { needsRoot } from '../support/root.js';

describe('a result page per run, opened from the checker page in headless Chromium', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;
  let browser: BrowserSession | undefined;

  before(async () => {
    c = await startCheckerLab({ name: 'chk-rpage', clients: [{ name: 'client' }] });
    serve = await c.serve(['--truncate-addresses']);
  });
  after(async () => {
    await browser?.close();
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  it('each verdict on the page links to its own page, which shows the same verdict, with networks only', async () => {
    browser = await openBrowserInNamespace(c.lab.namespace('client'));
    const { page } = browser;
    await page.goto(c.url(4, '/'));
    const queries: VerdictQuery[] = [
      { family: 'ipv4', test: 'icmp' },
      { family: 'ipv4', test: 'frag' },
      { family: 'ipv6', test: 'icmp' },
      { family: 'ipv6', test: 'frag' },
    ];
    const shown = await waitForVerdicts(page, queries, 60_000);
    const links: { query: VerdictQuery; href: string; verdict: string }[] = [];
    for (const query of queries) {
      const v = shown[`${query.family}/${query.test}`]!;
      assert.equal(v.state, 'done', v.text);
      const link = page.locator(`.result[data-family="${query.family}"][data-test="${query.test}"] .result-link a`);
      assert.equal(await link.count(), 1, `${query.family}/${query.test} has a link: ${v.text}`);
      const href = (await link.getAttribute('href')) ?? '';
      assert.match(href, /^http:\/\/.+\/r\/[A-Za-z0-9_-]{22}$/);
      links.push({ query, href, verdict: v.verdict ?? '' });
    }
    assert.equal(new Set(links.map((l) => l.href)).size, 4, 'every run has a page of its own');

    const target = links.find((l) => l.query.family === 'ipv6' && l.query.test === 'frag')!;
    await page.locator('.result[data-family="ipv6"][data-test="frag"] .result-link a').click();
    await page.waitForURL(target.href);
    assert.equal(await page.title(), `mtuscope result: /frag over IPv6: ${target.verdict}`);
    const section = page.locator('section.result');
    assert.equal(await section.getAttribute('data-verdict'), target.verdict);
    assert.equal(await section.getAttribute('data-test'), 'frag');
    const text = await section.innerText();
    assert.match(text, /mtuscope IP fragmentation test \(IPv6\)/);
    assert.match(text, /\/48 port 0/, 'the client is shown as its network');
    assert.ok(!text.includes(c.lab.address('client', 6)), 'not as its address');
    assert.deepEqual(browser.pageErrors, []);

    const json = JSON.parse((await c.curl('client', [target.href.replace('/r/', '/api/results/')])).stdout) as { verdict: string; clientAddress: string };
    assert.equal(json.verdict, target.verdict);
    assert.match(json.clientAddress, /\/48$/);

    const missing = await page.goto(c.url(4, '/r/AAAAAAAAAAAAAAAAAAAAAA'));
    assert.equal(missing?.status(), 404);
    assert.match(await page.locator('body').innerText(), /no result with id "AAAAAAAAAAAAAAAAAAAAAA"/);
  });
});
