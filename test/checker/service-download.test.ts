import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PACKET_TOO_BIG_MATCH } from '../../src/host/iptables-matches.js';
import { DOWNLOAD_RESPONSE_BYTES } from '../../src/checker/checker-server.js';
import { REPORT_TITLES } from '../../src/checker/report-text.js';
import type { TestResult } from '../../src/checker/test-result.js';
import type { LabProcess } from '../../src/lab/running-lab.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import { type CheckerLab, startCheckerLab } from '../support/checker-lab.js';
import { needsRoot } from '../support/root.js';

/** The router's link toward the client "narrow": the client's own end stays at 1500, so it announces MSS 1460 / 1440. */
const NARROW_MTU = 1400;
const FULL_SIZE = 1500;
/** The rescue the server falls back to behind a black hole (DOWNLOAD_RESCUE_MTU). */
const RESCUE_MTU = { 4: 576, 6: 1280 } as const;
/** Behind a black hole: three retransmission timeouts (0.2 + 0.4 + 0.8 s at lab round-trip times), then the rest. */
const BLACKHOLE_BOUND_MS = 6000;

const FLUSH_POLLS = 50;
const FLUSH_POLL_MS = 100;


describe('checker service: GET /download (scenario 3, server to client)', needsRoot(), () => {
  let c: CheckerLab;
  let serve: LabProcess;

  async function download(client: string, family: IpFamily): Promise<{ result: TestResult; padding: number; ms: number }> {
    const t = performance.now();
    const r = await c.curl(client, [c.url(family, '/download?format=json')], 30_000);
    let parsed: TestResult & { padding?: string };
    try {
      parsed = JSON.parse(r.stdout) as TestResult & { padding?: string };
    } catch {
      throw new Error(`/download IPv${family} from ${client}: not JSON (curl exit ${r.code}): ${r.stdout.slice(0, 300)} ${r.stderr}`);
    }
    return { result: parsed, padding: parsed.padding?.length ?? 0, ms: performance.now() - t };
  }

  /**
   * The server's kernel must not keep what a test taught it about the client's path. The engine flushes it once the
   * client has acknowledged the whole response, which can be a moment after curl has it.
   */
  async function assertNoCachedMtu(client: string, family: IpFamily): Promise<void> {
    const address = c.lab.address(client, family);
    let route = '';
    for (let i = 0; i < FLUSH_POLLS; i++) {
      route = (await c.lab.mustExec('server', ['ip', `-${family}`, 'route', 'get', address])).stdout;
      if (!/\bmtu\b/.test(route)) return;
      await new Promise((resolve) => setTimeout(resolve, FLUSH_POLL_MS));
    }
    assert.fail(`the server still caches a path MTU toward ${address} after ${FLUSH_POLLS * FLUSH_POLL_MS} ms: ${route}`);
  }

  async function engineCounters(): Promise<Record<string, number>> {
    const r = await c.curl('wide', [c.url(4, '/api/stats')]);
    return (JSON.parse(r.stdout) as { counters: Record<string, number> }).counters;
  }

  async function routerDropsItsPacketTooBig(drop: boolean): Promise<void> {
    for (const family of [4, 6] as const) {
      const tool = family === 4 ? 'iptables' : 'ip6tables';
      await c.lab.mustExec('router', [tool, drop ? '-A' : '-D', 'OUTPUT', ...PACKET_TOO_BIG_MATCH[family], '-j', 'DROP']);
    }
  }

  before(async () => {
    c = await startCheckerLab({
      name: 'chk-dl',
      clients: [{ name: 'wide' }, { name: 'narrow', routerSideMtu: NARROW_MTU }],
    });
    serve = await c.serve();
  });
  after(async () => {
    await serve?.stop('SIGTERM');
    await c?.destroy();
  });

  it('clear on a 1500-byte path: full-size packets acknowledged, no Packet Too Big', async () => {
    for (const family of [4, 6] as const) {
      const { result, padding } = await download('wide', family);
      const d = result.evidence.download;
      assert.equal(result.verdict, 'clear', JSON.stringify(result.evidence));
      assert.equal(padding, DOWNLOAD_RESPONSE_BYTES);
      assert.ok(d);
      assert.equal(d.fullSize, FULL_SIZE);
      assert.equal(d.largestAcknowledged, FULL_SIZE);
      assert.ok(d.fullSizeAcknowledged >= 1);
      assert.equal(d.packetTooBigReceived, 0);
      assert.equal(d.rescueMtu, null);
      await assertNoCachedMtu('wide', family);
    }
  });

  it('pass through a router with a 1400-byte link toward the client: its address and 1400 are reported, twice in a row', async () => {
    for (const family of [4, 6] as const) {
      const routerAddress = c.lab.address('router', family, 'eth1');
      for (const round of [1, 2]) {
        const { result, padding } = await download('narrow', family);
        const d = result.evidence.download;
        assert.equal(result.verdict, 'pass', `IPv${family} round ${round}: ${JSON.stringify(result.evidence)}`);
        assert.equal(padding, DOWNLOAD_RESPONSE_BYTES);
        assert.ok(d);
        assert.equal(d.router, routerAddress);
        assert.equal(d.reportedMtu, NARROW_MTU);
        assert.equal(d.fullSize, FULL_SIZE);
        assert.equal(d.largestBeforeSignal, FULL_SIZE, 'the second round starts full-size again: the first left no cached MTU');
        // Not necessarily at most 1400: segments the kernel had already handed to the output path when the Packet Too
        // Big came in still leave full-size after it. The reaction is the re-sent data in packets that fit (below).
        assert.ok(d.largestAfterSignal !== null && d.largestAfterSignal <= FULL_SIZE, String(d.largestAfterSignal));
        assert.ok(result.evidence.reactionMs !== null && result.evidence.reactionMs < 1000, String(result.evidence.reactionMs));
        // The timeline shows it: full-size segments out, the router's Packet Too Big in, then segments that fit.
        const events = result.timeline?.events ?? [];
        const ptb = events.findIndex((e) => e.action === 'ptb-received');
        assert.ok(ptb > 0, JSON.stringify(events.slice(0, 20)));
        assert.equal(events[ptb]!.mtu, NARROW_MTU);
        assert.ok(events.slice(0, ptb).some((e) => e.direction === 'out' && e.ipLength === FULL_SIZE));
        assert.ok(events.slice(ptb).some((e) => e.direction === 'out' && e.retransmission && e.ipLength <= NARROW_MTU));
        const text = await c.curl('narrow', [c.url(family, '/download')]);
        assert.match(text.stdout, new RegExp(`from router\\s+${routerAddress.replaceAll('.', '\\.')}\\n`));
        assert.match(text.stdout, /MTU reported\s+1400 bytes\n/);
        assert.ok(text.stdout.includes(`\n${REPORT_TITLES.download} (IPv${family}), started `), 'the report follows the padding');
        assert.match(text.stdout, /\nRESULT: pass\n$/);
        await assertNoCachedMtu('narrow', family);
      }
    }
  });

  it("a path MTU the server learnt from the page's own response is flushed before the test, which then passes", async () => {
    for (const family of [4, 6] as const) {
      const page = await c.curl('narrow', ['-o', '/dev/null', '-w', '%{size_download}', c.url(family, '/page.js')]);
      assert.ok(Number(page.stdout) > 3 * FULL_SIZE, `the script is large enough to need full-size segments (${page.stdout} bytes)`);
      const cached = (await c.lab.mustExec('server', ['ip', `-${family}`, 'route', 'get', c.lab.address('narrow', family)])).stdout;
      assert.match(cached, /\bmtu 1400\b/, 'the page taught the server the smaller MTU');
      const { result } = await download('narrow', family);
      assert.equal(result.verdict, 'pass', JSON.stringify(result.evidence));
      assert.equal(result.evidence.download?.flushedBeforeStart, true);
      assert.equal(result.evidence.download?.largestBeforeSignal, FULL_SIZE);
      await assertNoCachedMtu('narrow', family);
    }
  });

  it('blackhole when that router drops its own Packet Too Big; the response still completes within the bound', async () => {
    await routerDropsItsPacketTooBig(true);
    const before = await engineCounters();
    try {
      const runs = await Promise.all([download('narrow', 4), download('narrow', 6)]);
      for (const [i, { result, padding, ms }] of runs.entries()) {
        const family = i === 0 ? 4 : 6;
        const d = result.evidence.download;
        assert.equal(result.verdict, 'blackhole', JSON.stringify(result.evidence));
        assert.equal(padding, DOWNLOAD_RESPONSE_BYTES);
        assert.ok(d);
        assert.equal(d.packetTooBigReceived, 0);
        assert.equal(d.fullSizeAcknowledged, 0);
        assert.ok(d.fullSizeRetransmissions >= 3, String(d.fullSizeRetransmissions));
        assert.equal(d.rescueMtu, RESCUE_MTU[family]);
        const rescued = (result.timeline?.events ?? []).filter((e) => e.action === 'dropped-ptb-sent');
        assert.ok(rescued.length >= 1 && rescued.every((e) => e.direction === 'out' && e.mtu === RESCUE_MTU[family]), JSON.stringify(rescued));
        assert.ok(ms < BLACKHOLE_BOUND_MS, `IPv${family}: the answer took ${Math.round(ms)} ms`);
        await assertNoCachedMtu('narrow', family);
      }
      const counted = await engineCounters();
      assert.ok((counted['downloadRescues'] ?? 0) - (before['downloadRescues'] ?? 0) >= 2, JSON.stringify(counted));
      // The engine's own messages to its kernel carry its mark and are not queued back to it as if a router sent them.
      assert.equal(counted['packetTooBigReceived'], before['packetTooBigReceived']);
    } finally {
      await routerDropsItsPacketTooBig(false);
    }
  });
});
