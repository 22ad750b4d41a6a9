import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { PAGE_SCRIPT_PATH } from '../../src/checker/page-asset.js';
import { clientCaptureFilters, type CaptureFilter } from '../../src/checker/tcpdump-filters.js';
import { DOWNLOAD_VERDICTS, FRAG_VERDICTS, ICMP_VERDICTS, type CheckerTest, type TestResult } from '../../src/checker/test-result.js';
import { pageScriptConfig, renderIndexPage, type IndexPageConfig } from '../../src/checker/web-page.js';
import { startLab } from '../../src/lab/lab.js';
import type { LabProcess, RunningLab } from '../../src/lab/running-lab.js';
import type { IpFamilyName } from '../../src/packet/ip-family.js';
import { livePidsWith, openBrowserInNamespace, waitForVerdicts, type BrowserSession, type VerdictQuery } from '../support/browser.js';
import { unescapeHtml } from '../support/html-text.js';
import { needsRoot } from '../support/root.js';

const run = promisify(execFile);

const HOSTILE_LABEL = `</script><script>alert(1)</script>"><img src=x onerror=alert(2)>`;
const HOSTILE_URL = `http://10.0.1.2:8080/"><script>alert(3)</script>`;

function config(over: Partial<IndexPageConfig> = {}): IndexPageConfig {
  return {
    targets: [
      { family: 4, label: 'IPv4', baseUrl: 'http://10.0.1.2:8080' },
      { family: 6, label: 'IPv6', baseUrl: 'http://[fd00:0:0:1::2]:8080' },
    ],
    // Not the defaults (905, 1280), so that a page with hard-coded numbers fails.
    icmpMtu: { 4: 1004, 6: 1302 },
    fragmentSize: { 4: 577, 6: 1281 },
    windowSeconds: 13,
    serverAddresses: { 4: ['10.0.1.2'], 6: ['fd00:0:0:1::2'] },
    ...over,
  };
}

/** The page's configuration element, parsed as the page's script parses it. */
function embeddedConfig(html: string): unknown {
  const m = /<script type="application\/json" id="checker-config">([^]*?)<\/script>/.exec(html);
  assert.ok(m, 'no checker-config element');
  return JSON.parse(m[1] ?? '');
}

describe('renderIndexPage', () => {
  it('escapes hostile labels and URLs everywhere: no markup of theirs survives', () => {
    const html = renderIndexPage(
      config({
        targets: [{ family: 4, label: HOSTILE_LABEL, baseUrl: HOSTILE_URL }],
        serverAddresses: { 4: [`10.0.1.2'; rm -rf / #<b>`], 6: [] },
      }),
    );
    assert.equal(html.match(/<script/g)?.length, 2, 'only the config and the page script');
    assert.equal(html.match(/<\/script>/g)?.length, 2);
    assert.doesNotMatch(html, /<img/);
    assert.doesNotMatch(html, /<b>/);
    assert.doesNotMatch(html, /alert\(\d\)<\/script>/);
    // Shown as text, so the user still sees what was configured.
    const text = unescapeHtml(html.replace(/<script type="application\/json"[^]*?<\/script>/, ''));
    assert.ok(text.includes(HOSTILE_LABEL));
    assert.ok(text.includes(HOSTILE_URL));
  });

  it("embeds the script's configuration as JSON that parses back to it, with no \"<\" in it", () => {
    const hostile = config({ targets: [{ family: 6, label: HOSTILE_LABEL, baseUrl: HOSTILE_URL }] });
    const html = renderIndexPage(hostile);
    const raw = /id="checker-config">([^]*?)<\/script>/.exec(html)?.[1] ?? '';
    assert.ok(!raw.includes('<'));
    assert.ok(raw.includes('\\u003c/script'));
    assert.deepEqual(embeddedConfig(html), { targets: [{ family: 'ipv6', baseUrl: HOSTILE_URL }], windowSeconds: 13 });
    assert.deepEqual(embeddedConfig(html), pageScriptConfig(hostile));
  });

  it('says in place of a family it cannot test why not, as text, with no result elements for it', () => {
    const reason = `IPv6 is not tested: ${HOSTILE_LABEL}. Set --ipv6-url to a URL.`;
    const html = renderIndexPage(config({ targets: [config().targets[0]!], untested: [{ family: 6, reason }] }));
    const section = /<section class="target untested" id="untested-ipv6" data-family="ipv6">([^]*?)<\/section>/.exec(html);
    assert.ok(section, 'an untested section for IPv6');
    assert.ok(unescapeHtml(section[1] ?? '').includes(reason));
    assert.doesNotMatch(html, /<img/);
    assert.doesNotMatch(html, /data-family="ipv6" data-test=/);
    assert.doesNotMatch(renderIndexPage(config()), /untested-/, 'nothing when every family is tested');
  });

  it('renders one result element per target and test with the attributes the harness reads', () => {
    const html = renderIndexPage(config());
    const results = [...html.matchAll(/<div class="result" id="result-(\d)-(\w+)" data-target="(\d)" data-family="(\w+)" data-test="(\w+)" data-state="idle">/g)];
    assert.deepEqual(
      results.map((m) => [m[1], m[2], m[4], m[5]]),
      [
        ['0', 'icmp', 'ipv4', 'icmp'],
        ['0', 'frag', 'ipv4', 'frag'],
        ['0', 'download', 'ipv4', 'download'],
        ['1', 'icmp', 'ipv6', 'icmp'],
        ['1', 'frag', 'ipv6', 'frag'],
        ['1', 'download', 'ipv6', 'download'],
      ],
    );
    assert.match(html, /<button id="run-tests"/);
  });

  it('explains the tests with the configured MTUs and fragment sizes', () => {
    const html = renderIndexPage(config());
    for (const n of ['1004', '1302', '577', '1281']) assert.match(html, new RegExp(`\\b${n} bytes`), n);
    assert.doesNotMatch(html, /\b905\b/);
  });

  it('lists every capture filter, narrowed to the server addresses, and explains every verdict', () => {
    const html = renderIndexPage(config({ serverAddresses: { 4: ['10.0.1.2', '10.0.9.2'], 6: ['fd00:0:0:1::2'] } }));
    const filters = clientCaptureFilters({ 4: ['10.0.1.2', '10.0.9.2'], 6: ['fd00:0:0:1::2'] });
    assert.equal(filters.length, 6);
    for (const f of filters) assert.ok(unescapeHtml(html).includes(f.command), f.command);
    assert.ok(unescapeHtml(html).includes(`tcpdump -ni any 'icmp6 and ip6[40] == 2 and host fd00:0:0:1::2'`));
    assert.ok(unescapeHtml(html).includes(`'ip[6:2] & 0x3fff != 0 and (host 10.0.1.2 or host 10.0.9.2)'`));
    assert.match(html, /extension headers/);
    for (const v of ICMP_VERDICTS) assert.match(html, new RegExp(`<dt id="verdict-icmp-${v}">`), v);
    for (const v of FRAG_VERDICTS) assert.match(html, new RegExp(`<dt id="verdict-frag-${v}">`), v);
    for (const v of DOWNLOAD_VERDICTS) assert.match(html, new RegExp(`<dt id="verdict-download-${v}">`), v);
    assert.ok(unescapeHtml(html).includes(`tcpdump -ni any 'ip6 and tcp and ip6[4:2] > 1240 and host fd00:0:0:1::2'`));
  });

  it('shows curl and ip route commands for every target and address, quoted only where the shell needs it', () => {
    const html = unescapeHtml(renderIndexPage(config()));
    assert.ok(html.includes(`curl -sSg --data-binary @payload.bin http://10.0.1.2:8080/icmp`));
    assert.ok(html.includes(`curl -sSg 'http://[fd00:0:0:1::2]:8080/frag' | sed -n '/^mtuscope IP fragmentation test/,$p'`));
    assert.ok(html.includes(`curl -sSg http://10.0.1.2:8080/download | sed -n '/^mtuscope download path MTU test/,$p'`));
    assert.doesNotMatch(html, /-o \/dev\/null/, 'the RESULT line the page points to must reach the reader');
    assert.ok(html.includes(`ip route flush cache to fd00:0:0:1::2`));
  });

  it('links the results summary and API, loads its script from this server and nothing from elsewhere', () => {
    const html = renderIndexPage(config());
    assert.match(html, /<a href="\/results">/);
    assert.match(html, /<a href="\/api\/results">/);
    assert.equal(PAGE_SCRIPT_PATH, '/page.js');
    assert.match(html, /<script type="module" src="\/page\.js"><\/script>/);
    const loaded = [...html.matchAll(/<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="([^"]*)"/gi)].map((m) => m[1]);
    assert.deepEqual(loaded, ['/page.js']);
    assert.doesNotMatch(html, /\bimport\s*\(/);
  });

  it('forbids inline scripts and foreign resources by its Content-Security-Policy', () => {
    const html = renderIndexPage(config());
    const attribute = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)?.[1];
    assert.ok(attribute !== undefined, 'no Content-Security-Policy');
    const policy = unescapeHtml(attribute);
    const directives = new Map(
      policy.split(';').map((directive) => {
        const [name = '', ...values] = directive.trim().split(/\s+/);
        return [name, values];
      }),
    );
    assert.deepEqual(directives.get('default-src'), ["'none'"]);
    assert.deepEqual(directives.get('script-src'), ["'self'"]);
    assert.deepEqual(directives.get('base-uri'), ["'none'"]);
    assert.ok(!policy.includes('unsafe-eval'));
  });
});

describe('openBrowserInNamespace (no root)', () => {
  it('refuses a namespace name that would break out of its wrapper script', async () => {
    await assert.rejects(openBrowserInNamespace(`x'; touch /tmp/pwned; '`), RangeError);
  });
});

describe('tcpdump filters on the page', () => {
  const sets: { name: string; filters: CaptureFilter[] }[] = [
    { name: 'no server addresses', filters: clientCaptureFilters({ 4: [], 6: [] }) },
    { name: 'one address per family', filters: clientCaptureFilters({ 4: ['10.0.1.2'], 6: ['fd00:0:0:1::2'] }) },
    { name: 'several addresses', filters: clientCaptureFilters({ 4: ['10.0.1.2', '10.0.2.2'], 6: ['fd00:0:0:1::2', 'fd00:0:0:2::2'] }) },
  ];

  async function compiles(filter: string): Promise<string> {
    const r = await run('tcpdump', ['-d', filter]);
    return r.stdout;
  }

  for (const { name, filters } of sets) {
    for (const f of filters) {
      it(`${f.id} compiles (${name}): ${f.filter}`, async () => {
        assert.match(await compiles(f.filter), /^\(000\)/);
      });
    }
  }

  it('the check can fail: a broken filter does not compile', async () => {
    await assert.rejects(compiles('ip6[40] =='));
  });

  it('the symbolic frag-needed filter is the numeric one', async () => {
    assert.equal(await compiles('icmp[icmptype] == icmp-unreach and icmp[icmpcode] == 4'), await compiles('icmp[0] == 3 and icmp[1] == 4'));
  });

  it('several hosts are grouped, so a fragment to another host does not match', async () => {
    const [ipv4Fragments] = clientCaptureFilters({ 4: ['10.0.1.2', '10.0.2.2'], 6: [] }).filter((f) => f.id === 'ipv4-fragments');
    assert.equal(ipv4Fragments?.filter, 'ip[6:2] & 0x3fff != 0 and (host 10.0.1.2 or host 10.0.2.2)');
  });

  it('the shell command passes the filter as one word, even with a quote in an address', async () => {
    const [f] = clientCaptureFilters({ 4: [`10.0.1.2'; echo pwned; '`], 6: [] });
    assert.ok(f);
    const r = await run('sh', ['-c', f.command.replace(/^tcpdump /, `printf '%s\\n' `)]);
    assert.deepEqual(r.stdout.split('\n'), ['-ni', 'any', f.filter, '']);
  });
});

const PORT = 8080;
const CLOSED_PORT = 8081;
const ICMP_DELAY_MS = 1500;

/**
 * Stands in for the checker service inside the server node: serves the page (renderIndexPage and the page's script
 * from dist) and answers
 * the tests with fixed results, as the real service does (CORS header, /frag streamed with padding first). Refuses
 * a test while another of the same family runs, and an ICMP upload that is small or not text/plain; logs every test
 * request as a JSON line.
 */
const STAND_IN = `
import http from 'node:http';
import net from 'node:net';
const [webPageUrl, pageAssetUrl, configJson, resultsJson, port, ...hosts] = process.argv.slice(1);
const { renderIndexPage } = await import(webPageUrl);
const { loadPageScripts } = await import(pageAssetUrl);
const scripts = loadPageScripts();
const pageConfig = JSON.parse(configJson);
const results = JSON.parse(resultsJson);
const busy = { ipv4: false, ipv6: false };
const log = (o) => console.log(JSON.stringify(o));
function handle(req, res) {
  const url = new URL(req.url, 'http://stand-in');
  if (url.pathname === '/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(renderIndexPage(pageConfig));
    return;
  }
  const script = scripts.get(url.pathname);
  if (script !== undefined) {
    res.writeHead(200, { 'content-type': script.contentType });
    res.end(script.body);
    return;
  }
  const test = url.pathname.slice(1);
  if (test !== 'icmp' && test !== 'frag' && test !== 'download') { res.writeHead(404).end(); return; }
  const family = net.isIPv6(req.socket.localAddress) && !req.socket.localAddress.startsWith('::ffff:') ? 'ipv6' : 'ipv4';
  const overlap = busy[family];
  busy[family] = true;
  let bytes = 0;
  req.on('data', (c) => { bytes += c.length; });
  req.on('end', () => {
    const entry = { family, test, method: req.method, bytes, contentType: req.headers['content-type'] ?? null, origin: req.headers.origin ?? null, format: url.searchParams.get('format'), overlap };
    log(entry);
    const refuse = overlap ? 'another test of this family is running'
      : url.searchParams.get('format') !== 'json' ? 'format=json missing'
      : test === 'icmp' && (req.method !== 'POST' || bytes < 8192 || !String(entry.contentType).startsWith('text/plain')) ? 'icmp needs a text/plain POST of 8 KB'
      : test !== 'icmp' && req.method !== 'GET' ? test + ' needs GET' : null;
    const headers = { 'content-type': 'application/json', 'access-control-allow-origin': '*' };
    if (refuse !== null) {
      if (!overlap) busy[family] = false;
      res.writeHead(400, headers).end(JSON.stringify({ error: refuse }));
      return;
    }
    const body = JSON.stringify(results[family][test]);
    setTimeout(() => {
      res.writeHead(200, headers);
      if (test === 'icmp') {
        busy[family] = false;
        res.end(body);
        return;
      }
      // As the real /frag and /download: a long padding field first, the verdict only at the end.
      res.write('{"padding":"' + 'x'.repeat(100000) + '",');
      setTimeout(() => {
        busy[family] = false;
        res.end(body.slice(1));
      }, 700);
    }, test === 'icmp' ? ${ICMP_DELAY_MS} : 300);
  });
}
let pending = hosts.length;
for (const host of hosts) http.createServer(handle).listen(Number(port), host, () => { if (--pending === 0) console.log('ready'); });
`;

/** Distinct verdicts per family and test, so that a result shown in the wrong place is noticed. */
const SHOWN: Record<IpFamilyName, Record<CheckerTest, TestResult['verdict']>> = {
  ipv4: { icmp: 'pass', frag: 'blocked', download: 'clear' },
  ipv6: { icmp: 'blackhole', frag: 'pass', download: 'pass' },
};

/** The page shows code spans of the advice as code; this advice has none, only a stray backtick. */
const UNPAIRED_BACKTICK = 'A lone ` stays as it is.';

function routeGet(server: string): string {
  return `ip route get ${server}`;
}

function standInResult(family: IpFamilyName, test: CheckerTest, client: string, server: string): TestResult {
  return {
    test,
    verdict: SHOWN[family][test],
    explanation: `Stand-in explanation for ${family} ${test}.`,
    advice: [`Stand-in advice for ${family} ${test}: run \`${routeGet(server)}\`.`, UNPAIRED_BACKTICK],
    startedAt: '2024-01-01T00:00:00.000Z',
    evidence: {
      family,
      clientAddress: client,
      clientPort: 40000,
      serverAddress: server,
      serverPort: PORT,
      clientMss: family === 'ipv4' ? 1460 : 1440,
      largestClientPacket: 1500,
      largestPacketAfterReaction: test === 'icmp' ? 905 : null,
      testMtu: family === 'ipv4' ? 905 : 1280,
      oversizedPackets: 3,
      oversizedWithoutDf: 0,
      packetTooBigSent: test === 'icmp' ? 2 : 0,
      packetTooBigSuppressed: 0,
      segmentsFragmented: test === 'frag' ? 4 : 0,
      fragmentsSent: test === 'frag' ? 8 : 0,
      fragmentsSuppressed: 0,
      retransmissions: 1,
      reactionMs: 12,
      durationMs: 1234,
      ...(test === 'download' ? { download: STAND_IN_DOWNLOAD } : {}),
    },
  };
}

const STAND_IN_DOWNLOAD = {
  fullSize: 1500,
  dataSegments: 46,
  fullSizeSegments: 10,
  fullSizeAcknowledged: 0,
  largestAcknowledged: null,
  fullSizeRetransmissions: 0,
  largestBeforeSignal: 1500,
  packetTooBigReceived: 1,
  router: '10.0.1.1',
  reportedMtu: 1400,
  largestAfterSignal: 1400,
  rescueMtu: null,
  flushedBeforeStart: false,
} as const;

interface LoggedRequest {
  readonly family: IpFamilyName;
  readonly test: CheckerTest;
  readonly method: string;
  readonly bytes: number;
  readonly contentType: string | null;
  readonly origin: string | null;
  readonly format: string | null;
  readonly overlap: boolean;
}

function loggedRequests(server: LabProcess): LoggedRequest[] {
  return server.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LoggedRequest);
}

describe('the page in Chromium inside a lab', { ...needsRoot('for the browser, which runs inside a lab network namespace'), timeout: 600_000 }, () => {
  let lab: RunningLab | undefined;
  let standIn: LabProcess;
  let session: BrowserSession | undefined;
  let pageUrl: string;
  let serverV4: string;
  let serverV6: string;
  let clientV4: string;
  let clientV6: string;

  // Targets 0 and 1 are the stand-in over IPv4 and IPv6; target 2 is a port nobody listens on.
  const everyResult: VerdictQuery[] = [0, 1, 2].flatMap((target) =>
    (['icmp', 'frag', 'download'] as const).map((test) => ({ family: target === 1 ? ('ipv6' as const) : ('ipv4' as const), test, target })),
  );

  before(async () => {
    lab = await startLab({
      name: 'web-page',
      nodes: [
        { name: 'client', kind: 'host' },
        { name: 'server', kind: 'host' },
      ],
      links: [{ endpoints: [{ node: 'client', ifname: 'eth1' }, { node: 'server', ifname: 'eth1' }] }],
    });
    serverV4 = lab.address('server', 4);
    serverV6 = lab.address('server', 6);
    clientV4 = lab.address('client', 4);
    clientV6 = lab.address('client', 6);
    const pageConfig: IndexPageConfig = {
      targets: [
        { family: 4, label: 'IPv4', baseUrl: `http://${serverV4}:${PORT}` },
        { family: 6, label: 'IPv6', baseUrl: `http://[${serverV6}]:${PORT}` },
        { family: 4, label: `IPv4, server down <img src=x onerror="document.title='pwned'">`, baseUrl: `http://${serverV4}:${CLOSED_PORT}` },
      ],
      icmpMtu: { 4: 905, 6: 1280 },
      fragmentSize: { 4: 576, 6: 1280 },
      windowSeconds: 2,
      serverAddresses: { 4: [serverV4], 6: [serverV6] },
    };
    const results = {
      ipv4: {
        icmp: standInResult('ipv4', 'icmp', clientV4, serverV4),
        frag: standInResult('ipv4', 'frag', clientV4, serverV4),
        download: standInResult('ipv4', 'download', clientV4, serverV4),
      },
      ipv6: {
        icmp: standInResult('ipv6', 'icmp', clientV6, serverV6),
        frag: standInResult('ipv6', 'frag', clientV6, serverV6),
        download: standInResult('ipv6', 'download', clientV6, serverV6),
      },
    };
    const webPageModule = new URL('../../src/checker/web-page.js', import.meta.url).href;
    const pageAssetModule = new URL('../../src/checker/page-asset.js', import.meta.url).href;
    standIn = lab.spawn('server', [
      process.execPath,
      '--input-type=module',
      '-e',
      STAND_IN,
      webPageModule,
      pageAssetModule,
      JSON.stringify(pageConfig),
      JSON.stringify(results),
      String(PORT),
      serverV4,
      serverV6,
    ]);
    await standIn.waitForOutput(/^ready$/m, 10_000);
    pageUrl = `http://${serverV4}:${PORT}/`;
    session = await openBrowserInNamespace(lab.namespace('client'));
  });

  after(async () => {
    try {
      await session?.close();
    } finally {
      await lab?.destroy();
    }
  });

  it('runs both tests of both families on load and shows the stand-in verdicts; a server that is down shows an error', async () => {
    assert.ok(session);
    const { page } = session;
    await page.goto(pageUrl);
    const running = page.locator('.result[data-state="running"]').first();
    await running.waitFor({ timeout: 10_000 });
    assert.match(await running.innerText(), /running… \d+ s/);

    const shown = await waitForVerdicts(page, everyResult, 90_000);
    for (const family of ['ipv4', 'ipv6'] as const) {
      const target = family === 'ipv4' ? 0 : 1;
      for (const test of ['icmp', 'frag', 'download'] as const) {
        const r = shown[`${family}/${test}#${target}`];
        assert.ok(r);
        assert.equal(r.state, 'done', r.text);
        assert.equal(r.verdict, SHOWN[family][test]);
        assert.match(r.text, new RegExp(`Stand-in explanation for ${family} ${test}\\.`));
        const server = family === 'ipv4' ? serverV4 : serverV6;
        assert.ok(r.text.includes(`Stand-in advice for ${family} ${test}: run ${routeGet(server)}.`), r.text);
        assert.ok(r.text.includes(UNPAIRED_BACKTICK), r.text);
        assert.equal(r.text.split('`').length, 2, 'only the unpaired backtick is shown');
        const code = page.locator(`#result-${target}-${test} .advice code`);
        assert.deepEqual(await code.allInnerTexts(), [routeGet(server)]);
        assert.ok(r.text.includes(family === 'ipv4' ? clientV4 : clientV6), 'evidence table shows the client address');
        assert.match(r.text, /Test MTU\s+(905|1280) bytes/);
      }
    }
    for (const test of ['icmp', 'frag', 'download'] as const) {
      const down = shown[`ipv4/${test}#2`];
      assert.ok(down);
      assert.equal(down.state, 'error');
      assert.equal(down.verdict, null);
      assert.match(down.text, /error: /);
    }

    const requests = loggedRequests(standIn);
    assert.equal(requests.length, 6, standIn.stdout);
    assert.ok(requests.every((r) => !r.overlap && r.format === 'json'), 'one test at a time per family, all with format=json');
    for (const r of requests.filter((x) => x.test === 'icmp')) {
      assert.equal(r.method, 'POST');
      assert.ok(r.bytes >= 8192, `ICMP upload of ${r.bytes} bytes`);
      assert.match(r.contentType ?? '', /^text\/plain/);
    }
    // The IPv6 target is another origin than the page: its answers were read thanks to the CORS header.
    assert.ok(requests.filter((r) => r.family === 'ipv6').every((r) => r.origin === `http://${serverV4}:${PORT}`));

    assert.notEqual(await page.title(), 'pwned', 'the hostile label ran as markup');
    assert.deepEqual(session.pageErrors, []);
  });

  it('with ?manual waits for the button', async () => {
    assert.ok(session);
    const { page } = session;
    const before = loggedRequests(standIn).length;
    await page.goto(`${pageUrl}?manual`);
    await page.waitForTimeout(1500);
    assert.equal(await page.locator('.result[data-state="idle"]').count(), everyResult.length);
    assert.equal(loggedRequests(standIn).length, before);
    await page.click('#run-tests');
    const shown = await waitForVerdicts(page, everyResult, 90_000);
    assert.equal(shown['ipv6/icmp#1']?.verdict, 'blackhole');
    assert.equal(shown['ipv4/frag#2']?.state, 'error');
    assert.deepEqual(session.pageErrors, []);
  });

  it('closing the session leaves no Chromium process and no temp dir', async () => {
    assert.ok(session);
    const { userDataDir, tempDir } = session;
    assert.ok(livePidsWith(`--user-data-dir=${userDataDir}`).length > 0, 'the check can see the running browser');
    await session.close();
    assert.deepEqual(livePidsWith(tempDir), []);
    await assert.rejects(run('pgrep', ['-f', `user-data-dir=${userDataDir}`]), (err: { code?: number }) => err.code === 1);
    assert.equal(existsSync(tempDir), false);
  });

  it('a browser that cannot start (no such namespace) fails the open and leaves no temp dir behind', async () => {
    const sessionDirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('mtuscope-browser-'));
    const before = new Set(sessionDirs());
    await assert.rejects(openBrowserInNamespace('mtuscope-no-such-namespace'), /Chromium in network namespace mtuscope-no-such-namespace did not start: [^]*Cannot open network namespace/);
    assert.deepEqual(
      sessionDirs().filter((n) => !before.has(n)),
      [],
    );
  });
});
