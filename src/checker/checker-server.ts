import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { ConnectionReport } from '../engine/connection-report.js';
import type { CheckerEngine } from '../engine/engine-client.js';
import type { EngineStats } from '../engine/engine-stats.js';
import type { ConnectionEndpoints } from '../engine/tracked-connection.js';
import { familyOfAddress } from '../packet/ip-family.js';
import { errorMessage } from '../util/error-message.js';
import { CheckerMetrics } from './checker-metrics.js';
import { ConnectionRequests, LATER_REQUEST_REFUSAL } from './connection-requests.js';
import { downloadVerdict } from './download-verdict.js';
import { connectionEvidence } from './evidence.js';
import { explain } from './explain.js';
import { fragVerdict } from './frag-verdict.js';
import { icmpVerdict } from './icmp-verdict.js';
import { loadPageScripts, type StaticAsset } from './page-asset.js';
import { pageTargets } from './page-targets.js';
import { renderTextReport } from './report-text.js';
import { isResultId } from './result-id.js';
import { renderResultPage, resultPagePath } from './result-page.js';
import { asksForJson, requestHeadAsksForJson } from './request-head.js';
import { STALL_GRACE_MS, whenRequestStalls } from './request-stall-watch.js';
import { type RequestLineRead, stalledFragVerdict, stalledIcmpVerdict, testOfStalledRequest } from './stalled-request-verdict.js';
import { parseResultsQuery, renderResultsJson, renderSummaryPage } from './results-api.js';
import type { ResultsStore, StoredRun } from './results-store.js';
import type { ServeOptions } from './serve-options.js';
import type { ServiceLog } from './service-log.js';
import { TestAdmission } from './test-admission.js';
import { type AnswerStatus, clientForLog, testLogFields, testLogLine, type TestRun } from './test-log.js';
import type { CheckerTest, RequestStall, TestEvidence, TestResult, Verdict } from './test-result.js';
import { UdpResponderHost } from './udp-responder-host.js';
import { renderIndexPage } from './web-page.js';
import { serviceUrl } from './service-url.js';

/** The smallest /icmp body that needs full-sized packets on any common path ("at least 4 KB", docs/verdicts.md). */
export const MIN_ICMP_BODY = 4096;
/** How long a /frag response waits for its verdict beyond the fragment window. */
const FRAG_VERDICT_GRACE_MS = 5000;
/** The /download padding: "at least 64 KB", several windows of full-size segments (docs/verdicts.md). */
export const DOWNLOAD_RESPONSE_BYTES = 65536;
/** How long a /download response waits for its verdict beyond the download window. */
const DOWNLOAD_VERDICT_GRACE_MS = 5000;

/** The text answer of a test, with the address of its page when it was stored (the JSON answer is the result itself). */
export type ReportRenderer = (result: TestResult, pageUrl?: string, verbose?: boolean) => string;

/** A test's result as it is answered: the JSON answer carries the id and address of its page when it was stored. */
type AnsweredResult = TestResult & { readonly resultId?: string; readonly resultUrl?: string };

export interface CheckerServerDeps {
  readonly options: ServeOptions;
  readonly engine: CheckerEngine;
  readonly store: ResultsStore;
  /** One line of the service's log. */
  readonly log: ServiceLog;
  /** Default renderTextReport. */
  readonly renderReport?: ReportRenderer;
  /** The host's addresses, candidates for the web page's other family under a wildcard listen; default: every interface's. */
  readonly hostAddresses?: () => readonly string[];
}

function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
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

/** `?verbose=1`: the text answer lists the test's packets too (the JSON answer always carries them). */
function wantsVerbose(req: IncomingMessage): boolean {
  const verbose = new URL(req.url ?? '/', 'http://checker.invalid').searchParams.get('verbose');
  return verbose !== null && verbose !== '0' && verbose !== 'false';
}

function wantsJson(req: IncomingMessage, url: URL): boolean {
  return asksForJson(url.searchParams.get('format'), req.headers.accept ?? '');
}

// No Connection header: each test must start on a connection of its own (the engine reads the test from the first
// request line), and ConnectionRequests makes a test's answer close its connection unless a later request waits for
// its refusal.
const COMMON_HEADERS = {
  'Cache-Control': 'no-store',
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

/** The service's address as the connection reached it. */
function socketBaseUrl(socket: Socket): string {
  return serviceUrl(plainAddress(socket.localAddress), socket.localPort ?? 80);
}

/** The service's address as this request reached it, for links in answers: the Host the client used, else the socket's. */
function baseUrlOf(req: IncomingMessage): string {
  const host = req.headers.host;
  if (host !== undefined && /^[A-Za-z0-9.:[\]-]+$/.test(host)) return `http://${host}`;
  return socketBaseUrl(req.socket);
}

/** The connection as the engine knows it; `client` is its remote address, an IPv4-mapped one as plain IPv4. */
function socketEndpoints(socket: Socket, client: string): ConnectionEndpoints {
  return {
    family: familyOfAddress(client),
    clientAddress: client,
    clientPort: socket.remotePort ?? 0,
    serverAddress: plainAddress(socket.localAddress),
    serverPort: socket.localPort ?? 0,
  };
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
  private readonly pageScripts: ReadonlyMap<string, StaticAsset>;
  private readonly metrics: CheckerMetrics;
  private listening: readonly string[] = [];
  /** The UDP responder on the same port (undefined with --no-udp). */
  private readonly udp: UdpResponderHost | undefined;
  /** The addresses the UDP responder answers on. */
  udpListening: readonly string[] = [];
  private readonly connectionRequests = new ConnectionRequests();
  /** Per connection until its first request arrives: answers a request that never arrives whole (watchConnection). */
  private readonly requestWatches = new WeakMap<Socket, AbortController>();

  /** Throws when the web page's script is not built. */
  constructor(private readonly deps: CheckerServerDeps) {
    this.admission = new TestAdmission(deps.options.testRate, deps.options.maxConcurrentTests, undefined, deps.options.ipv6ClientPrefix);
    this.renderReport = deps.renderReport ?? renderTextReport;
    this.pageScripts = loadPageScripts();
    const { options } = deps;
    this.udp = options.udp
      ? new UdpResponderHost({ ...options.udpSettings, ipv6ClientPrefix: options.ipv6ClientPrefix }, (line) => deps.log(line, { level: 'error' }), { mark: options.mark })
      : undefined;
    const udp = this.udp;
    this.metrics = new CheckerMetrics({
      runningTests: () => this.admission.runningTests,
      storeFailures: () => deps.store.failures.writes,
      ...(udp === undefined ? {} : { udpCounters: () => udp.responder.counters }),
    });
  }

  /** Listens on every configured address; resolves with those it listens on. */
  async listen(): Promise<string[]> {
    const { options } = this.deps;
    const listening: string[] = [];
    for (const address of options.listen) {
      const server = createServer((req, res) => this.route(req, res));
      server.on('connection', (socket: Socket) => this.watchConnection(socket));
      // Headers that stall behind a black hole are answered at the window's end (watchConnection), not with a 408.
      server.headersTimeout = options.icmpWindowMs + STALL_GRACE_MS + 10_000;
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
    if (this.udp !== undefined) {
      const udpListening: string[] = [];
      try {
        for (const address of listening) udpListening.push(...(await this.udp.listen(address, options.port)));
      } catch (err) {
        await this.close();
        throw err;
      }
      this.udpListening = udpListening;
    }
    this.listening = listening;
    return listening;
  }

  async close(): Promise<void> {
    await this.udp?.close();
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
      res.shouldKeepAlive = false;
      sendError(res, 400, 'malformed request target', false);
      return;
    }
    const json = wantsJson(req, url);
    this.requestWatches.get(req.socket)?.abort();
    if (!this.connectionRequests.arrive(req, res, (later) => sendError(later, 400, LATER_REQUEST_REFUSAL, json))) return;
    // Whatever a handler throws ends this request only, never the service.
    this.handle(req, res, url, json).catch((err: unknown) => {
      const client = clientForLog(plainAddress(req.socket.remoteAddress), this.deps.options.truncateAddresses);
      this.deps.log(`${req.method ?? 'GET'} ${url.pathname} from ${client} failed: ${errorMessage(err)}`, { level: 'error' });
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
    const script = this.pageScripts.get(url.pathname);
    if (script !== undefined) {
      this.asset(req, res, script);
      return;
    }
    switch (url.pathname) {
      case '/':
      case '/index.html':
        this.page(req, res);
        return;
      case '/favicon.ico':
        // Browsers ask for it with every page; the page has no icon, and says so without filling logs with 404s.
        res.writeHead(204, { ...COMMON_HEADERS, 'Cache-Control': 'public, max-age=86400' });
        res.end();
        return;
      case '/results':
        await this.summary(res);
        return;
      case '/api/results':
        await this.results(res, url);
        return;
      case '/api/stats':
        await this.stats(res);
        return;
      case '/metrics':
        await this.metricsText(res);
        return;
      default:
        if (url.pathname.startsWith('/r/')) {
          await this.resultPage(res, url.pathname.slice(3), false);
          return;
        }
        if (url.pathname.startsWith('/api/results/')) {
          await this.resultPage(res, url.pathname.slice('/api/results/'.length), true);
          return;
        }
        sendError(res, 404, `no such page: ${url.pathname} (try /, /icmp, /frag, /download, /results or /api/results)`, json);
    }
  }

  /** Runs one test and logs it (testLogLine) once its answer is over, however it ended. */
  private async runTest(test: CheckerTest, req: IncomingMessage, res: ServerResponse, json: boolean): Promise<void> {
    const run: TestRun = { test, client: plainAddress(req.socket.remoteAddress), startedAt: new Date(), verdict: undefined };
    const started = performance.now();
    res.once('close', () => this.testEnded(run, !res.headersSent ? undefined : { code: res.statusCode, complete: res.writableFinished }, performance.now() - started));
    if (test === 'icmp') await this.runIcmp(run, req, res, json);
    else if (test === 'download') await this.runDownload(run, req, res, json);
    else await this.runFrag(run, req, res, json);
  }

  /** A test's answer is over, however it ended: counted and logged. */
  private testEnded(run: TestRun, status: AnswerStatus | undefined, durationMs: number): void {
    const { truncateAddresses } = this.deps.options;
    this.metrics.testEnded(run, durationMs);
    this.deps.log(testLogLine(run, status, durationMs, truncateAddresses), { fields: testLogFields(run, status, durationMs, truncateAddresses) });
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
    // The connection's close too: an answer that never got to be written (the client went away first) may never close.
    res.on('close', release);
    req.socket.once('close', release);
    const endpoints = socketEndpoints(req.socket, client);
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
    // An upload that stalls (behind a black hole on the client's side, say) is answered at the window's end.
    const watch = new AbortController();
    let stalled: ConnectionReport | undefined;
    try {
      stalled = await Promise.race([
        bodyDone.then(() => undefined),
        whenRequestStalls({ engine, endpoints: started.endpoints, bytesReceived: () => req.socket.bytesRead, windowMs: options.icmpWindowMs, signal: watch.signal }),
      ]);
    } catch (err) {
      sendEngineUnavailable(res, err, json);
      return;
    } finally {
      watch.abort();
    }
    if (stalled !== undefined && !ended && !refused && !res.destroyed) {
      const stall: RequestStall = { bytesReceived: req.socket.bytesRead, bytesSeen: stalled.clientBytesSeen, requestLineSeen: true };
      const answered = await this.icmpResult(run, stalled, baseUrlOf(req), stall);
      if (res.destroyed) return;
      res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': contentType(json) });
      res.end(json ? `${JSON.stringify(answered)}\n` : this.renderReport(answered, answered.resultUrl, wantsVerbose(req)));
      return;
    }
    if (!ended) await bodyDone;
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
    const answered = await this.icmpResult(run, report, baseUrlOf(req));
    const answer = json ? `${JSON.stringify(answered)}\n` : this.renderReport(answered, answered.resultUrl, wantsVerbose(req));
    res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': contentType(json) });
    res.end(answer);
  }

  /** The /icmp result from the engine's report; `stall` when the upload never arrived whole. */
  private icmpResult(run: TestRun, report: ConnectionReport, baseUrl: string, stall?: RequestStall): Promise<AnsweredResult> {
    const { options } = this.deps;
    const measured = connectionEvidence(report, options.icmpMtu[report.family]);
    const evidence: TestEvidence = stall === undefined ? measured : { ...measured, requestStall: stall };
    const observation = {
      oversized: evidence.oversizedPackets,
      oversizedWithoutDf: evidence.oversizedWithoutDf,
      packetTooBigSent: evidence.packetTooBigSent,
      reactionMs: evidence.reactionMs,
    };
    const verdict = stall === undefined ? icmpVerdict(observation, options.reactionWindowMs) : stalledIcmpVerdict(observation, stall, options.reactionWindowMs);
    return this.finish(run, verdict, evidence, report, baseUrl);
  }

  /**
   * Watches a new connection until its first request arrives. One that never arrives whole by the window's end (the
   * client's larger packets die on its side of the path, so the server may not even see the request line) is
   * answered on the socket itself if it asked for a test (testOfStalledRequest), in JSON when the request's first bytes,
   * as the engine read them, asked for it; otherwise Node's own timeouts end it.
   */
  private watchConnection(socket: Socket): void {
    const watch = new AbortController();
    this.requestWatches.set(socket, watch);
    socket.once('close', () => watch.abort());
    const client = plainAddress(socket.remoteAddress);
    if (client === '') return;
    const { engine, options } = this.deps;
    whenRequestStalls({ engine, endpoints: socketEndpoints(socket, client), bytesReceived: () => socket.bytesRead, windowMs: options.icmpWindowMs, signal: watch.signal }).then(
      (report) => {
        if (report === undefined || watch.signal.aborted || socket.destroyed) return;
        this.answerStalledConnection(socket, client, report).catch((err: unknown) => {
          this.deps.log(`answering the stalled connection of ${clientForLog(client, options.truncateAddresses)} failed: ${errorMessage(err)}`, { level: 'error' });
          socket.destroy();
        });
      },
      // The engine is gone: nothing can be said, and Node's timeouts end the connection.
      () => undefined,
    );
  }

  private async answerStalledConnection(socket: Socket, client: string, report: ConnectionReport): Promise<void> {
    const read: RequestLineRead = report.mode === 'pending' ? 'unread' : report.mode;
    const test = testOfStalledRequest(read, report.clientBytesSeen, MIN_ICMP_BODY);
    if (test === undefined) return;
    const admitted = this.admission.admit(client);
    if (!admitted.ok) {
      socket.destroy();
      return;
    }
    const run: TestRun = { test, client, startedAt: new Date(Date.now() - report.ageMs), verdict: undefined };
    const stall: RequestStall = { bytesReceived: socket.bytesRead, bytesSeen: report.clientBytesSeen, requestLineSeen: read !== 'unread' };
    try {
      const { options } = this.deps;
      const baseUrl = socketBaseUrl(socket);
      const result =
        test === 'icmp'
          ? await this.icmpResult(run, report, baseUrl, stall)
          : await this.finish(run, stalledFragVerdict(), { ...connectionEvidence(report, test === 'frag' ? options.fragmentSize[report.family] : 0), requestStall: stall }, report, baseUrl);
      if (socket.destroyed) return;
      // The engine may have read the request's first bytes although the server's TCP never delivered them.
      const json = report.requestHead !== null && requestHeadAsksForJson(report.requestHead);
      const body = json ? `${JSON.stringify(result)}\n` : this.renderReport(result, result.resultUrl);
      const head = [
        'HTTP/1.1 200 OK',
        ...Object.entries({ ...COMMON_HEADERS, 'Content-Type': contentType(json), 'Content-Length': String(Buffer.byteLength(body)) }).map(([k, v]) => `${k}: ${v}`),
      ];
      // The client's stuck data may still come in after this: closing at once lets the kernel answer it with a reset.
      socket.end(`${head.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
      this.testEnded(run, { code: 200, complete: true }, report.ageMs);
    } finally {
      admitted.release();
    }
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
    await this.endPaddedTest(run, req, res, json, engine.fragOutcome(started.endpoints, options.fragWindowMs + FRAG_VERDICT_GRACE_MS), (report) => ({
      verdict: fragVerdict(report.frag),
      evidence: connectionEvidence(report, options.fragmentSize[report.family]),
    }));
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
    await this.endPaddedTest(run, req, res, json, engine.downloadOutcome(started.endpoints, options.downloadWindowMs + DOWNLOAD_VERDICT_GRACE_MS), (report) => ({
      verdict: downloadVerdict(report.download, options.downloadMaxRetransmissions),
      evidence: connectionEvidence(report, 0),
    }));
  }

  /**
   * The end of a test whose response began with its padding: once the engine has the outcome, the result closes the
   * response (the rest of the JSON object, or the text report).
   */
  private async endPaddedTest(
    run: TestRun,
    req: IncomingMessage,
    res: ServerResponse,
    json: boolean,
    outcome: Promise<ConnectionReport | undefined>,
    decide: (report: ConnectionReport) => { verdict: Verdict; evidence: TestEvidence },
  ): Promise<void> {
    let report: ConnectionReport | undefined;
    try {
      report = await outcome;
    } catch {
      report = undefined;
    }
    if (res.destroyed) return;
    if (report === undefined) {
      // Nothing true can be said any more; cutting the response short tells the client so.
      res.destroy();
      return;
    }
    const { verdict, evidence } = decide(report);
    const answered = await this.finish(run, verdict, evidence, report, baseUrlOf(req));
    if (res.destroyed) return;
    res.end(json ? `${JSON.stringify(answered).slice(1)}\n` : this.renderReport(answered, answered.resultUrl, wantsVerbose(req)));
  }

  /** The result, stored; with the address of its page when the store took it (a store that is down costs only the link). */
  private async finish(run: TestRun, verdict: Verdict, evidence: TestEvidence, report: ConnectionReport, baseUrl: string): Promise<AnsweredResult> {
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
      ...(report.timeline === null ? {} : { timeline: report.timeline }),
    };
    let stored: StoredRun;
    try {
      stored = await store.record(result);
    } catch (err) {
      log(`results store ${store.location}: this ${test} result was not stored (${store.failures.writes} failed so far): ${errorMessage(err)}`, { level: 'error' });
      return result;
    }
    return { ...result, resultId: stored.publicId, resultUrl: `${baseUrl}${resultPagePath(stored.publicId)}` };
  }

  private page(req: IncomingMessage, res: ServerResponse): void {
    const { options, hostAddresses = interfaceAddresses } = this.deps;
    const { targets, untested, serverAddresses } = pageTargets({
      configured: options.testBaseUrl,
      listening: this.listening,
      hostAddresses: hostAddresses(),
      port: options.port,
      pageAddress: plainAddress(req.socket.localAddress),
      hostHeader: req.headers.host,
    });
    const html = renderIndexPage({
      targets,
      untested,
      icmpMtu: options.icmpMtu,
      fragmentSize: options.fragmentSize,
      windowSeconds: Math.round(options.icmpWindowMs / 1000),
      serverAddresses,
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

  private async summary(res: ServerResponse): Promise<void> {
    const { store } = this.deps;
    const read = await this.readStore(res, false, () => Promise.all([store.summary(), store.list({ limit: 50 })]));
    if (read === undefined) return;
    res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': 'text/html; charset=utf-8' });
    res.end(renderSummaryPage(...read));
  }

  private async results(res: ServerResponse, url: URL): Promise<void> {
    const parsed = parseResultsQuery(url.searchParams);
    if (!parsed.ok) {
      sendError(res, 400, parsed.error, true);
      return;
    }
    const runs = await this.readStore(res, true, () => this.deps.store.list(parsed.query));
    if (runs === undefined) return;
    res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': contentType(true) });
    res.end(`${renderResultsJson(runs, parsed.query.limit)}\n`);
  }

  /** /r/ID (HTML) and /api/results/ID (JSON): one stored result, found by the unguessable id of its page. */
  private async resultPage(res: ServerResponse, id: string, json: boolean): Promise<void> {
    const run = isResultId(id) ? await this.readStore(res, json, () => this.deps.store.find(id)) : undefined;
    if (res.headersSent) return;
    if (run === undefined) {
      const shown = id.length > 64 ? `${id.slice(0, 64)}…` : id;
      sendError(res, 404, `no result with id ${JSON.stringify(shown)}: check that the link is complete (ids have 22 characters)`, json);
      return;
    }
    res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': json ? contentType(true) : 'text/html; charset=utf-8' });
    res.end(json ? `${JSON.stringify(run)}\n` : renderResultPage(run));
  }

  /** A read of the store; when the store fails, a 503 (logged) and undefined. */
  private async readStore<T>(res: ServerResponse, json: boolean, read: () => Promise<T>): Promise<T | undefined> {
    const { store, log } = this.deps;
    try {
      return await read();
    } catch (err) {
      if (err instanceof RangeError) throw err;
      log(`results store ${store.location}: read failed (${store.failures.reads} so far): ${errorMessage(err)}`);
      sendError(res, 503, 'the results store is not available at the moment; please retry later', json, { 'Retry-After': '30' });
      return undefined;
    }
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
    const { writes, reads } = this.deps.store.failures;
    res.end(`${JSON.stringify({ ...stats, runningTests: this.admission.runningTests, storeFailures: { writes, reads } })}\n`);
  }

  /** Prometheus text (checker-metrics.ts); the engine's figures are fetched for each scrape, as /api/stats does. */
  private async metricsText(res: ServerResponse): Promise<void> {
    const engine = await this.deps.engine.stats().catch(() => undefined);
    const text = await this.metrics.render(engine);
    res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': this.metrics.contentType });
    res.end(text);
  }
}
