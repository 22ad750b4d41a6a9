/**
 * The checker's web page: an HTML document with inline CSS and one script from this server (PAGE_SCRIPT_PATH, the
 * build of page/page-script.ts), nothing from elsewhere. It explains the three tests, runs them from the browser
 * against every configured address of the server, shows each verdict with its explanation, advice and evidence, and
 * lists tcpdump filters to watch the tests on the client.
 */
import { type FamilyMap, familyLabel, familyName, type IpFamily } from '../packet/ip-family.js';
import { escapeHtml } from './escape-html.js';
import { htmlHead } from './html-head.js';
import { PAGE_SCRIPT_PATH } from './page-asset.js';
import type { UntestedFamily } from './page-targets.js';
import type { PageScriptConfig } from './page-script-config.js';
import { REPORT_TITLES } from './report-text.js';
import { clientCaptureFilters, shellQuote } from './tcpdump-filters.js';
import type { CheckerTest, DownloadVerdict, FragVerdict, IcmpVerdict } from './test-result.js';

export interface PageTarget {
  readonly family: IpFamily;
  /** Shown to the user, e.g. "IPv6". */
  readonly label: string;
  /** Where this target's tests are, e.g. `http://10.0.2.2:8080` or `http://[fd00:0:0:2::2]:8080`. */
  readonly baseUrl: string;
}

export interface IndexPageConfig {
  readonly targets: readonly PageTarget[];
  /** The families the page cannot test, each with the sentence that says why and how to change that. */
  readonly untested?: readonly UntestedFamily[];
  /** The MTU the ICMP test announces in its Packet Too Big messages. */
  readonly icmpMtu: FamilyMap<number>;
  /** The largest fragment the fragments test sends. */
  readonly fragmentSize: FamilyMap<number>;
  /** How long the server interferes with one test. */
  readonly windowSeconds: number;
  readonly serverAddresses: FamilyMap<readonly string[]>;
}

/**
 * The page's own resources only; the tests may run against the other family's address (another origin), so any
 * http(s) address may be fetched. (IPv6 literals cannot be written as CSP sources, so the targets cannot be listed.)
 */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src http: https:; base-uri 'none'; form-action 'none'";

const ICMP_VERDICT_MEANINGS: Readonly<Record<IcmpVerdict, string>> = {
  pass: 'Your system received the Packet Too Big messages and re-sent the data in packets that fit, as it should.',
  'pass-probing':
    'Our ICMP messages did not reach your system (or were ignored), but its own path MTU probing (RFC 4821) shrank the packets later: ' +
    'uploads recover, slowly.',
  blackhole:
    'Your system kept sending packets that were too large until the test ended: Packet Too Big messages do not reach it or are ignored. ' +
    'Large uploads over a path with a smaller MTU stall (a path MTU black hole).',
  'no-df': 'Your system sent large packets without the "don\'t fragment" flag: path MTU discovery is switched off.',
  inconclusive:
    'Your system never sent a packet larger than the test MTU, so the test could not check anything; a clamped MSS or a small path MTU on ' +
    'your side explains this.',
};

const FRAG_VERDICT_MEANINGS: Readonly<Record<FragVerdict, string>> = {
  pass: 'Data that reached your system only as IP fragments was acknowledged: fragments get through.',
  blocked:
    'Fragments did not get through (a firewall, NAT or load balancer drops them); the server finally sent the data unfragmented so that ' +
    'this answer could arrive. Large UDP answers, e.g. DNS, will fail.',
  inconclusive:
    'No fragment was sent to your system (the server\'s rate limits held them all back, or the test did not run on this connection), ' +
    'so the test could not check anything; run it again in a minute.',
};

const DOWNLOAD_VERDICT_MEANINGS: Readonly<Record<DownloadVerdict, string>> = {
  pass:
    'A router on the way to you reported a smaller MTU, its Packet Too Big reached the server and the server re-sent the data in smaller ' +
    'packets: path MTU discovery toward you works (the report names the router and the MTU).',
  clear: 'Full-size packets from the server reached you and were acknowledged: nothing on the way to you has a smaller MTU.',
  blackhole:
    'Full-size packets from the server were lost again and again and no router said why: something on the way to you has a smaller MTU ' +
    'and its Packet Too Big is lost. The server then used small packets so that this answer arrived; other servers stall.',
  inconclusive:
    'The server sent no full-size packet (it already knew a smaller path MTU toward you), or a Packet Too Big arrived without the server\'s ' +
    'packets shrinking, or the test ended before anything could be concluded; run it again in a few minutes.',
};

const TEST_NAMES: Readonly<Record<CheckerTest, string>> = {
  icmp: 'ICMP Packet Too Big test',
  frag: 'Fragments test',
  download: 'Download test',
};

const STYLE = `
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 1rem auto; padding: 0 1rem; line-height: 1.45; color: #1d1d1f; }
h1 { font-size: 1.5rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
pre { background: #f3f3f5; padding: 0.4rem 0.6rem; overflow-x: auto; }
button { font-size: 1rem; padding: 0.4rem 1rem; }
.target { border: 1px solid #ccc; border-radius: 6px; padding: 0.5rem 1rem; margin: 1rem 0; }
.target h3 { margin: 0.2rem 0; font-size: 1.05rem; }
.target .base-url { color: #666; font-weight: normal; }
.target.untested { border-style: dashed; color: #555; }
.result { border-top: 1px solid #eee; padding: 0.4rem 0; }
.result-head { display: flex; gap: 1rem; }
.test-name { min-width: 16rem; font-weight: 600; }
.status { font-weight: 600; }
[data-state="running"] .status, [data-state="queued"] .status { color: #555; }
[data-state="error"] .status { color: #b00020; }
.verdict-pass { color: #137333; }
.verdict-pass-probing, .verdict-inconclusive { color: #9a6700; }
.verdict-blackhole, .verdict-no-df, .verdict-blocked { color: #b00020; }
table.evidence { border-collapse: collapse; font-size: 0.9em; margin: 0.3rem 0; }
table.evidence th, table.evidence td { text-align: left; padding: 0.1rem 0.8rem 0.1rem 0; border-bottom: 1px solid #eee; }
table.evidence th { font-weight: normal; color: #555; }
figure.timeline { margin: 0.4rem 0; }
figure.timeline svg { max-width: 100%; height: auto; }
dt { font-weight: 600; }
`;

/**
 * JSON for a `<script type="application/json">` element: `<` (and `>`, `&`) escaped so that no `</script>` or
 * `<!--` in a label or URL can end the element early; JSON.parse reads the escapes back.
 */
export function jsonForScriptElement(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** What the page's script reads from the `checker-config` element. */
export function pageScriptConfig(config: IndexPageConfig): PageScriptConfig {
  return {
    targets: config.targets.map((t) => ({ family: familyName(t.family), baseUrl: t.baseUrl })),
    windowSeconds: config.windowSeconds,
  };
}

function num(n: number): string {
  return escapeHtml(String(n));
}

function explanation(config: IndexPageConfig): string {
  const { icmpMtu, fragmentSize } = config;
  return `
<p>This page checks whether large packets survive the way between your computer and this server, over IPv4 and IPv6.
Each test lasts up to about ${num(config.windowSeconds * 2)} seconds; per address family the tests run one after another.</p>
<ul>
<li><strong>ICMP test</strong>: your browser uploads 8 KB. The server pretends that the path MTU is ${num(icmpMtu[4])} bytes for
IPv4 and ${num(icmpMtu[6])} bytes for IPv6: it answers your larger packets with ICMP &quot;fragmentation needed&quot; (IPv4) or
ICMPv6 &quot;Packet Too Big&quot; (IPv6) and watches whether your system re-sends the data in packets that fit. If something between
us drops these ICMP messages, the upload stalls: a path MTU black hole.</li>
<li><strong>Fragments test</strong>: your browser downloads an answer that the server sends as IP fragments of at most
${num(fragmentSize[4])} bytes (IPv4) and ${num(fragmentSize[6])} bytes (IPv6), and checks whether your system acknowledges
data that reached it only as fragments. Firewalls, NATs and load balancers often drop fragments.</li>
<li><strong>Download test</strong>: your browser downloads 64 KB that the server sends in full-size packets with DF set, and the
server watches what comes back: your acknowledgements, or a router&#39;s ICMP &quot;fragmentation needed&quot; / &quot;Packet Too
Big&quot; saying that a link on the way to you is smaller. If that message is lost, downloads stall: a black hole on the way to you.</li>
</ul>`;
}

function resultElement(index: number, target: PageTarget, test: CheckerTest): string {
  const name = TEST_NAMES[test];
  return `<div class="result" id="result-${index}-${test}" data-target="${index}" data-family="${familyName(target.family)}" data-test="${test}" data-state="idle">
<div class="result-head"><span class="test-name">${name}</span><span class="status">not run yet</span></div>
<div class="detail"></div>
</div>`;
}

function targetsSection(config: IndexPageConfig): string {
  const targets = config.targets
    .map(
      (t, i) => `<section class="target" id="target-${i}" data-target="${i}" data-family="${familyName(t.family)}">
<h3>${escapeHtml(t.label)} <span class="base-url">${escapeHtml(t.baseUrl)}</span></h3>
${resultElement(i, t, 'icmp')}
${resultElement(i, t, 'frag')}
${resultElement(i, t, 'download')}
</section>`,
    )
    .join('\n');
  const untested = (config.untested ?? [])
    .map(
      (u) => `<section class="target untested" id="untested-${familyName(u.family)}" data-family="${familyName(u.family)}">
<h3>${escapeHtml(familyLabel(u.family))}</h3>
<p class="untested-reason">${escapeHtml(u.reason)}</p>
</section>`,
    )
    .join('\n');
  return `<h2>Results</h2>
<p><button id="run-tests" type="button">Run tests</button></p>
<noscript><p>The tests need JavaScript; without it, use curl as shown below.</p></noscript>
${targets}${untested === '' ? '' : `\n${untested}`}`;
}

function verdictsSection(): string {
  const list = (test: string, meanings: Readonly<Record<string, string>>): string =>
    Object.entries(meanings)
      .map(([verdict, meaning]) => `<dt id="verdict-${test}-${verdict}"><code>${verdict}</code></dt><dd>${escapeHtml(meaning)}</dd>`)
      .join('\n');
  return `<h2>What the verdicts mean</h2>
<h3>ICMP test</h3>
<dl>
${list('icmp', ICMP_VERDICT_MEANINGS)}
</dl>
<h3>Fragments test</h3>
<dl>
${list('frag', FRAG_VERDICT_MEANINGS)}
</dl>
<h3>Download test</h3>
<dl>
${list('download', DOWNLOAD_VERDICT_MEANINGS)}
</dl>`;
}

function captureSection(config: IndexPageConfig): string {
  const filters = clientCaptureFilters(config.serverAddresses)
    .map(
      (f) => `<li id="filter-${f.id}" data-family="${familyName(f.family)}"><strong>${escapeHtml(f.title)}</strong>
<pre><code>${escapeHtml(f.command)}</code></pre>
<p>${escapeHtml(f.note)}</p></li>`,
    )
    .join('\n');
  const addresses = [...config.serverAddresses[4], ...config.serverAddresses[6]];
  const routeCommands = addresses.map((a) => `ip route get ${shellQuote(a)}\nip route flush cache to ${shellQuote(a)}`).join('\n');
  return `<h2>Watch the tests on your computer</h2>
<p>Run one of these while a test runs (as root; <code>-i any</code> captures on every interface):</p>
<ul class="filters">
${filters}
</ul>
${
  routeCommands === ''
    ? ''
    : `<p>After the ICMP test Linux remembers the lowered path MTU towards the server for a while: the first command shows it,
the second one forgets it again.</p>
<pre><code>${escapeHtml(routeCommands)}</code></pre>`
}`;
}

/** Prints a /frag answer from its report on: the padding before it is what travelled as fragments. */
const SKIP_FRAG_PADDING = `sed -n '/^${REPORT_TITLES.frag}/,$p'`;
/** The same for /download, whose padding is what travelled in full-size segments. */
const SKIP_DOWNLOAD_PADDING = `sed -n '/^${REPORT_TITLES.download}/,$p'`;

function curlSection(config: IndexPageConfig): string {
  if (config.targets.length === 0) return '';
  const commands = config.targets
    .map((t) => {
      const base = t.baseUrl.replace(/\/+$/, '');
      // -g: brackets of an IPv6 address are not a curl URL glob.
      return [
        `curl -sSg --data-binary @payload.bin ${shellQuote(`${base}/icmp`)}`,
        `curl -sSg ${shellQuote(`${base}/frag`)} | ${SKIP_FRAG_PADDING}`,
        `curl -sSg ${shellQuote(`${base}/download`)} | ${SKIP_DOWNLOAD_PADDING}`,
      ].join('\n');
    })
    .join('\n');
  return `<h2>Without a browser</h2>
<p>Each answer ends with a line <code>RESULT: &lt;verdict&gt;</code>. The fragments and download answers start with padding (the
part that travels as fragments, or in full-size packets), which the <code>sed</code> skips. Add <code>?format=json</code> to a URL for JSON (then without the <code>sed</code>).</p>
<pre><code>head -c 8192 /dev/zero | tr '\\0' x &gt; payload.bin
${escapeHtml(commands)}</code></pre>`;
}

/** The complete page; everything taken from `config` is escaped for where it goes. */
export function renderIndexPage(config: IndexPageConfig): string {
  const families = [...new Set(config.targets.map((t) => familyLabel(t.family)))].join(' and ');
  return `${htmlHead({ title: 'mtuscope: path MTU and fragmentation checker', contentSecurityPolicy: CONTENT_SECURITY_POLICY, style: STYLE })}
<h1>Path MTU and fragmentation checker${families === '' ? '' : ` (${escapeHtml(families)})`}</h1>
${explanation(config)}
${targetsSection(config)}
<p><a href="/results">Summary of recent results</a> · <a href="/api/results">All results as JSON (/api/results)</a></p>
${verdictsSection()}
${captureSection(config)}
${curlSection(config)}
<script type="application/json" id="checker-config">${jsonForScriptElement(pageScriptConfig(config))}</script>
<script type="module" src="${PAGE_SCRIPT_PATH}"></script>
</body>
</html>
`;
}
