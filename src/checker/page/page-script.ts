/**
 * The script of the checker's web page, served as /page.js (a module script; see page-asset.ts). It reads the page's
 * configuration from the `checker-config` JSON element, runs both tests against every target (one test at a time
 * per address family, because a test lowers the client's path MTU towards the server and would disturb another test
 * running at the same time) and fills in the result elements that renderIndexPage() rendered.
 *
 * Result elements carry their progress for people and for tests: data-state is idle (not started), queued,
 * running, done (data-verdict holds the verdict) or error.
 *
 * Browser code: besides types it imports only the chart module (../timeline-chart.js, served as /timeline-chart.js),
 * and everything from the network or the configuration reaches the page as text, never as markup — but for the
 * chart, whose SVG timelineChart() builds from checked numbers and escaped text.
 */
import type { PageScriptConfig, PageScriptTarget } from '../page-script-config.js';
import type { CheckerTest, TestEvidence, TestResult } from '../test-result.js';
import { resultTimelineChart } from '../timeline-chart.js';

const ICMP_BODY_BYTES = 8192;
const TESTS: readonly CheckerTest[] = ['icmp', 'frag', 'download'];

type EvidenceRow = readonly [label: string, value: (e: TestEvidence) => string];

const COMMON_EVIDENCE: readonly EvidenceRow[] = [
  ['Your address', (e) => `${e.clientAddress} port ${e.clientPort}`],
  ['Server address', (e) => `${e.serverAddress} port ${e.serverPort}`],
  ['MSS you announced', (e) => (e.clientMss === null ? 'none seen' : `${e.clientMss} bytes`)],
  ['Largest packet you sent', (e) => `${e.largestClientPacket} bytes`],
  ['Test MTU', (e) => `${e.testMtu} bytes`],
];
const TEST_EVIDENCE: Readonly<Record<CheckerTest, readonly EvidenceRow[]>> = {
  icmp: [
    ['Largest packet after the reaction', (e) => (e.largestPacketAfterReaction === null ? '-' : `${e.largestPacketAfterReaction} bytes`)],
    ['Oversized packets (DF set)', (e) => String(e.oversizedPackets)],
    ['Oversized packets without DF', (e) => String(e.oversizedWithoutDf)],
    ['Packet Too Big sent', (e) => String(e.packetTooBigSent)],
    ['Packet Too Big held back (rate limit)', (e) => String(e.packetTooBigSuppressed)],
    ['Your retransmissions', (e) => String(e.retransmissions)],
  ],
  frag: [
    ['Segments sent as fragments', (e) => String(e.segmentsFragmented)],
    ['Fragments sent', (e) => String(e.fragmentsSent)],
    ['Fragments held back (rate limit)', (e) => String(e.fragmentsSuppressed)],
    ['Server retransmissions', (e) => String(e.retransmissions)],
  ],
  download: [
    ['Full-size segments sent', (e) => String(e.download?.fullSizeSegments ?? '-')],
    ['Full-size segments acknowledged', (e) => String(e.download?.fullSizeAcknowledged ?? '-')],
    ['Full-size retransmissions', (e) => String(e.download?.fullSizeRetransmissions ?? '-')],
    ['Packet Too Big received', (e) => String(e.download?.packetTooBigReceived ?? '-')],
    ['Router that sent it', (e) => e.download?.router ?? '-'],
    ['MTU it reported', (e) => (e.download?.reportedMtu == null ? '-' : `${e.download.reportedMtu} bytes`)],
    ['Largest packet after it', (e) => (e.download?.largestAfterSignal == null ? '-' : `${e.download.largestAfterSignal} bytes`)],
    ['Path MTU the server assumed to finish', (e) => (e.download?.rescueMtu == null ? '-' : `${e.download.rescueMtu} bytes`)],
    ['Earlier path MTU flushed before the test', (e) => (e.download === undefined ? '-' : e.download.flushedBeforeStart ? 'yes' : 'no')],
  ],
};
const TIMING_EVIDENCE: readonly EvidenceRow[] = [
  ['Reaction time', (e) => (e.reactionMs === null ? '-' : `${e.reactionMs} ms`)],
  ['Test duration', (e) => `${e.durationMs} ms`],
  // Only a request that never arrived whole has these (the rows of an absent field are left out).
  ['Request bytes received in order', (e) => String(e.requestStall?.bytesReceived)],
  ['Highest request byte that arrived', (e) => String(e.requestStall?.bytesSeen)],
];

function required<T extends HTMLElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return el;
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text?: string): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (className !== '') el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Appends `text` to `parent`, its code spans (between backticks, as in Markdown) as code elements. */
function appendWithCode(parent: HTMLElement, text: string): void {
  const parts = text.split('`');
  // An odd number of backticks leaves the last one unpaired: it is text.
  if (parts.length % 2 === 0) parts.splice(-2, 2, `${parts.at(-2) ?? ''}\`${parts.at(-1) ?? ''}`);
  parts.forEach((part, i) => {
    if (i % 2 === 1) parent.appendChild(element('code', '', part));
    else if (part !== '') parent.appendChild(document.createTextNode(part));
  });
}

const config = JSON.parse(required('checker-config', HTMLScriptElement).textContent ?? '') as PageScriptConfig;
// A test can take about twice the server's window (interference, then letting the transfer complete).
const TIMEOUT_MS = (Math.max(1, Number(config.windowSeconds) || 10) * 3 + 30) * 1000;
const button = required('run-tests', HTMLButtonElement);
let busy = false;

function resultOf(targetIndex: number, test: CheckerTest): HTMLElement {
  return required(`result-${targetIndex}-${test}`, HTMLElement);
}

function show(el: HTMLElement, state: string, status: string, verdict?: string): void {
  el.setAttribute('data-state', state);
  if (verdict === undefined) el.removeAttribute('data-verdict');
  else el.setAttribute('data-verdict', verdict);
  const statusEl = el.querySelector('.status');
  if (statusEl === null) return;
  statusEl.textContent = status;
  statusEl.className = `status${verdict === undefined ? '' : ` verdict-${verdict.replace(/[^a-z-]/g, '')}`}`;
}

function clearDetail(el: HTMLElement): HTMLElement {
  const detail = el.querySelector<HTMLElement>('.detail') ?? el.appendChild(element('div', 'detail'));
  detail.replaceChildren();
  return detail;
}

function icmpBody(): string {
  const chunk = 'mtuscope ICMP test: an upload large enough to need packets bigger than the test MTU.\n';
  return chunk.repeat(Math.ceil(ICMP_BODY_BYTES / chunk.length)).slice(0, ICMP_BODY_BYTES);
}

function testUrl(baseUrl: string, test: CheckerTest): string {
  const url = new URL(baseUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`not an http(s) address: ${baseUrl}`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}/${test}?format=json`;
}

function evidenceTable(test: CheckerTest, evidence: TestEvidence): HTMLTableElement {
  const table = element('table', 'evidence');
  const body = element('tbody');
  for (const [label, valueOf] of [...COMMON_EVIDENCE, ...TEST_EVIDENCE[test], ...TIMING_EVIDENCE]) {
    let value: string;
    try {
      value = valueOf(evidence);
    } catch {
      value = '?';
    }
    // A server of another version may lack a field: leave its row out rather than show "undefined".
    if (value.includes('undefined')) continue;
    const tr = element('tr');
    tr.appendChild(element('th', '', label));
    tr.appendChild(element('td', '', value));
    body.appendChild(tr);
  }
  table.appendChild(body);
  return table;
}

function showResult(el: HTMLElement, test: CheckerTest, result: TestResult): void {
  const verdict = String(result.verdict);
  show(el, 'done', verdict, verdict);
  const detail = clearDetail(el);
  if (result.explanation) appendWithCode(detail.appendChild(element('p', 'explanation')), String(result.explanation));
  if (Array.isArray(result.advice) && result.advice.length > 0) {
    const list = element('ul', 'advice');
    for (const advice of result.advice) appendWithCode(list.appendChild(element('li')), String(advice));
    detail.appendChild(list);
  }
  if (typeof result.evidence === 'object' && result.evidence !== null) {
    // A server of an earlier version answers without a timeline: nothing to draw, nothing to say.
    const chart = result.timeline === undefined ? undefined : chartFigure(test, result);
    if (chart !== undefined) detail.appendChild(chart);
    detail.appendChild(evidenceTable(test, result.evidence));
  }
  const link = resultLink(result);
  if (link !== undefined) detail.appendChild(link);
}

/** The chart of the test's packets, as the result page draws it; undefined if it cannot be drawn. */
function chartFigure(test: CheckerTest, result: TestResult): HTMLElement | undefined {
  let svg: Element;
  try {
    const parsed = new DOMParser().parseFromString(resultTimelineChart({ test, evidence: result.evidence, timeline: result.timeline }), 'image/svg+xml');
    svg = parsed.documentElement;
  } catch {
    return undefined;
  }
  // A parse error comes back as a document of its own, not as an exception.
  if (svg.namespaceURI !== 'http://www.w3.org/2000/svg' || svg.localName !== 'svg') return undefined;
  const figure = element('figure', 'timeline');
  figure.appendChild(document.importNode(svg, true));
  return figure;
}

/** The link to the result's own page, when the server stored it; only an http(s) address becomes a link. */
function resultLink(result: TestResult & { resultUrl?: unknown }): HTMLElement | undefined {
  if (typeof result.resultUrl !== 'string') return undefined;
  let url: URL;
  try {
    url = new URL(result.resultUrl);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  const p = element('p', 'result-link', 'The page of this result, to send to your ISP or support team: ');
  const a = p.appendChild(element('a', '', url.href));
  a.href = url.href;
  return p;
}

/** The answer is JSON from the network: only what is checked here is trusted. */
function asResult(answer: unknown, test: CheckerTest): TestResult {
  if (typeof answer !== 'object' || answer === null || !('verdict' in answer) || typeof answer.verdict !== 'string') {
    throw new Error('the answer carries no verdict');
  }
  if (!('test' in answer) || answer.test !== test) throw new Error(`the answer is for test ${'test' in answer ? String(answer.test) : 'none'}, not ${test}`);
  return answer as TestResult;
}

async function fetchResult(target: PageScriptTarget, test: CheckerTest): Promise<TestResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  const init: RequestInit =
    test === 'icmp'
      ? { method: 'POST', cache: 'no-store', signal: controller.signal, headers: { 'content-type': 'text/plain' }, body: icmpBody() }
      : { method: 'GET', cache: 'no-store', signal: controller.signal };
  try {
    const res = await fetch(testUrl(target.baseUrl, test), init);
    if (!res.ok) {
      const text = (await res.text()).slice(0, 300);
      throw new Error(`HTTP ${res.status} ${res.statusText}${text ? `: ${text}` : ''}`);
    }
    // The fragments answer is streamed: padding first, the verdict at the very end, so read the whole body.
    return asResult(await res.json(), test);
  } catch (e) {
    if (controller.signal.aborted) throw new Error(`no answer within ${Math.round(TIMEOUT_MS / 1000)} s`, { cause: e });
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

async function runTest(target: PageScriptTarget, targetIndex: number, test: CheckerTest): Promise<void> {
  const el = resultOf(targetIndex, test);
  const started = Date.now();
  clearDetail(el);
  show(el, 'running', 'running\u2026 0 s');
  const ticker = setInterval(() => show(el, 'running', `running\u2026 ${Math.floor((Date.now() - started) / 1000)} s`), 1000);
  try {
    const result = await fetchResult(target, test);
    clearInterval(ticker);
    showResult(el, test, result);
  } catch (e) {
    clearInterval(ticker);
    let message = e instanceof Error ? e.message : String(e);
    if (e instanceof TypeError && /fetch/i.test(message)) message += ' (server unreachable, connection reset, or the answer was refused)';
    show(el, 'error', `error: ${message}`);
  }
}

interface Entry {
  readonly target: PageScriptTarget;
  readonly index: number;
}

async function runFamily(entries: readonly Entry[]): Promise<void> {
  for (const { target, index } of entries) {
    for (const test of TESTS) await runTest(target, index, test);
  }
}

async function runAll(): Promise<void> {
  if (busy) return;
  busy = true;
  button.disabled = true;
  button.textContent = 'Running\u2026';
  const families = new Map<string, Entry[]>();
  config.targets.forEach((target, index) => {
    const entries = families.get(target.family) ?? [];
    entries.push({ target, index });
    families.set(target.family, entries);
    for (const test of TESTS) {
      clearDetail(resultOf(index, test));
      show(resultOf(index, test), 'queued', 'waiting\u2026');
    }
  });
  try {
    await Promise.all([...families.values()].map(runFamily));
  } finally {
    busy = false;
    button.disabled = false;
    button.textContent = 'Run tests again';
  }
}

button.addEventListener('click', () => void runAll());
if (!new URLSearchParams(location.search).has('manual')) void runAll();
