import { escapeHtml } from './escape-html.js';
import { htmlHead } from './html-head.js';
import { MAX_RESULTS_LIMIT, type ResultsQuery, type ResultsSummary, type StoredRun } from './results-store.js';
import { DOWNLOAD_VERDICTS, FRAG_VERDICTS, ICMP_VERDICTS, type CheckerTest, type Verdict } from './test-result.js';
import { IP_FAMILY_NAMES, type IpFamilyName } from '../packet/ip-family.js';

const TESTS: readonly CheckerTest[] = ['icmp', 'frag', 'download'];
const VERDICTS_OF: Readonly<Record<CheckerTest, readonly Verdict[]>> = { icmp: ICMP_VERDICTS, frag: FRAG_VERDICTS, download: DOWNLOAD_VERDICTS };
const ALL_VERDICTS: readonly Verdict[] = [...new Set<Verdict>([...ICMP_VERDICTS, ...FRAG_VERDICTS, ...DOWNLOAD_VERDICTS])];

type MutableQuery = { -readonly [K in keyof ResultsQuery]: ResultsQuery[K] };

/** The query parameters that take one of a list of words, and those words. */
const CHOICES: { readonly [K in 'test' | 'verdict' | 'family']: readonly NonNullable<ResultsQuery[K]>[] } = {
  test: TESTS,
  verdict: ALL_VERDICTS,
  family: IP_FAMILY_NAMES,
};

export type ResultsQueryParse =
  | { readonly ok: true; readonly query: ResultsQuery }
  | { readonly ok: false; readonly error: string };

/**
 * The query of `GET /api/results?limit=&before=&test=&verdict=&family=`. Other parameters (such as `format`)
 * belong to the HTTP layer and are ignored here; each known one may appear at most once.
 */
export function parseResultsQuery(params: URLSearchParams): ResultsQueryParse {
  const query: MutableQuery = {};
  for (const name of ['limit', 'before', 'test', 'verdict', 'family'] as const) {
    const values = params.getAll(name);
    if (values.length === 0) continue;
    if (values.length > 1) return { ok: false, error: `${name}: given ${values.length} times, at most once allowed` };
    const value = values[0]!;
    switch (name) {
      case 'limit': {
        const limit = positiveInteger(value);
        if (limit === undefined || limit > MAX_RESULTS_LIMIT) {
          return { ok: false, error: `limit: ${quote(value)} is not an integer from 1 to ${MAX_RESULTS_LIMIT}` };
        }
        query.limit = limit;
        break;
      }
      case 'before': {
        const before = positiveInteger(value);
        if (before === undefined) return { ok: false, error: `before: ${quote(value)} is not a positive integer (a result id)` };
        query.beforeId = before;
        break;
      }
      case 'test':
      case 'verdict':
      case 'family': {
        const error = setChoice(query, name, value);
        if (error !== undefined) return { ok: false, error };
        break;
      }
    }
  }
  // Such a query could only ever answer nothing; saying why helps whoever typed it.
  if (query.test !== undefined && query.verdict !== undefined && !VERDICTS_OF[query.test].includes(query.verdict)) {
    const allowed = VERDICTS_OF[query.test].join(', ');
    return { ok: false, error: `verdict: ${quote(query.verdict)} is not a verdict of test ${query.test} (${allowed})` };
  }
  return { ok: true, query };
}

/** Sets `query[name]` to `value` if it is one of the parameter's words; else the error. */
function setChoice<K extends keyof typeof CHOICES>(query: MutableQuery, name: K, value: string): string | undefined {
  const allowed: readonly NonNullable<ResultsQuery[K]>[] = CHOICES[name];
  const chosen = allowed.find((word) => word === value);
  if (chosen === undefined) return `${name}: ${quote(value)} is not one of ${allowed.join(', ')}`;
  query[name] = chosen;
  return undefined;
}

/**
 * `{"results": [...], "next": id}`: `next` is the `before` that fetches the following (older) page, null when
 * there is none. Without `requestedLimit` a page is taken as possibly followed by another unless it is empty
 * or ends at id 1; with it, a short page is known to be the last. The runs' page ids stay out: a result's page is
 * for whoever its client sends the link to, not for anyone who lists the results.
 */
export function renderResultsJson(runs: readonly StoredRun[], requestedLimit?: number): string {
  const last = runs.at(-1);
  const exhausted = last === undefined || last.id <= 1 || (requestedLimit !== undefined && runs.length < requestedLimit);
  return JSON.stringify({ results: runs.map(withoutPublicId), next: exhausted ? null : last.id });
}

function withoutPublicId(run: StoredRun): Omit<StoredRun, 'publicId'> {
  const { id, node, storedAt, test, verdict, family, clientAddress, result } = run;
  return { id, node, storedAt, test, verdict, family, clientAddress, result };
}

/** Nothing but the page itself and its inline style. */
const SUMMARY_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'";

const SUMMARY_PAGE_STYLE = `
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; padding: 0 1rem; color: #1b1b1b; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; margin: 0.75rem 0 1.5rem; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f3f3f3; }
td.text, th.text { text-align: left; }
tfoot th, tfoot td { font-weight: 600; }
.tone-good { color: #13652b; }
.tone-bad { color: #a3161b; }
.tone-unclear { color: #8a5a00; }
`;

/** The results page: verdict counts per test and family, and the most recent runs. Self-contained, no scripts. */
export function renderSummaryPage(summary: ResultsSummary, recent: readonly StoredRun[]): string {
  return `${htmlHead({ title: 'mtuscope results', contentSecurityPolicy: SUMMARY_PAGE_POLICY, style: SUMMARY_PAGE_STYLE })}
<header>
<h1>mtuscope results</h1>
<nav><a href="/">Test your connection</a><a href="/api/results">All results as JSON</a></nav>
</header>
<main>
<section>
<h2>Verdicts</h2>
${renderTotals(summary)}
${testsIn(summary).map((test) => renderCountsTable(summary, test)).join('\n')}
</section>
<section>
<h2>Recent runs</h2>
${renderRecentRuns(recent)}
</section>
</main>
</body>
</html>
`;
}

function renderTotals(summary: ResultsSummary): string {
  if (summary.total === 0 || summary.firstStoredAt === null || summary.lastStoredAt === null) {
    return '<p>No runs recorded yet.</p>';
  }
  const runs = summary.total === 1 ? '1 run' : `${summary.total} runs`;
  return `<p>${escapeHtml(runs)} from ${renderTime(summary.firstStoredAt)} to ${renderTime(summary.lastStoredAt)}.</p>\n${renderNodes(summary)}`;
}

/** Which checker nodes ran the runs: a store may be shared by several (--store postgres://…, --node-name). */
function renderNodes(summary: ResultsSummary): string {
  const names = summary.nodes.map((n) => `${n.node ?? 'not recorded'} (${n.count})`);
  const nodes = summary.nodes.length === 1 ? '1 checker node' : `${summary.nodes.length} checker nodes`;
  return `<p class="nodes">Run by ${escapeHtml(nodes)}: ${escapeHtml(names.join(', '))}.</p>`;
}

/** The known tests, and any other test a store written by another version holds. */
function testsIn(summary: ResultsSummary): CheckerTest[] {
  return [...new Set([...TESTS, ...summary.counts.map((c) => c.test)])];
}

/** One row per family, one column per verdict of the test (all of them, so that a zero shows as 0). */
function renderCountsTable(summary: ResultsSummary, test: CheckerTest): string {
  const counts = summary.counts.filter((c) => c.test === test);
  const verdicts = [...new Set([...(VERDICTS_OF[test] ?? []), ...counts.map((c) => c.verdict)])];
  const families = [...new Set([...IP_FAMILY_NAMES, ...counts.map((c) => c.family)])];
  const countOf = (family: IpFamilyName | undefined, verdict: Verdict | undefined): number =>
    counts
      .filter((c) => (family === undefined || c.family === family) && (verdict === undefined || c.verdict === verdict))
      .reduce((sum, c) => sum + c.count, 0);
  const row = (label: string, family: IpFamilyName | undefined): string =>
    `<tr><th class="text">${escapeHtml(label)}</th>${verdicts.map((v) => `<td>${countOf(family, v)}</td>`).join('')}` +
    `<td>${countOf(family, undefined)}</td></tr>`;
  return `<table>
<caption>/${escapeHtml(test)}</caption>
<thead><tr><th class="text">family</th>${verdicts.map((v) => `<th class="${toneClass(v)}">${escapeHtml(v)}</th>`).join('')}<th>total</th></tr></thead>
<tbody>
${families.map((f) => row(f, f)).join('\n')}
</tbody>
<tfoot>${row('all', undefined)}</tfoot>
</table>`;
}

function renderRecentRuns(recent: readonly StoredRun[]): string {
  if (recent.length === 0) return '<p>No runs recorded yet.</p>';
  const header = ['time', 'node', 'test', 'family', 'client', 'verdict', 'largest packet', 'MTU', 'PTB / fragments sent', 'reaction'];
  const rows = recent.map((run) => {
    const e = run.result.evidence;
    return (
      `<tr><td class="text">${renderTime(run.storedAt)}</td>` +
      `<td class="text">${escapeHtml(run.node ?? '—')}</td>` +
      `<td class="text">${escapeHtml(run.test)}</td>` +
      `<td class="text">${escapeHtml(run.family)}</td>` +
      `<td class="text">${escapeHtml(run.clientAddress)}</td>` +
      `<td class="text ${toneClass(run.verdict)}" title="${escapeHtml(run.result.explanation)}">${escapeHtml(run.verdict)}</td>` +
      `<td>${escapeHtml(String(e.largestClientPacket))}</td>` +
      `<td>${escapeHtml(String(e.testMtu))}</td>` +
      `<td>${escapeHtml(interventions(run))}</td>` +
      `<td>${escapeHtml(reaction(e.reactionMs))}</td></tr>`
    );
  });
  return `<table>
<thead><tr>${header.map((h, i) => `<th${i < 6 ? ' class="text"' : ''}>${escapeHtml(h)}</th>`).join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`;
}

/** What the server did to the connection: Packet Too Big messages for /icmp, fragments for /frag; what it got for /download. */
function interventions(run: StoredRun): string {
  const e = run.result.evidence;
  if (run.test === 'download') {
    const d = e.download;
    if (d === undefined) return '—';
    return d.packetTooBigReceived > 0 ? `${d.packetTooBigReceived} PTB received (MTU ${d.reportedMtu ?? '?'})` : `${d.fullSizeAcknowledged} full-size acked`;
  }
  if (run.test === 'frag') {
    // Runs stored before fragmentsSuppressed existed lack it: undefined > 0 is false, so they show none held back.
    const held = e.fragmentsSuppressed > 0 ? ` (+${e.fragmentsSuppressed} rate-limited)` : '';
    return `${e.fragmentsSent} fragments${held}`;
  }
  const suppressed = e.packetTooBigSuppressed > 0 ? ` (+${e.packetTooBigSuppressed} rate-limited)` : '';
  return `${e.packetTooBigSent} PTB${suppressed}`;
}

function reaction(ms: number | null): string {
  if (ms === null) return '—';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

function renderTime(iso: string): string {
  const shown = iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(shown)}</time>`;
}

function toneClass(verdict: Verdict): string {
  switch (verdict) {
    case 'pass':
    case 'pass-probing':
    case 'clear':
      return 'tone-good';
    case 'blackhole':
    case 'blocked':
      return 'tone-bad';
    default:
      return 'tone-unclear';
  }
}

function positiveInteger(text: string): number | undefined {
  if (!/^[0-9]{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && Number.isSafeInteger(n) ? n : undefined;
}

/** The bad value as the error shows it: quoted, and cut short, as a query string can be long. */
function quote(value: string): string {
  return value.length > 64 ? `${JSON.stringify(value.slice(0, 64))}…` : JSON.stringify(value);
}
