/**
 * The page of one stored result, /r/ID, and its JSON twin /api/results/ID: what a user sends to their ISP or support
 * team. Self-contained HTML, no script. renderResultSection() draws the result itself, with the chart of its packet
 * timeline (timeline-chart.ts), so that every place showing a stored result shows it.
 */
import { escapeHtml } from './escape-html.js';
import { htmlHead } from './html-head.js';
import { describeTest, evidenceRows, REPORT_TITLES } from './report-text.js';
import type { StoredRun } from './results-store.js';
import { resultTimelineChart } from './timeline-chart.js';

const RESULT_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const RESULT_PAGE_STYLE = `
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 1rem auto; padding: 0 1rem; line-height: 1.45; color: #1d1d1f; }
nav a { margin-right: 1rem; }
code { font-family: ui-monospace, monospace; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.75rem 0; }
.timeline svg { max-width: 100%; height: auto; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f3f3f3; font-weight: normal; }
.verdict { font-weight: 700; }
.verdict-pass, .verdict-pass-probing { color: #13652b; }
.verdict-blackhole, .verdict-blocked { color: #a3161b; }
.verdict-no-df, .verdict-inconclusive { color: #8a5a00; }
`;

/** Where the page of the run with this public id is, below the service's base URL (`http://host:port`). */
export function resultPagePath(publicId: string): string {
  return `/r/${encodeURIComponent(publicId)}`;
}

export function resultApiPath(publicId: string): string {
  return `/api/results/${encodeURIComponent(publicId)}`;
}

/** /r/ID: the stored result as a page of its own. */
export function renderResultPage(run: StoredRun): string {
  const family = run.family === 'ipv6' ? 'IPv6' : 'IPv4';
  return `${htmlHead({
    title: `mtuscope result: /${run.test} over ${family}: ${run.verdict}`,
    contentSecurityPolicy: RESULT_PAGE_POLICY,
    style: RESULT_PAGE_STYLE,
  })}
<header>
<h1>mtuscope result</h1>
<nav><a href="/">Test your own connection</a><a href="${escapeHtml(resultApiPath(run.publicId))}">This result as JSON</a></nav>
</header>
<main>
${renderResultSection(run)}
</main>
</body>
</html>
`;
}

/** The result itself: test, verdict, explanation, advice, evidence, where and when it ran. */
export function renderResultSection(run: StoredRun): string {
  const r = run.result;
  const family = run.family === 'ipv6' ? 'IPv6' : 'IPv4';
  const verdictClass = `verdict verdict-${run.verdict.replace(/[^a-z-]/g, '')}`;
  const facts: [string, string][] = [
    ['test started', r.startedAt],
    ['stored', run.storedAt],
    ['checker node', run.node ?? 'not recorded'],
  ];
  const table = (rows: readonly [string, string][]): string =>
    `<table><tbody>\n${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('\n')}\n</tbody></table>`;
  return `<section class="result" data-test="${escapeHtml(run.test)}" data-verdict="${escapeHtml(run.verdict)}">
<h2>${escapeHtml(REPORT_TITLES[r.test])} (${family})</h2>
<p>Verdict: <span class="${escapeHtml(verdictClass)}">${escapeHtml(run.verdict)}</span>. ${withCode(r.explanation)}</p>
<h3>What to do</h3>
<ul class="advice">
${r.advice.map((a) => `<li>${withCode(a)}</li>`).join('\n')}
</ul>
<h3>What was tested</h3>
<p>${escapeHtml(describeTest(r))}</p>
<h3>What was seen</h3>
<figure class="timeline">
${resultTimelineChart(r)}
<figcaption>Every packet of the test as the server saw it, by size and time, and what the server did with it.</figcaption>
</figure>
${table(evidenceRows(r))}
${table(facts)}
</section>`;
}

/** Text with its code spans (between backticks, as in Markdown) as code elements, everything escaped. */
function withCode(text: string): string {
  const parts = text.split('`');
  // An odd number of backticks leaves the last one unpaired: it is text.
  if (parts.length % 2 === 0) parts.splice(-2, 2, `${parts.at(-2) ?? ''}\`${parts.at(-1) ?? ''}`);
  return parts.map((part, i) => (i % 2 === 1 ? `<code>${escapeHtml(part)}</code>` : escapeHtml(part))).join('');
}
