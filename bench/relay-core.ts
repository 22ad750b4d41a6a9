/**
 * Where the relay's time per message goes, in this process on one core, without the kernel: the verdict
 * (judgePacketTooBig), the limits (RelayLimits), the whole RelayCore.onQueued with its events discarded, and with each
 * event formatted as `mtuscope relay` prints it (text, and --json). The messages are bench/relay's (IPv4 and IPv6
 * alternating, 1024 flows, each message distinct) and the clock moves 1/RATE s per message, so that the
 * de-duplication window and the buckets hold what they would at RATE messages a second. Nothing is sent or printed.
 *
 *   node dist/bench/relay-core.js [--messages N] [--rate N]
 *
 * Each figure is the best of 3 runs. The target: the whole onQueued with text events within the budget of one core at
 * 50,000 messages a second (20 us), which the queue binding and the kernel's share (in bench/relay) come on top of.
 * Exits 1 when it is not met.
 */
import { parseArgs } from 'node:util';
import { relayEventLine } from '../src/cli/relay-command.js';
import { parseCidrOrAddress, type Cidr } from '../src/packet/cidr.js';
import { errorMessage } from '../src/util/error-message.js';
import { RelayCore, type QueuedMessage, type RelayEvent, type RelayPeer } from '../src/relay/relay-core.js';
import { RelayLimits, type RelayLimitSettings } from '../src/relay/relay-limits.js';
import { DEFAULT_RELAYED_DSCP, peerMark } from '../src/relay/relay-marks.js';
import { judgePacketTooBig, type RelayPolicy } from '../src/relay/relay-verdict.js';
import { benchMessage, SERVED, type FlowAddresses } from './relay-messages.js';
import { TARGET_RELAYED_PER_S } from './relay-report.js';

const RUNS = 3;
const FLOWS = 1024;
const ADDRESSES: Record<4 | 6, FlowAddresses> = {
  4: { client: '10.0.1.1', router: '10.0.1.1', served: SERVED[4] },
  6: { client: 'fd00:0:0:1::1', router: 'fd00:0:0:1::1', served: SERVED[6] },
};
const PEERS: RelayPeer[] = [
  { index: 0, address: '10.0.2.2', family: 4, device: 'eth2' },
  { index: 1, address: '10.0.3.2', family: 4, device: 'eth3' },
  { index: 2, address: 'fd00:0:0:2::2', family: 6, device: 'eth2' },
  { index: 3, address: 'fd00:0:0:3::2', family: 6, device: 'eth3' },
];
/** bench/relay's raised limits; de-duplication as by default. */
const RAISED = { perSecond: 10_000_000, burst: 20_000_000 };
const LIMITS: RelayLimitSettings = { perRouter: RAISED, perFlow: RAISED, total: RAISED, dedupMs: 1000, maxKeys: 65_536 };

const { values } = parseArgs({ options: { messages: { type: 'string', default: '200000' }, rate: { type: 'string', default: '60000' } } });
const count = Number(values.messages);
const rate = Number(values.rate);
if (!Number.isInteger(count) || count < 1 || !(rate > 0)) {
  process.stderr.write('bench/relay-core: --messages and --rate must be positive\n');
  process.exit(2);
}

const served: Cidr[] = [parseCidrOrAddress(SERVED[4])!, parseCidrOrAddress(SERVED[6])!];
const policy: RelayPolicy = { served, maxMtu: { 4: 1500, 6: 1500 } };
const messages: Uint8Array[] = [];
for (let i = 0; i < count; i++) {
  const family = i % 2 === 0 ? 4 : 6;
  messages.push(benchMessage(ADDRESSES[family], Math.floor(i / 2) % FLOWS, true, i));
}

/** Microseconds per message, best of RUNS; `run` gets a fresh state each time. */
function time(run: () => void): number {
  let best = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    run();
    best = Math.min(best, ((performance.now() - t0) * 1000) / count);
  }
  return best;
}

/** The clock of a run: 1/rate s further for each message. */
const clockAt = (i: number): number => 1000 + (i * 1000) / rate;

function queued(bytes: Uint8Array, i: number): QueuedMessage {
  // Owner mode, the flow learned on one of its family's next hops.
  return { bytes, mark: peerMark((i % 2) * 2 + ((i >> 1) % 2)), accept: () => undefined, acceptMarked: () => undefined, drop: () => undefined };
}

function coreRun(event: (e: RelayEvent) => void): () => void {
  return () => {
    let i = 0;
    const core = new RelayCore(
      { mode: 'owner', peers: PEERS, sharedInterfaces: [], policy, limits: LIMITS, relayedDscp: DEFAULT_RELAYED_DSCP, dryRun: false },
      { forward: () => undefined, envelope: () => undefined, inject: () => undefined, event },
      () => clockAt(i),
    );
    for (; i < count; i++) core.onQueued(queued(messages[i]!, i));
    if (core.counters.relayed.owner !== count) throw new Error(`relayed ${core.counters.relayed.owner} of ${count}: ${JSON.stringify(core.counters.ignored)}`);
  };
}

try {
  let sink = 0;
  const verdictUs = time(() => {
    for (const m of messages) if (judgePacketTooBig(m, policy).ok) sink++;
  });
  const verdicts = messages.map((m) => {
    const v = judgePacketTooBig(m, policy);
    if (!v.ok) throw new Error(`a bench message was refused: ${v.reason} ${v.detail}`);
    return v.message;
  });
  const limitsUs = time(() => {
    const limits = new RelayLimits(LIMITS, clockAt(0));
    verdicts.forEach((m, i) => {
      if (limits.admit(m, clockAt(i)) === 'admitted') sink++;
    });
  });
  const coreUs = time(coreRun(() => undefined));
  const textUs = time(coreRun((e) => void (sink += relayEventLine(e, false).length)));
  const jsonUs = time(coreRun((e) => void (sink += relayEventLine(e, true).length)));
  // The results are used, so that no run can be optimised away.
  if (sink === 0) throw new Error('no message was admitted');
  const budgetUs = 1e6 / TARGET_RELAYED_PER_S;
  const row = (name: string, us: number): string => `${name.padEnd(52)}${us.toFixed(2).padStart(8)} us${(1e6 / us).toFixed(0).padStart(12)}/s`;
  process.stdout.write(
    `node dist/bench/relay-core.js --messages ${count} --rate ${rate}   (node ${process.version}, best of ${RUNS})\n` +
      `per message, IPv4 and IPv6 alternating, ${FLOWS} flows, clock at ${rate}/s, limits raised as in bench/relay, de-duplication 1 s\n` +
      `${row('judgePacketTooBig', verdictUs)}\n` +
      `${row('RelayLimits.admit', limitsUs)}\n` +
      `${row('RelayCore.onQueued, events discarded', coreUs)}\n` +
      `${row('RelayCore.onQueued, each event formatted as text', textUs)}\n` +
      `${row('RelayCore.onQueued, each event formatted as JSON', jsonUs)}\n` +
      `target onQueued with text events <= ${budgetUs} us (one core at ${TARGET_RELAYED_PER_S}/s, before the queue binding and the kernel): ${textUs <= budgetUs ? 'met' : 'MISSED'}\n`,
  );
  process.exitCode = textUs <= budgetUs ? 0 : 1;
} catch (err) {
  process.stderr.write(`bench/relay-core: ${errorMessage(err)}\n`);
  process.exitCode = 1;
}
