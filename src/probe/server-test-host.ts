/**
 * The server test on the host: resolves the URL's host, installs the queue rules for its address and port
 * (server-test-rules.ts), binds the netfilter queue and a raw sender, and runs the connections one after another
 * through the pure ServerTestCore, each with its own test MTU (testMtus), each download ended as soon as its verdict
 * is settled. Everything it installed is removed when it returns, throws, or the process is signalled.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { openPacketQueue } from '../host/packet-queue.js';
import { RawSender } from '../host/raw-sender.js';
import { familyLabel, type IpFamily } from '../packet/ip-family.js';
import { errorMessage } from '../util/error-message.js';
import type { ServerTestFlow } from './server-test-connection.js';
import { DEFAULT_SERVER_TEST_LIMITS, ServerTestCore, testMtus, type ServerTestLimits } from './server-test-core.js';
import { startDownload, type RunningDownload } from './server-test-http.js';
import { familyResult, serverTestReport, type ServerTestConnectionResult, type ServerTestFamilyResult, type ServerTestReport } from './server-test-report.js';
import { installServerTestRules, SERVER_TEST_QUEUE, type InstalledServerTestRules } from './server-test-rules.js';
import { settleWithDownload } from './server-test-verdict.js';

export interface ServerTestSettings {
  readonly url: URL;
  readonly families: readonly IpFamily[];
  readonly connections: number;
  /** The last connection's test MTU; earlier ones are MTU_STEP apart above it. */
  readonly ptbMtu: number;
  readonly windowMs: number;
  /** Bound on each connection, from its start to its verdict. */
  readonly connectionTimeoutMs: number;
  /** One line per connection as it ends (for a progress display). */
  readonly onProgress?: (line: string) => void;
}

/** The IPv6 minimum MTU (RFC 8200): an IPv6 node ignores a Packet Too Big reporting less (RFC 8201 section 4). */
export const IPV6_MIN_MTU = 1280;

export class ServerTestSetupError extends Error {
  override readonly name = 'ServerTestSetupError';
}

export function urlPort(url: URL): number {
  return url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
}

/** The first address of each wanted family of the URL's host, and the families it has none of, with why. */
export async function resolveServer(url: URL, families: readonly IpFamily[]): Promise<{ found: { family: IpFamily; address: string }[]; missing: { family: IpFamily; reason: string }[] }> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let all: { family: IpFamily; address: string }[];
  const literal = isIP(host);
  if (literal === 4 || literal === 6) {
    all = [{ family: literal, address: host }];
  } else {
    try {
      all = (await lookup(host, { all: true, verbatim: true })).flatMap((a) => (a.family === 4 || a.family === 6 ? [{ family: a.family, address: a.address }] : []));
    } catch (err) {
      throw new ServerTestSetupError(`cannot resolve ${host}: ${errorMessage(err)}`);
    }
  }
  const found: { family: IpFamily; address: string }[] = [];
  const missing: { family: IpFamily; reason: string }[] = [];
  for (const family of families) {
    const a = all.find((x) => x.family === family);
    if (a === undefined) missing.push({ family, reason: `${host} has no ${familyLabel(family)} address` });
    else found.push(a);
  }
  return { found, missing };
}

/** Runs the test; rejects with ServerTestSetupError (or the host's own errors) when it cannot start. */
export async function testServer(settings: ServerTestSettings, limits: Omit<ServerTestLimits, 'windowMs'> = DEFAULT_SERVER_TEST_LIMITS): Promise<ServerTestReport> {
  const { url } = settings;
  const port = urlPort(url);
  const resolved = await resolveServer(url, settings.families);
  // Below 1280 only IPv4 can be tested: an IPv6 server must ignore such a message (RFC 8201).
  const tooSmall = settings.ptbMtu < IPV6_MIN_MTU;
  const found = resolved.found.filter((s) => !(tooSmall && s.family === 6));
  const missing = [
    ...resolved.missing,
    ...resolved.found
      .filter((s) => tooSmall && s.family === 6)
      .map((s) => ({ family: s.family, reason: `a test MTU of ${settings.ptbMtu} is below the IPv6 minimum of ${IPV6_MIN_MTU}, which IPv6 servers must ignore (RFC 8201)` })),
  ];
  if (found.length === 0) return serverTestReport({ url: url.href, host: url.hostname, port, ptbMtu: settings.ptbMtu, windowMs: settings.windowMs, families: [], untested: missing });

  const now = (): number => performance.now();
  const sendErrors: string[] = [];
  const downloads = new Map<string, RunningDownload>();
  const keyOf = (f: ServerTestFlow): string => `${f.family} ${f.localPort}`;
  let rules: InstalledServerTestRules | undefined;
  let sender: RawSender | undefined;
  let ticker: NodeJS.Timeout | undefined;
  try {
    sender = RawSender.open(0, (err) => sendErrors.push(errorMessage(err)));
    const out = sender;
    const core = new ServerTestCore(
      (family, bytes, destination) => {
        out.send(family, bytes, destination).catch((err: unknown) => sendErrors.push(errorMessage(err)));
      },
      (flow) => downloads.get(keyOf(flow))?.cut(),
      { ...limits, windowMs: settings.windowMs },
      now(),
    );
    openPacketQueue(SERVER_TEST_QUEUE, (p) => core.handle(p, now()), (err) => sendErrors.push(errorMessage(err)));
    ticker = setInterval(() => core.tick(now()), 20);
    // Only now, with a reader on the queue: no packet is ever queued with nobody to decide on it.
    rules = await installServerTestRules({ servers: found, port, queueNum: SERVER_TEST_QUEUE });

    const families: ServerTestFamilyResult[] = [];
    const mtus = testMtus(settings.ptbMtu, settings.connections);
    for (const server of found) {
      const results: ServerTestConnectionResult[] = [];
      for (const [i, ptbMtu] of mtus.entries()) {
        const started = now();
        let flow: ServerTestFlow | undefined;
        let tracked: ReturnType<ServerTestCore['track']> | undefined;
        const download = startDownload(
          { url, address: server.address, port },
          (s) => {
            flow = { family: server.family, localAddress: s.localAddress, localPort: s.localPort, remoteAddress: s.remoteAddress, remotePort: s.remotePort, ptbMtu };
            tracked = core.track(flow, now());
            downloads.set(keyOf(flow), download);
          },
          settings.connectionTimeoutMs,
        );
        const http = await download.done;
        const verdict = flow === undefined ? undefined : core.end(flow);
        if (flow !== undefined) downloads.delete(keyOf(flow));
        const result: ServerTestConnectionResult = {
          index: i + 1,
          localPort: flow?.localPort,
          ptbMtu,
          verdict: settleWithDownload(verdict, http.error !== undefined),
          evidence: tracked?.evidence() ?? emptyEvidence(),
          http,
          durationMs: Math.round(now() - started),
        };
        results.push(result);
        settings.onProgress?.(`${familyLabel(server.family)} connection ${i + 1}/${mtus.length}: ${result.verdict.verdict}`);
      }
      families.push(familyResult(server.family, server.address, results));
    }
    if (sendErrors.length > 0) throw new ServerTestSetupError(`sending Packet Too Big failed: ${sendErrors[0]}`);
    return serverTestReport({ url: url.href, host: url.hostname, port, ptbMtu: settings.ptbMtu, windowMs: settings.windowMs, families, untested: missing });
  } finally {
    if (ticker !== undefined) clearInterval(ticker);
    for (const d of downloads.values()) d.cut();
    sender?.close();
    await rules?.remove();
  }
}

function emptyEvidence(): ServerTestConnectionResult['evidence'] {
  return {
    segments: 0,
    fullSize: 0,
    noDf: 0,
    packetTooBigSent: 0,
    firstPacketTooBigMs: undefined,
    fullSizeRetransmissions: 0,
    firstSmallerResend: undefined,
    serverMss: undefined,
    largestPacket: 0,
    dropped: 0,
    packetTooBigLimited: 0,
    largestSmallerResend: undefined,
  };
}
