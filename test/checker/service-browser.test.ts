import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { openBrowserInNamespace, waitForVerdicts, type BrowserSession } from '../support/browser.js';
import { type CheckerLab, startCheckerLab } from '../support/checker-lab.js';
import { needsRoot } from '../support/root.js';

describe('checker web page in headless Chromium inside the client namespace', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;
  let browser: BrowserSession | undefined;

  before(async () => {
    c = await startCheckerLab({ name: 'chk-page', clients: [{ name: 'client' }] });
    serve = await c.serve();
  });
  after(async () => {
    await browser?.close();
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  it('runs the three tests over IPv4 and IPv6 from the browser and shows a verdict for each', async () => {
    browser = await openBrowserInNamespace(c.lab.namespace('client'));
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
    for (const [key, v] of Object.entries(shown)) {
      assert.equal(v.state, 'done', `${key}: ${v.text}`);
      // Nothing on this path is smaller than 1500 bytes: the download test has nothing to discover.
      assert.equal(v.verdict, key.endsWith('/download') ? 'clear' : 'pass', `${key}: ${v.text}`);
    }
    assert.match(shown['ipv4/icmp']!.text, /905/);
    assert.match(shown['ipv6/icmp']!.text, /1280/);
    const page = await browser.page.content();
    assert.match(page, /icmp\[0\] == 3 and icmp\[1\] == 4/);
    assert.match(page, /ip6\[6\] == 44/);
    assert.deepEqual(browser.pageErrors, []);
    // The browser's uploads lowered the client's path MTU like curl's do.
    assert.match((await c.lab.mustExec('client', ['ip', 'route', 'get', c.server4])).stdout, /mtu 905/);
    const stored = JSON.parse((await c.curl('client', [c.url(4, '/api/results')])).stdout) as { results: unknown[] };
    assert.equal(stored.results.length, 6);
  });
});
