/**
 * The lab's reader of `mtuscope relay --json` output (src/lab/traffic/relay.ts), on lines the relay's own core
 * produces: a broadcast relay fed real Packet Too Big messages, enveloped and queued, its events and summary written
 * as the command writes them (one JSON object per line, with the time first).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCidrOrAddress } from '../../src/packet/cidr.js';
import { emitRelayEnvelope, RelayEnvelopeFlag } from '../../src/packet/relay-envelope.js';
import { MTUSCOPE_CLI, parseRelaySummary, tallyRelayEvents } from '../../src/lab/traffic/relay.js';
import { RelayCore, type QueuedMessage } from '../../src/relay/relay-core.js';
import { DEFAULT_RELAYED_DSCP } from '../../src/relay/relay-marks.js';
import { CLI } from '../support/cli.js';
import { offendingTcp, packetTooBig, SERVED4, SERVED6 } from '../relay/relay-packets.js';

const PEER = '10.0.4.2';

function queued(bytes: Uint8Array): QueuedMessage {
  return { bytes, mark: 0, accept: () => undefined, acceptMarked: () => undefined, drop: () => undefined };
}

/** What a broadcast relay prints for: two messages from its peer (one of them twice), one from a stranger, one queued message and one malformed. */
function relayOutput(): { stdout: string; core: RelayCore } {
  const lines: string[] = [];
  const line = (o: object): number => lines.push(JSON.stringify({ time: new Date().toISOString(), ...o }));
  const core = new RelayCore(
    {
      mode: 'broadcast',
      peers: [{ index: 0, address: PEER, family: 4 }],
      sharedInterfaces: [],
      policy: { served: [SERVED4, SERVED6].map((s) => parseCidrOrAddress(s)!), maxMtu: { 4: 1500, 6: 1500 } },
      limits: { perRouter: { perSecond: 100, burst: 200 }, perFlow: { perSecond: 100, burst: 200 }, total: { perSecond: 100, burst: 200 }, dedupMs: 1000, maxKeys: 1000 },
      relayedDscp: DEFAULT_RELAYED_DSCP,
      dryRun: false,
    },
    { forward: () => undefined, envelope: () => undefined, inject: () => undefined, event: line },
    () => 1000,
  );
  lines.push(JSON.stringify({ time: new Date().toISOString(), event: 'started', mode: 'broadcast' }));
  const envelope = (mtu: number): Uint8Array => emitRelayEnvelope({ flags: RelayEnvelopeFlag.Relayed, packet: packetTooBig({ offending: offendingTcp(4, 1500), mtu }) });
  core.onEnvelope(PEER, envelope(1400));
  core.onEnvelope(PEER, envelope(1400));
  core.onEnvelope(PEER, envelope(1380));
  core.onEnvelope('10.0.9.9', envelope(1400));
  core.onQueued(queued(packetTooBig({ offending: offendingTcp(4, 1500), mtu: 1280 })));
  core.onQueued(queued(new Uint8Array([0x45, 0, 0])));
  line({ event: 'summary', ...core.counters });
  return { stdout: `${lines.join('\n')}\n`, core };
}

describe("the lab's reader of the relay's output", () => {
  it('finds the summary line and reads every counter of it', () => {
    const { stdout, core } = relayOutput();
    const summary = parseRelaySummary(stdout);
    assert.deepEqual(summary, { ...core.counters, relayedInKernel: 0 }, 'no kernel steering: nothing relayed there');
    assert.equal(summary?.injected, 2);
    assert.equal(summary?.relayed.broadcast, 1);
    assert.equal(summary?.envelopes, 4);
  });

  it('says nothing rather than guess: no summary, a counter missing or not a count, text output, a cut line', () => {
    const { stdout, core } = relayOutput();
    const lines = stdout.trim().split('\n');
    const withSummary = (o: object): string => [...lines.slice(0, -1), JSON.stringify(o)].join('\n');
    assert.equal(parseRelaySummary(lines.slice(0, -1).join('\n')), undefined, 'stopped before its summary');
    const noInjected: Record<string, unknown> = { event: 'summary', ...core.counters };
    delete noInjected['injected'];
    assert.equal(parseRelaySummary(withSummary(noInjected)), undefined);
    assert.equal(parseRelaySummary(withSummary({ event: 'summary', ...core.counters, relayed: { owner: 1, broadcast: -1, fallback: 0 } })), undefined);
    assert.equal(parseRelaySummary(withSummary({ event: 'summary', ...core.counters, ignored: { duplicate: 'many' } })), undefined);
    assert.equal(parseRelaySummary(withSummary({ event: 'started', summary: true })), undefined);
    assert.equal(parseRelaySummary(`${stdout.slice(0, -20)}\n`), undefined, 'a summary cut short');
    assert.equal(parseRelaySummary('relay summary: 3 messages queued, 0 envelopes from peers; relayed: owner 3\n'), undefined, 'the text output');
    assert.equal(parseRelaySummary(withSummary({ event: 'summary', ...core.counters, kernel: { relayedOwner: -1 } })), undefined, 'a kernel counter not a count');
  });

  it('adds up what the kernel steering relayed, by each of its methods', () => {
    const { stdout, core } = relayOutput();
    const lines = stdout.trim().split('\n');
    const kernel = { relayedOwner: 5, relayedOwnerUnknown: 2, relayedSharedInterface: 1, copies: 6, limited: 9, leftToUserSpace: 4, eventsLost: 0, copiesFailed: 0 };
    const summary = parseRelaySummary([...lines.slice(0, -1), JSON.stringify({ event: 'summary', ...core.counters, kernel })].join('\n'));
    assert.equal(summary?.relayedInKernel, 8);
  });

  it("counts the event lines: relayed by method, received, and ignored apart for the queue and peers' envelopes", () => {
    assert.deepEqual(tallyRelayEvents(relayOutput().stdout), {
      relayed: { broadcast: 1 },
      received: 2,
      ignoredQueued: { truncated: 1 },
      ignoredEnvelopes: { duplicate: 1, 'not-from-peer': 1 },
    });
    assert.deepEqual(tallyRelayEvents('not json\n{"event":\n'), { relayed: {}, received: 0, ignoredQueued: {}, ignoredEnvelopes: {} });
  });

  it('runs the command line the tests run', () => {
    assert.equal(MTUSCOPE_CLI, CLI);
  });
});
