/**
 * The relay's options that change what it does or shows, in the lab of relay-lab.ts: `--dry-run` on r under L4
 * hashing (it learns and reports but steers nothing, so the downloads whose Packet Too Big the kernel hashes to the
 * other server stall as without it), `--metrics` read inside r with a strict Prometheus text parser against the
 * summary, and `--config FILE` with the same settings as flags, and with a mistake that must name file and line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { IP_FAMILIES } from '../../src/packet/ip-family.js';
import type { RelayCounters } from '../../src/relay/relay-core.js';
import { PACKET_TOO_BIG_MATCH } from '../../src/host/iptables-matches.js';
import type { RunningLab } from '../../src/lab/running-lab.js';
import { CLI } from '../support/cli.js';
import { parsePrometheusText, sampleSum, sampleValue } from '../support/prometheus-text.js';
import { needsRoot } from '../support/root.js';
import {
  ANYCAST,
  BATCH,
  carriers,
  countDelivery,
  countFollowing,
  deliveryWords,
  downloads,
  downloadsOnBothServers,
  forgetPathMtus,
  hostListings,
  nextHops,
  notCompleted,
  otherServer,
  ownerDeliveryProblems,
  ptbServer,
  relayLeftovers,
  RelayRun,
  SERVED_ARGS,
  spread,
  STALLING_BATCH,
  startServers,
  stopServers,
  withRelayLab,
} from './relay-lab.js';

const METRICS_PORT = 9361;

/** A JSON line without its time stamp. */
function withoutTime(line: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(line).filter(([k]) => k !== 'time'));
}

/** Stops rc from sending Packet Too Big at all (its OUTPUT drops them), so the relay's counters stand still. */
async function silenceRc(lab: RunningLab): Promise<void> {
  for (const [tool, family] of [['iptables', 4], ['ip6tables', 6]] as const) {
    await lab.mustExec('rc', [tool, '-w', '-I', 'OUTPUT', '1', ...PACKET_TOO_BIG_MATCH[family], '-j', 'DROP']);
  }
}

/** The summary's counters as the metrics should show them, and the metrics as read. */
function metricsAgainstSummary(text: string, c: RelayCounters): { metrics: Record<string, number>; summary: Record<string, number> } {
  const m = parsePrometheusText(text);
  const metrics: Record<string, number> = {
    messages: sampleValue(m, 'mtuscope_relay_messages_total'),
    envelopes: sampleValue(m, 'mtuscope_relay_envelopes_total'),
    copies: sampleValue(m, 'mtuscope_relay_copies_total'),
    injected: sampleValue(m, 'mtuscope_relay_injected_total'),
    ignored: sampleSum(m, 'mtuscope_relay_ignored_total'),
  };
  const summary: Record<string, number> = {
    messages: c.queued,
    envelopes: c.envelopes,
    copies: c.copies,
    injected: c.injected,
    ignored: Object.values(c.ignored).reduce((a, n) => a + (n ?? 0), 0),
  };
  for (const [method, n] of Object.entries(c.relayed)) {
    metrics[`relayed ${method}`] = sampleValue(m, 'mtuscope_relay_relayed_total', { method });
    summary[`relayed ${method}`] = n;
  }
  for (const [reason, n] of Object.entries(c.fallback)) {
    metrics[`fallback ${reason}`] = sampleValue(m, 'mtuscope_relay_fallback_total', { reason });
    summary[`fallback ${reason}`] = n;
  }
  for (const [reason, n] of Object.entries(c.ignored)) {
    metrics[`ignored ${reason}`] = sampleValue(m, 'mtuscope_relay_ignored_total', { reason });
    summary[`ignored ${reason}`] = n ?? 0;
  }
  return { metrics, summary };
}

describe('mtuscope relay --dry-run and --metrics', needsRoot('for network namespaces, iptables and raw sockets'), () => {
  it('steers nothing in a dry run, so downloads whose Packet Too Big goes to the other server stall, and says what it would have done; /metrics agrees with the summary', { timeout: 90_000 }, async (t) => {
    await withRelayLab('relay-dry-run', {}, async (lab) => {
      const servers = await startServers(lab);
      try {
        const relay = await RelayRun.start(lab, 'r', [...SERVED_ARGS, '--dry-run', '--metrics', `127.0.0.1:${METRICS_PORT}`]);
        const started = relay.started;
        assert.equal(started.dryRun, true);
        assert.equal(started.metrics, `http://127.0.0.1:${METRICS_PORT}/metrics`);
        assert.deepEqual(started.rules?.routes, [], 'the started line shows the rules, with no policy routes');
        const installed = relayLeftovers(await hostListings(lab, 'r'));
        assert.ok(installed.some((l) => l.includes('NFQUEUE')), 'it queues Packet Too Big to see them');
        assert.deepEqual(installed.filter((l) => /^\d+:|\btable \d+/.test(l)), [], 'but adds no policy rule or route: nothing can be steered');

        const counting = await countDelivery(lab, 'dry');
        const following = await countFollowing(lab, relay, 'dry');
        const results = await downloadsOnBothServers(lab, servers, STALLING_BATCH);
        const delivery = await counting.read();
        const routed = await following.read();
        const carrierOf = carriers(servers);
        for (const f of IP_FAMILIES) {
          t.diagnostic(
            `dry run IPv${f}: connections ${spread(results, carrierOf, f)}; ${deliveryWords(delivery, f)}; r routed ${routed[f].withFlow} with their flow, ` +
              `${routed[f].toOther} to the other server; downloads: ${results.filter((r) => r.family === f).map((r) => `${carrierOf(f, r.localPort) ?? '?'} ${r.outcome} ${r.seconds.toFixed(1)} s`).join(', ')}`,
          );
        }
        for (const f of IP_FAMILIES) {
          const first = ptbServer(delivery, f);
          assert.ok(first !== undefined, `IPv${f}: rc's errors all reached one server: ${deliveryWords(delivery, f)}`);
          const other = otherServer(first);
          const mine = results.filter((r) => r.family === f);
          const onOther = mine.filter((r) => carrierOf(f, r.localPort) === other);
          assert.ok(onOther.length > 0, `IPv${f}: ${other} carried some downloads`);
          assert.deepEqual(onOther.filter((r) => r.outcome === 'completed').map((r) => r.localPort), [], `IPv${f}: every download on ${other} stalled`);
          assert.deepEqual(notCompleted(mine.filter((r) => carrierOf(f, r.localPort) === first)), [], `IPv${f}: those on ${first} completed`);
          assert.ok(routed[f].toOther > 0, `IPv${f}: the kernel sent errors of ${other}'s flows to ${first}`);
          const would = relay.relayed().filter((e) => e.family === f && carrierOf(f, e.flow.peerPort ?? 0) === other);
          assert.ok(would.length > 0, `IPv${f}: it says it would have steered errors of ${other}'s flows to ${other}`);
        }
        assert.ok(relay.relayed().every((e) => e.dryRun), 'every event says dry run');
        assert.deepEqual(ownerDeliveryProblems(relay.relayed(), carrierOf, nextHops(lab)), [], 'each would have gone to its flow\'s server');

        await silenceRc(lab);
        const scrape = await lab.mustExec('r', ['curl', '-sS', '--max-time', '5', `http://127.0.0.1:${METRICS_PORT}/metrics`]);
        const exit = await relay.stop();
        assert.equal(exit.code, 0, relay.process.stderr);
        assert.ok(exit.summary !== undefined);
        const { metrics, summary } = metricsAgainstSummary(scrape.stdout, exit.summary);
        t.diagnostic(`metrics: ${JSON.stringify(metrics)}`);
        assert.deepEqual(metrics, summary, 'the metrics say what the summary says');
        assert.equal(metrics['relayed owner'], relay.relayed().length);
        assert.ok(metrics.messages! > 0);
      } finally {
        await stopServers(servers);
      }
    });
  });
});

describe('mtuscope relay --config', needsRoot('for network namespaces, iptables and raw sockets'), () => {
  it('runs from a YAML file with the same settings as flags, and names file and line of a mistake with exit 2', { timeout: 60_000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mtuscope-relay-config-'));
    try {
      await withRelayLab('relay-config', {}, async (lab) => {
        const fromFlags = await RelayRun.start(lab, 'r', [...SERVED_ARGS, '--mode', 'owner', '--flow-rate', '6']);
        const flagsStarted = fromFlags.started;
        assert.equal((await fromFlags.stop()).code, 0);

        const good = join(dir, 'relay.yaml');
        writeFileSync(good, `# the same settings as the flags\nmode: owner\nserved:\n  - ${ANYCAST[4]}\n  - ${ANYCAST[6]}\nflow-rate: 6\njson: true\n`);
        const servers = await startServers(lab);
        try {
          const relay = await RelayRun.start(lab, 'r', ['--config', good]);
          assert.deepEqual(withoutTime(relay.started), withoutTime(flagsStarted), 'the same start as with the flags');
          await forgetPathMtus(lab);
          const results = await downloads(lab, BATCH);
          const exit = await relay.stop();
          assert.deepEqual(notCompleted(results), [], 'every download completed');
          assert.ok(relay.relayed().length > 0);
          assert.deepEqual(ownerDeliveryProblems(relay.relayed(), carriers(servers), nextHops(lab)), []);
          assert.equal(exit.code, 0);
        } finally {
          await stopServers(servers);
        }

        const mistakes = [
          { text: `mode: owner\nserved: [${ANYCAST[4]}]\nflow-rte: 4\n`, line: 3, says: /unknown setting "flow-rte"; the settings are .*flow-rate/ },
          { text: `served:\n  - ${ANYCAST[4]}\n  - not-an-address\n`, line: 3, says: /"not-an-address" is not an IPv4 or IPv6 address or prefix/ },
          { text: `served: [${ANYCAST[4]}]\n\nrouter-rate: fast\n`, line: 3, says: /router-rate/ },
        ];
        for (const [i, m] of mistakes.entries()) {
          const file = join(dir, `bad-${i}.yaml`);
          writeFileSync(file, m.text);
          const r = await lab.exec('r', [process.execPath, CLI, 'relay', '--config', file], { timeoutMs: 30_000 });
          t.diagnostic(`${file}: exit ${r.code}, "${r.stderr.trim()}"`);
          assert.equal(r.code, 2, r.stderr);
          assert.ok(r.stderr.includes(`${file}:${m.line}: `), `names ${file}:${m.line}: ${r.stderr}`);
          assert.match(r.stderr, m.says);
          assert.deepEqual(relayLeftovers(await hostListings(lab, 'r')), [], 'installs nothing');
        }
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
