import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { ConnectionReport } from '../engine/connection-report.js';
import type { CheckerEngine } from '../engine/engine-client.js';
import type { EngineStats } from '../engine/engine-stats.js';
import type { ConnectionEndpoints } from '../engine/tracked-connection.js';
import { familyLabel, familyMap, familyOfAddress, type IpFamily } from '../packet/ip-family.js';
import { errorMessage } from '../util/error-message.js';
import { downloadVerdict } from './download-verdict.js';
import { connectionEvidence } from './evidence.js';
import { explain } from './explain.js';
import { fragVerdict } from './frag-verdict.js';
import { icmpVerdict } from './icmp-verdict.js';
import { loadPageScript, PAGE_SCRIPT_PATH, type StaticAsset } from './page-asset.js';
import { renderTextReport } from './report-text.js';
import { parseResultsQuery, renderResultsJson, renderSummaryPage } from './results-api.js';
import type { ResultsStore } from './results-store.js';
import type { ServeOptions } from './serve-options.js';
import { TestAdmission } from './test-admission.js';
import { clientForLog, testLogLine, type TestRun } from './test-log.js';
import type { CheckerTest, TestEvidence, TestResult, Verdict } from './test-result.js';
import { renderIndexPage, type PageTarget } from './web-page.js';

/** The smallest /icmp body that needs full-sized packets on any common path ("at least 4 KB", docs/verdicts.md). */
export const MIN_ICMP_BODY = 4096;
/** How long a /frag response waits for its verdict beyond the fragment window. */
const FRAG_VERDICT_GRACE_MS = 5000;
/** The /download padding: "at least 64 KB", several windows of full-size segments (docs/verdicts.md). */
export const DOWNLOAD_RESPONSE_BYTES = 65536;
/** How long a /download response waits for its verdict beyond the download window. */
const DOWNLOAD_VERDICT_GRACE_MS = 5000;

/** The text answer of a test (the JSON answer is the result itself). */
export type ReportRenderer = (result: TestResult) => string;

export interface CheckerServerDeps {
  readonly options: ServeOptions;
  readonly engine: CheckerEngine;
  readonly store: ResultsStore;
  /** One line of the service's log. */
  readonly log: (line: string) => void;
  /** Default renderTextReport. */
  readonly renderReport?: ReportRenderer;
}

interface TestRoute {
  readonly test: CheckerTest;
  readonly method: 'GET' | 'POST';
  /** The answer to a request with another method. */
  readonly usage: string;
}

const TEST_ROUTES: Readonly<Record<string, TestRoute>> = {
  '/icmp': { test: 'icmp', method: 'POST', usage: `POST a body of at least ${MIN_ICMP_BODY} bytes, e.g. curl http://HOST/icmp --data @payload.bin` },
  '/frag': { test: 'frag', method: 'GET', usage: 'use GET, e.g. curl http://HOST/frag' },
  '/download': { test: 'download', method: 'GET', usage: 'use GET, e.g. curl http://HOST/download' },
};

/** `::ffff:10.0.0.1` (an IPv4 client of a dual-stack socket) is the IPv4 client 10.0.0.1 to the engine. */
function plainAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function wantsJson(req: IncomingMessage, url: URL): boolean {
  const format = url.searchParams.get('format');
  if (format !== null) return format === 'json';
  return (req.headers.accept ?? '').includes('application/json');
}

const COMMON_HEADERS = {
  'Cache-Control': 'no-store',
  // Each test must start on a connection of its own: the engine reads the test from the first request line.
  Connection: 'close',
  'Access-Control-Allow-Origin': '*',
} as const;

function contentType(json: boolean): string {
  return json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8';
}

function sendError(res: ServerResponse, status: number, message: string, json: boolean, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { ...COMMON_HEADERS, 'Content-Type': contentType(json), ...extra });
  res.end(json ? `${JSON.stringify({ error: message })}\n` : `error: ${message}\n`);
}

/** The engine process is gone or did not answer: nothing can be tested until the service restarts. */
function sendEngineUnavailable(res: ServerResponse, err: unknown, json: boolean): void {
  sendError(res, 503, `the packet engine is not available: ${errorMessage(err)}`, json);
}

function paddingText(bytes: number): string {
  const line = 'This line is padding, so that the response needs several full-sized packets.\n';
  return line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes);
}

/** The checker's HTTP side: the tests, the page, the results; the engine does the packet work. */
export class CheckerServer {
  private readonly servers: Server[] = [];
  private readonly admission: TestAdmission;
  private readonly renderReport: ReportRenderer;
  private readonly pageScript: StaticAsset;

  /** Throws when the web page's script is not built. */
  constructor(private readonly deps: CheckerServerDeps) {
    this.admission = new TestAdmission(deps.options.testRate, deps.options.maxConcurrentTests);
    this.renderReport = deps.renderReport ?? renderTextReport;
    this.pageScript = loadPageScript();
  }

  /** Listens on every configured address; resolves with those it listens on. */
  async listen(): Promise<string[]> {
    const { options } = this.deps;
    const listening: string[] = [];
    for (const address of options.listen) {
      const server = createServer((req, res) => this.route(req, res));
      server.headersTimeout = 10_000;
      // Long enough for a blackholed upload: the window, then the client's backed-off retransmission.
      server.requestTimeout = options.icmpWindowMs + options.fragWindowMs + options.downloadWindowMs + 60_000;
      server.timeout = options.idleTimeoutMs;
      server.keepAliveTimeout = 1000;
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', (err: NodeJS.ErrnoException) => reject(Object.assign(new Error(`cannot listen on [${address}]:${options.port}: ${err.message}`), { code: err.code })));
          server.listen({ host: address, port: options.port, ipv6Only: isIP(address) === 6 }, () => resolve());
        });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (options.listenIsDefault && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) {
          this.deps.log(`${(err as Error).message}; serving the other family only`);
          continue;
        }
        throw err;
      }
      this.servers.push(server);
      listening.push(address);
    }
    if (listening.length === 0) throw new Error('listens on no address');
    return listening;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://checker.invalid');
    } catch {
      sendError(res, 400, 'malformed request target', false);
      return;
    }
    const json = wantsJson(req, url);
    // Whatever a handler throws ends this request only, never the service.
    this.handle(req, res, url, json).catch((err: unknown) => {
      const client = clientForLog(plainAddress(req.socket.remoteAddress), this.deps.options.truncateAddresses);
      this.deps.log(`${req.method ?? 'GET'} ${url.pathname} from ${client} failed: ${errorMessage(err)}`);
      req.resume();
      sendError(res, 500, 'the server failed to answer this request (it logged why)', json);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse, url: URL, json: boolean): Promise<void> {
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      res.writeHead(204, { ...COMMON_HEADERS, 'Access-Control-Allow-Methods': 'GET, POST', 'Access-Control-Allow-Headers': 'Content-Type, Accept' });
      res.end();
      return;
    }
    const testRoute = TEST_ROUTES[url.pathname];
    if (testRoute !== undefined) {
      if (method !== testRoute.method) {
        sendError(res, 405, testRoute.usage, json, { Allow: testRoute.method });
        return;
      }
      await this.runTest(testRoute.test, req, res, json);
      return;
    }
    switch (url.pathname) {
      case '/':
      case '/index.html':
        this.page(req, res);
        return;
      case PAGE_SCRIPT_PATH:
        this.asset(req, res, this.pageScript);
        return;
      case '/favicon.ico':
        // Browsers ask for it with every page; the page has no icon, and says so without filling logs with 404s.
        res.writeHead(204, { ...COMMON_HEADERS, 'Cache-Control': 'public, max-age=86400' });
        res.end();
        return;
      case '/results':
        this.summary(res);
        return;
      case '/api/results':
        this.results(res, url);
        return;
      case '/api/stats':
        await this.stats(res);
        return;
      default:
        sendError(res, 404, `no such page: ${url.pathname} (try /, /icmp, /frag, /download, /results or /api/results)`, json);
    }
  }

  /** Runs one test and logs it (testLogLine) once its answer is over, however it ended. */
  private async runTest(test: CheckerTest, req: IncomingMessage, res: ServerResponse, json: boolean): Promise<void> {
    const run: TestRun = { test, client: plainAddress(req.socket.remoteAddress), startedAt: new Date(), verdict: undefined };
    const started = performance.now();
    res.once('close', () => {
      const status = !res.headersSent ? undefined : { code: res.statusCode, complete: res.writableFinished };
      this.deps.log(testLogLine(run, status, performance.now() - started, this.deps.options.truncateAddresses));
    });
    if (test === 'icmp') await this.runIcmp(run, req, res, json);
    else if (test === 'download') await this.runDownload(run, req, res, json);
    else await this.runFrag(run, req, res, json);
  }

  /**
   * Admission of the test, and the engine's record of this request's connection (which must have been read as this
   * test). Undefined when the request was answered with an error.
   */
  private async begin(
    run: TestRun,
    req: IncomingMessage,
    res: ServerResponse,
    json: boolean,
  ): Promise<{ endpoints: ConnectionEndpoints; release(): void } | undefined> {
    const { test, client } = run;
    const admitted = this.admission.admit(client);
    if (!admitted.ok) {
      req.resume();
      sendError(res, admitted.status, admitted.reason, json, { 'Retry-After': admitted.status === 429 ? '60' : '5' });
      return undefined;
    }
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      admitted.release();
    };
    res.on('close', release);
    const endpoints: ConnectionEndpoints = {
      family: familyOfAddress(client),
      clientAddress: client,
      clientPort: req.socket.remotePort ?? 0,
      serverAddress: plainAddress(req.socket.localAddress),
      serverPort: req.socket.localPort ?? 0,
    };
    let report: ConnectionReport | undefined;
    try {
      report = await this.deps.engine.connection(endpoints);
    } catch (err) {
      release();
      req.resume();
      sendEngineUnavailable(res, err, json);
      return undefined;
    }
    if (report === undefined || report.mode !== test) {
      release();
      req.resume();
      sendError(
        res,
        503,
        report === undefined
          ? 'the packet engine did not see this connection open (it may have been opened before the engine started); please retry'
          : `the packet engine did not read this connection's request line as a /${test} test (send it as the first request of a new connection, in origin form)`,
        json,
      );
      return undefined;
    }
    return { endpoints, release };
  }

  private async runIcmp(run: TestRun, req: IncomingMessage, res: ServerResponse, json: boolean): Promise<void> {
    const { options, engine } = this.deps;
    // Counted from the start, while the engine is still being asked: the body flows meanwhile.
    let bytes = 0;
    let ended = false;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > options.maxBodyBytes && !refused) {
        refused = true;
        sendError(res, 413, `the body is larger than ${options.maxBodyBytes} bytes, the most this server accepts`, json);
      }
    });
    const bodyDone = new Promise<void>((resolve) => {
      req.on('end', () => {
        ended = true;
        resolve();
      });
      req.on('error', () => resolve());
    });
    const started = await this.begin(run, req, res, json);
    if (started === undefined) return;
    await bodyDone;
    if (refused || !ended) {
      started.release();
      return;
    }
    if (bytes < MIN_ICMP_BODY) {
      sendError(res, 400, `the body has ${bytes} bytes; the test needs at least ${MIN_ICMP_BODY} so that full-sized packets are sent`, json);
      return;
    }
    let report: ConnectionReport | undefined;
    try {
      report = await engine.connection(started.endpoints);
    } catch (err) {
      sendEngineUnavailable(res, err, json);
      return;
    }
    if (report === undefined) {
      sendError(res, 503, 'the packet engine lost track of this connection; please retry', json);
      return;
    }
    const evidence = connectionEvidence(report, options.icmpMtu[report.family]);
    const verdict = icmpVerdict(
      {
        oversized: evidence.oversizedPackets,
        oversizedWithoutDf: evidence.oversizedWithoutDf,
        packetTooBigSent: evidence.packetTooBigSent,
        reactionMs: evidence.reactionMs,
      },
      options.reactionWindowMs,
    );
    const result = this.finish(run, verdict, evidence, report);
    const answer = json ? `${JSON.stringify(result)}\n` : this.renderReport(result);
    res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': contentType(json) });
    res.end(answer);
  }

  private async runFrag(run: TestRun, req: IncomingMessage, res: ServerResponse, json: boolean): Promise<void> {
    req.resume();
    const started = await this.begin(run, req, res, json);
    if (started === undefined) return;
    const { options, engine } = this.deps;
    res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': contentType(json) });
    // The verdict can only be known once this part has travelled as fragments (or failed to), so it goes first.
    const padding = paddingText(options.fragResponseBytes);
    res.write(json ? `{"padding":${JSON.stringify(padding)},` : `mtuscope: this response reaches you as IP fragments; its last line says whether they arrived.\n\n${padding}\n`);
    let report: ConnectionReport | undefined;
    try {
      report = await engine.fragOutcome(started.endpoints, options.fragWindowMs + FRAG_VERDICT_GRACE_MS);
    } catch {
      report = undefined;
    }
    if (res.destroyed) return;
    if (report === undefined) {
      // Nothing true can be said any more; cutting the response short tells the client so.
      res.destroy();
      return;
    }
    const evidence = connectionEvidence(report, options.fragmentSize[report.family]);
    const result = this.finish(run, fragVerdict(report.frag), evidence, report);
    res.end(json ? `${JSON.stringify(result).slice(1)}\n` : this.renderReport(result));
  }

  private async runDownload(run: TestRun, req: IncomingMessage, res: ServerResponse, json: boolean): Promise<void> {
    req.resume();
    const started = await this.begin(run, req, res, json);
    if (started === undefined) return;
    const { options, engine } = this.deps;
    res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': contentType(json) });
    // The headers leave alone first: sending them makes the kernel look up the route again, so that a cached path MTU the
    // engine has just flushed (see PacketEngine.classify) no longer sizes the padding's segments.
    res.flushHeaders();
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (res.destroyed) return;
    // The verdict is known only once this part has travelled (or got stuck) in full-size segments, so it goes first.
    const padding = paddingText(DOWNLOAD_RESPONSE_BYTES);
    res.write(json ? `{"padding":${JSON.stringify(padding)},` : `mtuscope: this response starts with ${DOWNLOAD_RESPONSE_BYTES} bytes of padding in full-size packets; its last line is the verdict.\n\n${padding}\n`);
    let report: ConnectionReport | undefined;
    try {
      report = await engine.downloadOutcome(started.endpoints, options.downloadWindowMs + DOWNLOAD_VERDICT_GRACE_MS);
    } catch {
      report = undefined;
    }
    if (res.destroyed) return;
    if (report === undefined) {
      // Nothing true can be said any more; cutting the response short tells the client so.
      res.destroy();
      return;
    }
    const evidence = connectionEvidence(report, 0);
    const verdict = downloadVerdict(report.download, options.downloadMaxRetransmissions);
    const result = this.finish(run, verdict, evidence, report);
    res.end(json ? `${JSON.stringify(result).slice(1)}\n` : this.renderReport(result));
  }

  private finish(run: TestRun, verdict: Verdict, evidence: TestEvidence, report: ConnectionReport): TestResult {
    const { options, store, log } = this.deps;
    const { test } = run;
    run.verdict = verdict;
    const windowMs = test === 'icmp' ? options.icmpWindowMs : test === 'frag' ? options.fragWindowMs : options.downloadWindowMs;
    const { explanation, advice } = explain(test, verdict, evidence, windowMs);
    const result: TestResult = {
      test,
      verdict,
      explanation,
      advice,
      startedAt: new Date(Date.now() - report.ageMs).toISOString(),
      evidence,
    };
    try {
      store.record(result);
    } catch (err) {
      log(`results store: ${errorMessage(err)}`);
    }
    return result;
  }

  private page(req: IncomingMessage, res: ServerResponse): void {
    const { options } = this.deps;
    const local = plainAddress(req.socket.localAddress);
    const localFamily = isIP(local);
    const specific = (family: IpFamily): string[] => options.listen.filter((a) => isIP(a) === family && a !== '0.0.0.0' && a !== '::');
    const serves = (family: IpFamily): boolean => options.listen.some((a) => isIP(a) === family);
    const urlFor = (family: IpFamily): string | undefined => {
      const configured = options.testBaseUrl[family];
      if (configured !== undefined) return configured;
      if (!serves(family)) return undefined;
      if (family === localFamily && req.headers.host !== undefined) return `http://${req.headers.host}`;
      const address = specific(family)[0];
      if (address === undefined) return undefined;
      return family === 4 ? `http://${address}:${options.port}` : `http://[${address}]:${options.port}`;
    };
    const targets: PageTarget[] = [];
    for (const family of [4, 6] as const) {
      const baseUrl = urlFor(family);
      if (baseUrl !== undefined) targets.push({ family, label: familyLabel(family), baseUrl });
    }
    const addresses = (family: IpFamily): string[] => {
      const list = specific(family);
      if (localFamily === family && !list.includes(local)) list.push(local);
      return list;
    };
    const html = renderIndexPage({
      targets,
      icmpMtu: options.icmpMtu,
      fragmentSize: options.fragmentSize,
      windowSeconds: Math.round(options.icmpWindowMs / 1000),
      serverAddresses: familyMap(addresses),
    });
    res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html);
  }

  /** A file of the page, revalidated by its ETag on every load so that a new build is picked up at once. */
  private asset(req: IncomingMessage, res: ServerResponse, asset: StaticAsset): void {
    const headers = { ...COMMON_HEADERS, 'Cache-Control': 'no-cache', ETag: asset.etag, 'X-Content-Type-Options': 'nosniff' };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': asset.contentType, 'Content-Length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  private summary(res: ServerResponse): void {
    const { store } = this.deps;
    res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': 'text/html; charset=utf-8' });
    res.end(renderSummaryPage(store.summary(), store.list({ limit: 50 })));
  }

  private results(res: ServerResponse, url: URL): void {
    const parsed = parseResultsQuery(url.searchParams);
    if (!parsed.ok) {
      sendError(res, 400, parsed.error, true);
      return;
    }
    const runs = this.deps.store.list(parsed.query);
    res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': contentType(true) });
    res.end(`${renderResultsJson(runs, parsed.query.limit)}\n`);
  }

  private async stats(res: ServerResponse): Promise<void> {
    let stats: EngineStats;
    try {
      stats = await this.deps.engine.stats();
    } catch (err) {
      sendEngineUnavailable(res, err, true);
      return;
    }
    res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': contentType(true) });
    res.end(`${JSON.stringify({ ...stats, runningTests: this.admission.runningTests })}\n`);
  }
}
