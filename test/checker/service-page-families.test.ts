import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { openBrowserInNamespace, waitForVerdicts, type BrowserSession } from '../support/browser.js';
import { type CheckerLab, PORT, startCheckerLab } from '../support/checker-lab.js';
import { CLI } from '../support/cli.js';
import { needsRoot } from '../support/root.js';

/**
 * The page loaded over IPv4 from a service listening on every address of both families (the default listen, as
 * `mtuscope serve` without --listen): it must test IPv6 too, at an address of the server's host, or say why not.
 */
describe('checker web page under a wildcard listen: both families, or why not', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;
  let browser: BrowserSession | undefined;

  before(async () => {
    c = await startCheckerLab({ name: 'chk-families', clients: [{ name: 'client' }] });
    serve = c.lab.spawn('server', [process.execPath, CLI, 'serve', '--listen', '0.0.0.0', '--listen', '::', '--port', String(PORT), '--store', join(c.dir, 'results.sqlite')]);
    await serve.waitForOutput(/listening on/, 20_000);
    browser = await openBrowserInNamespace(c.lab.namespace('client'));
  });
  after(async () => {
    await browser?.close();
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  it("loaded over IPv4, runs the IPv6 tests too, against the server host's own IPv6 address", async () => {
    assert.ok(browser);
    await browser.page.goto(c.url(4, '/'));
    const shown = await waitForVerdicts(
      browser.page,
      [
        { family: 'ipv4', test: 'icmp' },
        { family: 'ipv4', test: 'frag' },
        { family: 'ipv4', test: 'download' },
        { family: 'ipv6', test: 'icmp' },
        { family: 'ipv6', test: 'frag' },
        { family: 'ipv6', test: 'download' },
      ],
      60_000,
    );
    // A 1500-byte path toward the client: /download has nothing to discover.
    for (const [key, v] of Object.entries(shown)) assert.equal(v.verdict, key.endsWith('/download') ? 'clear' : 'pass', `${key}: ${v.text}`);
    const baseUrls = await browser.page.locator('.target .base-url').allTextContents();
    assert.deepEqual(baseUrls, [`http://${c.server4}:${PORT}`, `http://[${c.server6}]:${PORT}`]);
    assert.equal(await browser.page.locator('.untested').count(), 0);
    assert.match(shown['ipv6/icmp']!.text, /1280/);
    // The capture filters name the IPv6 address too.
    assert.match(await browser.page.content(), new RegExp(`ip route get ${c.server6.replace(/[.]/g, '\\.')}`));
    assert.deepEqual(browser.pageErrors, []);
    const stored = JSON.parse((await c.curl('client', [c.url(4, '/api/results')])).stdout) as { results: { family: string }[] };
    assert.deepEqual(stored.results.map((r) => r.family).sort(), ['ipv4', 'ipv4', 'ipv4', 'ipv6', 'ipv6', 'ipv6']);
    await c.lab.mustExec('client', ['ip', 'route', 'flush', 'cache', 'to', c.server4]);
    await c.lab.mustExec('client', ['ip', '-6', 'route', 'flush', 'cache']);
  });

  it('with no IPv6 address clients can reach (only link-local and loopback left), says that IPv6 is not tested and how to change that', async () => {
    assert.ok(browser);
    await c.lab.mustExec('server', ['ip', '-6', 'addr', 'flush', 'dev', 'eth1', 'scope', 'global']);
    // The service listens on :: still, and the host has fe80:: and ::1: neither is for a browser elsewhere.
    assert.match((await c.lab.mustExec('server', ['ip', '-6', 'addr', 'show'])).stdout, /inet6 fe80::/);
    await browser.page.goto(c.url(4, '/?manual'));
    assert.deepEqual(await browser.page.locator('.target[data-family]:not(.untested)').evaluateAll((els) => els.map((e) => e.getAttribute('data-family'))), ['ipv4']);
    const untested = browser.page.locator('#untested-ipv6');
    assert.equal(await untested.count(), 1);
    const reason = (await untested.textContent()) ?? '';
    assert.match(reason, /IPv6 is not tested: this host has no IPv6 address that clients can reach/);
    assert.match(reason, /Set --ipv6-url to a URL of this server/);
    assert.equal(await browser.page.locator('[data-family="ipv6"] .result').count(), 0);
    // And the IPv4 tests still run.
    await browser.page.click('#run-tests');
    const shown = await waitForVerdicts(browser.page, [{ family: 'ipv4', test: 'frag' }], 60_000);
    assert.equal(shown['ipv4/frag']?.verdict, 'pass');
    assert.deepEqual(browser.pageErrors, []);
  });
});
