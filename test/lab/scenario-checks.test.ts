/**
 * Every scenario's check and findings on measurements stated here, independently of the scenarios' code: what a
 * healthy run measures (as seen in real runs), and that same run with one condition of the expected outcome violated
 * at a time, or with a piece of evidence missing. A check that cannot say "not as expected" would pass whatever the
 * network did; these tests show each one saying it, for the right reason.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IpFamily } from '../../src/packet/ip-family.js';
import { SCENARIOS } from '../../src/lab/scenarios/catalogue.js';
import { ecmpFragments } from '../../src/lab/scenarios/ecmp-fragments.js';
import { ecmpPtbRelay } from '../../src/lab/scenarios/ecmp-ptb-relay.js';
import { ecmpPtbRelayServers } from '../../src/lab/scenarios/ecmp-ptb-relay-servers.js';
import { ecmpPtbWrongServer } from '../../src/lab/scenarios/ecmp-ptb-wrong-server.js';
import { encapLb } from '../../src/lab/scenarios/encap-lb.js';
import { icmpBlackhole } from '../../src/lab/scenarios/icmp-blackhole.js';
import { mssClamp1344 } from '../../src/lab/scenarios/mss-clamp-1344.js';
import type { Measurements } from '../../src/lab/scenarios/report.js';
import { unmetExpectations, type Scenario } from '../../src/lab/scenarios/scenario.js';
import { udpFragmentFirewall } from '../../src/lab/scenarios/udp-fragment-firewall.js';
import type { TransferOutcome, TransferResult } from '../../src/lab/traffic/curl.js';

type Facts = Record<string, number | boolean>;

function transfer(label: string, family: IpFamily, outcome: TransferOutcome): TransferResult {
  return {
    label, node: 'c', family, url: '', outcome, uploadBytes: 0, downloadBytes: 0, bytesUploaded: 0, bytesDownloaded: 0,
    seconds: outcome === 'stalled' ? 4 : 0.02, httpCode: outcome === 'completed' ? 200 : 0, curlExit: outcome === 'completed' ? 0 : 28, localPort: 40000,
  };
}

function measured(facts: Facts, transfers: readonly TransferResult[] = []): Measurements {
  return { transfers, pings: [], datagrams: [], routeCache: [], facts };
}

const NOTHING: Measurements = measured({});

function withFacts(m: Measurements, changes: Facts): Measurements {
  return { ...m, facts: { ...m.facts, ...changes } };
}

function without(m: Measurements, ...names: string[]): Measurements {
  return { ...m, facts: Object.fromEntries(Object.entries(m.facts).filter(([name]) => !names.includes(name))) };
}

function withOutcome(m: Measurements, label: string, family: IpFamily, outcome: TransferOutcome): Measurements {
  return { ...m, transfers: m.transfers.map((t) => (t.label === label && t.family === family ? transfer(label, family, outcome) : t)) };
}

function withoutTransfer(m: Measurements, label: string, family: IpFamily): Measurements {
  return { ...m, transfers: m.transfers.filter((t) => !(t.label === label && t.family === family)) };
}

/** One condition of the expected outcome violated (or its evidence missing), and the parts the check must name. */
interface Violation {
  readonly what: string;
  readonly measured: Measurements;
  readonly unmet: readonly string[];
}

interface ScenarioCases {
  readonly scenario: Scenario;
  /** What a run that behaves as the scenario says measures. */
  readonly healthy: Measurements;
  readonly violations: readonly Violation[];
  /** Facts that only feed the findings: a run lacking them can still be judged. Every other fact is evidence. */
  readonly informational: readonly string[];
}

const FAMILIES = [4, 6] as const;

// ---- icmp-blackhole ----------------------------------------------------------------------------------------------

const blackholeHealthy = measured(
  Object.fromEntries(
    FAMILIES.flatMap((f) => [
      [`controlPingsSent${f}`, 2], [`controlIcmpMtu${f}`, 1400], [`controlCachedMtu${f}`, 1400],
      [`pingsSent${f}`, 2], [`pingReplies${f}`, 0], [`icmpMtu${f}`, 0], [`cachedMtu${f}`, 0], [`serverCachedMtu${f}`, 1400],
    ]),
  ),
  FAMILIES.flatMap((f) => [transfer('small request', f, 'completed'), transfer('upload 100 KB', f, 'stalled'), transfer('download 1 MB', f, 'completed')]),
);

const blackhole: ScenarioCases = {
  scenario: icmpBlackhole,
  healthy: blackholeHealthy,
  informational: ['controlPingsSent4', 'controlPingsSent6', 'serverCachedMtu4', 'serverCachedMtu6'],
  violations: FAMILIES.flatMap((f): Violation[] => [
    { what: 'the control ping drew no ICMP error', measured: withFacts(blackholeHealthy, { [`controlIcmpMtu${f}`]: 0 }), unmet: [`IPv${f} control: DF ping drew an ICMP error with mtu 1400`] },
    { what: 'the control ping was never sent', measured: without(withFacts(blackholeHealthy, { [`controlPingsSent${f}`]: 0 }), `controlIcmpMtu${f}`), unmet: [`IPv${f} control: DF ping drew an ICMP error with mtu 1400`] },
    { what: 'c did not cache the control mtu', measured: withFacts(blackholeHealthy, { [`controlCachedMtu${f}`]: 0 }), unmet: [`IPv${f} control: c's route cache shows mtu 1400`] },
    { what: "the control's route lookup failed", measured: without(blackholeHealthy, `controlCachedMtu${f}`), unmet: [`IPv${f} control: c's route cache shows mtu 1400`] },
    {
      what: 'the ping with ICMP dropped never ran',
      measured: without(withFacts(blackholeHealthy, { [`pingsSent${f}`]: 0 }), `pingReplies${f}`, `icmpMtu${f}`),
      unmet: [`IPv${f}: the 1500-byte DF ping was sent and got no reply`, `IPv${f}: the 1500-byte DF ping drew no ICMP error`],
    },
    { what: 'the ping was answered', measured: withFacts(blackholeHealthy, { [`pingReplies${f}`]: 2 }), unmet: [`IPv${f}: the 1500-byte DF ping was sent and got no reply`] },
    { what: 'the ICMP error got through', measured: withFacts(blackholeHealthy, { [`icmpMtu${f}`]: 1400 }), unmet: [`IPv${f}: the 1500-byte DF ping drew no ICMP error`] },
    { what: 'c learned the mtu', measured: withFacts(blackholeHealthy, { [`cachedMtu${f}`]: 1400 }), unmet: [`IPv${f}: c's route cache has no learned mtu for s`] },
    { what: "c's route lookup failed", measured: without(blackholeHealthy, `cachedMtu${f}`), unmet: [`IPv${f}: c's route cache has no learned mtu for s`] },
    { what: 'the small request stalled', measured: withOutcome(blackholeHealthy, 'small request', f, 'stalled'), unmet: [`IPv${f}: the small request completed`] },
    { what: 'the upload completed', measured: withOutcome(blackholeHealthy, 'upload 100 KB', f, 'completed'), unmet: [`IPv${f}: the 100 KB upload stalled`] },
    { what: 'the upload failed (not a stall)', measured: withOutcome(blackholeHealthy, 'upload 100 KB', f, 'failed'), unmet: [`IPv${f}: the 100 KB upload stalled`] },
    { what: 'the upload never ran', measured: withoutTransfer(blackholeHealthy, 'upload 100 KB', f), unmet: [`IPv${f}: the 100 KB upload stalled`] },
    { what: 'the download stalled', measured: withOutcome(blackholeHealthy, 'download 1 MB', f, 'stalled'), unmet: [`IPv${f}: the 1 MB download completed`] },
  ]),
};

// ---- ecmp-fragments ----------------------------------------------------------------------------------------------

const fragmentsHealthy = measured({
  kernelFlows: 16, kernelSmall_s1: 9, kernelSmall_s2: 7, kernelLarge_s1: 16, kernelLarge_s2: 0, kernelReasmTimeouts_s1: 0, kernelReasmTimeouts_s2: 0,
  kernelFlowsSplit: 7,
  hashedFlows: 16, hashedSmall_s1: 6, hashedSmall_s2: 10, hashedLarge_s1: 6, hashedLarge_s2: 0, hashedReasmTimeouts_s1: 10, hashedReasmTimeouts_s2: 10,
});

const fragments: ScenarioCases = {
  scenario: ecmpFragments,
  healthy: fragmentsHealthy,
  informational: ['kernelFlows', 'kernelReasmTimeouts_s1', 'kernelReasmTimeouts_s2'],
  violations: [
    { what: 'kernel ECMP lost a small datagram', measured: withFacts(fragmentsHealthy, { kernelSmall_s2: 6 }), unmet: ['kernel ECMP: all 16 small datagrams arrived'] },
    { what: 'kernel ECMP lost a large datagram', measured: withFacts(fragmentsHealthy, { kernelLarge_s1: 15 }), unmet: ['kernel ECMP: all 16 large datagrams arrived (fragments kept together)'] },
    {
      what: 'kernel ECMP spread the large datagrams over both servers',
      measured: withFacts(fragmentsHealthy, { kernelLarge_s1: 10, kernelLarge_s2: 6 }),
      unmet: ['kernel ECMP: all large datagrams (hashed without ports) went to one server'],
    },
    { what: 'no flow was split', measured: withFacts(fragmentsHealthy, { kernelFlowsSplit: 0 }), unmet: ["kernel ECMP: some flows' small and large datagrams went to different servers"] },
    { what: 'first-fragment hashing lost a small datagram', measured: withFacts(fragmentsHealthy, { hashedSmall_s1: 5 }), unmet: ['first-fragment hashing: all 16 small datagrams arrived'] },
    {
      what: 'first-fragment hashing lost no large datagram',
      measured: withFacts(fragmentsHealthy, { hashedLarge_s1: 9, hashedLarge_s2: 7 }),
      unmet: ['first-fragment hashing: some large datagrams were lost (fragments split across servers)'],
    },
    {
      what: 'not known how many flows were sent in the second phase',
      measured: without(fragmentsHealthy, 'hashedFlows'),
      unmet: ['first-fragment hashing: some large datagrams were lost (fragments split across servers)'],
    },
    { what: 'one server never timed out reassembling', measured: withFacts(fragmentsHealthy, { hashedReasmTimeouts_s2: 0 }), unmet: ['first-fragment hashing: each server timed out reassembling incomplete datagrams'] },
    { what: "a server's counters were not read", measured: without(fragmentsHealthy, 'hashedReasmTimeouts_s1'), unmet: ['first-fragment hashing: each server timed out reassembling incomplete datagrams'] },
  ],
};

// ---- ecmp-ptb-wrong-server -------------------------------------------------------------------------------------

/** IPv4's errors hash to s1, IPv6's to s2: 8 of 12 downloads stall on the other server, 4 complete. */
const ptbHealthy = measured(
  Object.fromEntries(
    FAMILIES.flatMap((f) => {
      const [icmp, other] = f === 4 ? ['s1', 's2'] : ['s2', 's1'];
      return [
        [`stalled${f}`, 8], [`completed${f}`, 4], [`failed${f}`, 0],
        [`stalled${f}_${icmp}`, 0], [`stalled${f}_${other}`, 8], [`completed${f}_${icmp}`, 4], [`completed${f}_${other}`, 0],
        [`packetTooBig${f}_${icmp}`, 86], [`packetTooBig${f}_${other}`, 0],
        [`icmpRoutedTo${f}_${icmp}`, true], [`icmpRoutedTo${f}_${other}`, false],
        [`serverMtu${f}_${icmp}`, 1400], [`serverMtu${f}_${other}`, 0],
      ];
    }),
  ),
  FAMILIES.flatMap((f) => Array.from({ length: 12 }, (_, i) => transfer(`download 1 MB #${i + 1}`, f, i < 8 ? 'stalled' : 'completed'))),
);

const icmpName = (f: IpFamily): string => (f === 4 ? '"fragmentation needed"' : 'Packet Too Big');

const ptb: ScenarioCases = {
  scenario: ecmpPtbWrongServer,
  healthy: ptbHealthy,
  informational: FAMILIES.flatMap((f) => ['s1', 's2'].flatMap((s) => [`completed${f}_${s}`, `icmpRoutedTo${f}_${s}`, `serverMtu${f}_${s}`])),
  violations: FAMILIES.flatMap((f): Violation[] => {
    const [icmp, other] = f === 4 ? ['s1', 's2'] : ['s2', 's1'];
    const exactlyOne = `IPv${f}: rc's ${icmpName(f)} reached exactly one of the servers`;
    const stallsPlaced = `IPv${f}: every stalled download was on a server that received no ${icmpName(f)}`;
    return [
      { what: 'a download never ran', measured: withoutTransfer(ptbHealthy, 'download 1 MB #12', f), unmet: [`IPv${f}: all 12 downloads ran`] },
      { what: "the outcomes' tally is not that of the downloads", measured: without(ptbHealthy, `completed${f}`), unmet: [`IPv${f}: all 12 downloads ran`, `IPv${f}: some downloads completed`] },
      { what: 'nothing stalled', measured: withFacts(ptbHealthy, { [`stalled${f}`]: 0, [`stalled${f}_${other}`]: 0, [`completed${f}`]: 12 }), unmet: [`IPv${f}: some downloads stalled`] },
      { what: 'nothing completed', measured: withFacts(ptbHealthy, { [`completed${f}`]: 0, [`failed${f}`]: 4 }), unmet: [`IPv${f}: some downloads completed`, `IPv${f}: no download failed otherwise`] },
      { what: 'a download failed', measured: withFacts(ptbHealthy, { [`failed${f}`]: 1, [`completed${f}`]: 3 }), unmet: [`IPv${f}: no download failed otherwise`] },
      // Before, a run in which no server got the ICMP errors passed: no ICMP server, so no stall on it.
      { what: 'no server received the ICMP errors', measured: withFacts(ptbHealthy, { [`packetTooBig${f}_${icmp}`]: 0 }), unmet: [exactlyOne] },
      { what: 'both servers received them', measured: withFacts(ptbHealthy, { [`packetTooBig${f}_${other}`]: 3 }), unmet: [exactlyOne, stallsPlaced] },
      { what: 'the counters were not read', measured: without(ptbHealthy, `packetTooBig${f}_s1`, `packetTooBig${f}_s2`), unmet: [exactlyOne, stallsPlaced] },
      { what: 'a download stalled on the server that got them', measured: withFacts(ptbHealthy, { [`stalled${f}_${icmp}`]: 1, [`stalled${f}_${other}`]: 7 }), unmet: [stallsPlaced] },
      { what: "a stalled download's server is unknown", measured: withFacts(ptbHealthy, { [`stalled${f}_${other}`]: 7 }), unmet: [stallsPlaced] },
    ];
  }),
};

// ---- ecmp-ptb-relay ----------------------------------------------------------------------------------------------

const relayFacts = (node: string, counts: Partial<Record<string, number>>): Facts =>
  Object.fromEntries(
    ['relayQueued', 'relayedInKernel', 'relayEnvelopes', 'relayedOwner', 'relayedBroadcast', 'relayedFallback', 'relayCopies', 'relayInjected', 'relayIgnored', 'relayIgnoredDuplicate', 'relayEnvelopesIgnored', 'relayEnvelopeDuplicates'].map(
      (name) => [`${name}_${node}`, counts[name] ?? 0],
    ),
  );

const withoutRelay = (m: Measurements, node: string): Measurements => without(m, ...Object.keys(relayFacts(node, {})));

/** Every download completed, as `carried` says per server. */
const healedDownloads = (f: IpFamily, carried: { s1: number; s2: number }): Facts => ({
  [`stalled${f}`]: 0, [`completed${f}`]: 12, [`failed${f}`]: 0,
  [`stalled${f}_s1`]: 0, [`stalled${f}_s2`]: 0, [`completed${f}_s1`]: carried.s1, [`completed${f}_s2`]: carried.s2,
  [`carried${f}_s1`]: carried.s1, [`carried${f}_s2`]: carried.s2, [`serverMtu${f}_s1`]: 1400, [`serverMtu${f}_s2`]: 1400,
});

const allCompleted = FAMILIES.flatMap((f) => Array.from({ length: 12 }, (_, i) => transfer(`download 1 MB #${i + 1}`, f, 'completed')));

/** As in a real run: 6 errors per family, spread over both servers by flow; the relay on r steered all 12. */
const ownerHealthy = measured(
  {
    ...healedDownloads(4, { s1: 6, s2: 6 }),
    ...healedDownloads(6, { s1: 7, s2: 5 }),
    packetTooBigSent4: 6, packetTooBig4_s1: 2, packetTooBig4_s2: 4,
    packetTooBigSent6: 6, packetTooBig6_s1: 3, packetTooBig6_s2: 3,
    ...relayFacts('r', { relayedInKernel: 12, relayedOwner: 12 }),
  },
  allCompleted,
);

/** The first download of the family stalled on s1. */
const oneStalled = (m: Measurements, f: IpFamily): Measurements =>
  withFacts(withOutcome(m, 'download 1 MB #1', f, 'stalled'), {
    [`stalled${f}`]: 1, [`completed${f}`]: 11, [`stalled${f}_s1`]: 1, [`completed${f}_s1`]: Number(m.facts[`completed${f}_s1`]) - 1,
  });

const owner: ScenarioCases = {
  scenario: ecmpPtbRelay,
  healthy: ownerHealthy,
  informational: [
    ...FAMILIES.flatMap((f) => ['s1', 's2'].flatMap((s) => [`stalled${f}_${s}`, `completed${f}_${s}`])),
    ...['relayQueued', 'relayedInKernel', 'relayEnvelopes', 'relayedBroadcast', 'relayCopies', 'relayInjected', 'relayIgnored', 'relayIgnoredDuplicate', 'relayEnvelopesIgnored', 'relayEnvelopeDuplicates'].map((n) => `${n}_r`),
  ],
  violations: [
    ...FAMILIES.flatMap((f): Violation[] => {
      const once = `IPv${f}: each of rc's ${icmpName(f)} reached the servers once (arrivals at s1 and s2 add up to what rc sent)`;
      const relayedAll = "the relay on r relayed every ICMP error rc sent to the server of its flow (relayed owner = rc's count, both families)";
      return [
        { what: 'a download stalled', measured: oneStalled(ownerHealthy, f), unmet: [`IPv${f}: every download completed`] },
        { what: 'a download failed', measured: withFacts(withOutcome(ownerHealthy, 'download 1 MB #2', f, 'failed'), { [`failed${f}`]: 1, [`completed${f}`]: 11 }), unmet: [`IPv${f}: every download completed`] },
        { what: 'a download never ran', measured: withoutTransfer(ownerHealthy, 'download 1 MB #12', f), unmet: [`IPv${f}: all 12 downloads ran`, `IPv${f}: every download completed`] },
        { what: 'a server that carried downloads learned no mtu', measured: withFacts(ownerHealthy, { [`serverMtu${f}_s2`]: 0 }), unmet: [`IPv${f}: every server that carried a download has mtu 1400 toward c`] },
        { what: "a server's route lookup failed", measured: without(ownerHealthy, `serverMtu${f}_s1`), unmet: [`IPv${f}: every server that carried a download has mtu 1400 toward c`] },
        { what: "a server's share of the downloads is unknown", measured: without(ownerHealthy, `carried${f}_s1`), unmet: [`IPv${f}: every server that carried a download has mtu 1400 toward c`] },
        {
          what: 'rc sent no error of the family (nothing for the relay to do)',
          measured: withFacts(ownerHealthy, { [`packetTooBigSent${f}`]: 0, [`packetTooBig${f}_s1`]: 0, [`packetTooBig${f}_s2`]: 0, relayedOwner_r: 6, relayQueued_r: 6 }),
          unmet: [`IPv${f}: rc sent ${icmpName(f)} (its link toward c is 1400 bytes)`, once],
        },
        { what: 'a duplicated Packet Too Big: one error reached both servers', measured: withFacts(ownerHealthy, { [`packetTooBig${f}_s1`]: Number(ownerHealthy.facts[`packetTooBig${f}_s1`]) + 1 }), unmet: [once] },
        { what: 'an error was lost on the way', measured: withFacts(ownerHealthy, { [`packetTooBig${f}_s2`]: Number(ownerHealthy.facts[`packetTooBig${f}_s2`]) - 1 }), unmet: [once] },
        { what: "a server's counter was not read", measured: without(ownerHealthy, `packetTooBig${f}_s1`), unmet: [once] },
        { what: "rc's counter was not read", measured: without(ownerHealthy, `packetTooBigSent${f}`), unmet: [`IPv${f}: rc sent ${icmpName(f)} (its link toward c is 1400 bytes)`, once, relayedAll] },
      ];
    }),
    {
      what: 'a fallback: two messages went to every server',
      measured: withFacts(ownerHealthy, { relayedOwner_r: 10, relayedFallback_r: 2, relayCopies_r: 4 }),
      unmet: ["the relay on r relayed every ICMP error rc sent to the server of its flow (relayed owner = rc's count, both families)", 'the relay on r sent nothing to every server (fallback 0)'],
    },
    {
      what: 'a message left to the kernel by a rate limit',
      measured: withFacts(ownerHealthy, { relayedOwner_r: 11, relayIgnored_r: 1 }),
      unmet: ["the relay on r relayed every ICMP error rc sent to the server of its flow (relayed owner = rc's count, both families)"],
    },
    {
      what: 'the relay printed no summary',
      measured: withoutRelay(ownerHealthy, 'r'),
      unmet: ["the relay on r relayed every ICMP error rc sent to the server of its flow (relayed owner = rc's count, both families)", 'the relay on r sent nothing to every server (fallback 0)'],
    },
  ],
};

// ---- ecmp-ptb-relay-servers ------------------------------------------------------------------------------------

/**
 * As in a real run: r's seed sends IPv4's errors to s2 and IPv6's to s1. s2's relay sent s1 the 5 of its 7 IPv4 errors
 * that were for s1's flows, s1's relay sent s2 3 of its 5 IPv6 errors; each in two envelopes, one per address.
 */
const serversHealthy = measured(
  {
    hashSeed: 1, icmpRoutedTo4_s1: false, icmpRoutedTo4_s2: true, icmpRoutedTo6_s1: true, icmpRoutedTo6_s2: false,
    ...healedDownloads(4, { s1: 5, s2: 7 }),
    ...healedDownloads(6, { s1: 2, s2: 10 }),
    packetTooBigSent4: 7, packetTooBig4_s1: 0, packetTooBig4_s2: 7, packetTooBigHandedOn4_s1: 5, packetTooBigHandedOn4_s2: 0,
    packetTooBigSent6: 5, packetTooBig6_s1: 5, packetTooBig6_s2: 0, packetTooBigHandedOn6_s1: 0, packetTooBigHandedOn6_s2: 3,
    ...relayFacts('s1', { relayQueued: 3, relayEnvelopes: 10, relayedBroadcast: 3, relayCopies: 11, relayInjected: 5, relayIgnored: 5, relayIgnoredDuplicate: 5, relayEnvelopesIgnored: 5, relayEnvelopeDuplicates: 5 }),
    ...relayFacts('s2', { relayQueued: 5, relayEnvelopes: 6, relayedBroadcast: 5, relayCopies: 13, relayInjected: 3, relayIgnored: 3, relayIgnoredDuplicate: 3, relayEnvelopesIgnored: 3, relayEnvelopeDuplicates: 3 }),
  },
  allCompleted,
);

const serverConditions = (s: string, peer: string): string[] => [
  `${s}: its relay received envelopes from ${peer}'s and handed messages to its kernel`,
  `${s}: every message ${peer}'s relay sent arrived in two envelopes (one per address)`,
  `${s}: its relay handed each message ${peer}'s relay sent to its kernel once`,
  `${s}: its relay ignored every other envelope as a duplicate, and none for another reason`,
  `${s}: its kernel received through lo exactly what its relay handed on (INPUT counter)`,
  `${s}: its relay queued only messages that came from r, never one it handed on itself`,
];
const [S1_GOT, S1_TWO, S1_ONCE, S1_DUPLICATES, S1_LO, S1_QUEUED] = serverConditions('s1', 's2');
const [, S2_TWO, S2_ONCE] = serverConditions('s2', 's1');

const servers: ScenarioCases = {
  scenario: ecmpPtbRelayServers,
  healthy: serversHealthy,
  informational: [
    'hashSeed',
    ...FAMILIES.flatMap((f) => ['s1', 's2'].flatMap((s) => [`icmpRoutedTo${f}_${s}`, `stalled${f}_${s}`, `completed${f}_${s}`])),
    ...['s1', 's2'].flatMap((s) => ['relayedOwner', 'relayedInKernel', 'relayedFallback', 'relayCopies', 'relayIgnored', 'relayIgnoredDuplicate'].map((n) => `${n}_${s}`)),
  ],
  violations: [
    ...FAMILIES.flatMap((f): Violation[] => [
      { what: 'a download stalled', measured: oneStalled(serversHealthy, f), unmet: [`IPv${f}: every download completed`] },
      { what: 'a server that carried downloads learned no mtu', measured: withFacts(serversHealthy, { [`serverMtu${f}_s1`]: 0 }), unmet: [`IPv${f}: every server that carried a download has mtu 1400 toward c`] },
      {
        what: 'a duplicated Packet Too Big: r sent one error to both servers',
        measured: withFacts(serversHealthy, { [`packetTooBig${f}_s1`]: Number(serversHealthy.facts[`packetTooBig${f}_s1`]) + 1 }),
        unmet: [`IPv${f}: each of rc's ${icmpName(f)} reached the servers from r once (arrivals at s1 and s2 add up to what rc sent)`],
      },
    ]),
    {
      what: "s2's relay sent s1 nothing",
      measured: withFacts(serversHealthy, { relayedBroadcast_s2: 0, relayEnvelopes_s1: 0, relayInjected_s1: 0, relayEnvelopesIgnored_s1: 0, relayEnvelopeDuplicates_s1: 0, packetTooBigHandedOn4_s1: 0 }),
      unmet: [S1_GOT!],
    },
    { what: 'an envelope was lost', measured: withFacts(serversHealthy, { relayEnvelopes_s1: 9, relayEnvelopesIgnored_s1: 4, relayEnvelopeDuplicates_s1: 4 }), unmet: [S1_TWO!] },
    {
      what: 'a message was handed to the kernel twice (both its envelopes injected)',
      measured: withFacts(serversHealthy, { relayInjected_s1: 6, packetTooBigHandedOn4_s1: 6, relayEnvelopesIgnored_s1: 4, relayEnvelopeDuplicates_s1: 4 }),
      unmet: [S1_ONCE!],
    },
    {
      what: 'a message was never handed on: both its envelopes ignored as duplicates',
      measured: withFacts(serversHealthy, { relayInjected_s1: 4, packetTooBigHandedOn4_s1: 4, relayEnvelopesIgnored_s1: 6, relayEnvelopeDuplicates_s1: 6 }),
      unmet: [S1_ONCE!],
    },
    {
      what: 'an envelope was refused by a rate limit',
      measured: withFacts(serversHealthy, { relayInjected_s1: 4, packetTooBigHandedOn4_s1: 4, relayEnvelopesIgnored_s1: 6 }),
      unmet: [S1_ONCE!, S1_DUPLICATES!],
    },
    { what: 'the kernel got a handed-on message twice', measured: withFacts(serversHealthy, { packetTooBigHandedOn4_s1: 6 }), unmet: [S1_LO!] },
    { what: 'the counters on lo were not read', measured: without(serversHealthy, 'packetTooBigHandedOn6_s1'), unmet: [S1_LO!] },
    { what: 'the relay queued a copy it had handed on itself', measured: withFacts(serversHealthy, { relayQueued_s1: 6 }), unmet: [S1_QUEUED!] },
    {
      what: "s1's relay printed no summary",
      measured: withoutRelay(serversHealthy, 's1'),
      unmet: [S1_GOT!, S1_TWO!, S1_ONCE!, S1_DUPLICATES!, S1_LO!, S1_QUEUED!, S2_TWO!, S2_ONCE!],
    },
  ],
};

// ---- udp-fragment-firewall ---------------------------------------------------------------------------------------

const firewallHealthy = measured(
  Object.fromEntries(
    FAMILIES.flatMap((f) => [
      [`controlAnswer${f}_3000`, true], [`controlAnswer${f}_8000`, true],
      [`answer${f}_200`, true], [`answer${f}_1400`, true], [`answer${f}_3000`, false], [`answer${f}_8000`, false],
      // 3000 and 8000 bytes of UDP payload leave a 1500-byte link as 3 and 6 fragments.
      [`fragmentsDropped${f}_200`, 0], [`fragmentsDropped${f}_1400`, 0], [`fragmentsDropped${f}_3000`, 3], [`fragmentsDropped${f}_8000`, 6],
    ]),
  ),
);

const firewall: ScenarioCases = {
  scenario: udpFragmentFirewall,
  healthy: firewallHealthy,
  informational: FAMILIES.flatMap((f) => [`fragmentsDropped${f}_200`, `fragmentsDropped${f}_1400`]),
  violations: FAMILIES.flatMap((f): Violation[] => [
    { what: 'a small answer was lost', measured: withFacts(firewallHealthy, { [`answer${f}_200`]: false }), unmet: [`IPv${f}: the 200-byte answer arrived`] },
    { what: 'the control lost a large answer', measured: withFacts(firewallHealthy, { [`controlAnswer${f}_3000`]: false }), unmet: [`IPv${f} control: with fragments let through, the 3000-byte answer arrived`] },
    { what: 'the control never ran', measured: without(firewallHealthy, `controlAnswer${f}_8000`), unmet: [`IPv${f} control: with fragments let through, the 8000-byte answer arrived`] },
    { what: 'a fragmented answer got through', measured: withFacts(firewallHealthy, { [`answer${f}_8000`]: true }), unmet: [`IPv${f}: the 8000-byte answer (fragmented) never arrived`] },
    { what: 'a large answer was never asked for', measured: without(firewallHealthy, `answer${f}_3000`), unmet: [`IPv${f}: the 3000-byte answer (fragmented) never arrived`] },
    // Before, a lost answer was taken for the firewall's doing: "never sent" looked the same.
    {
      what: 'fw dropped nothing while the answer was due (it was lost elsewhere, or never sent)',
      measured: withFacts(firewallHealthy, { [`fragmentsDropped${f}_3000`]: 0 }),
      unmet: [`IPv${f}: fw's fragment DROP rule dropped fragments while the 3000-byte answer was due`],
    },
    {
      what: "fw's counters were not read",
      measured: without(firewallHealthy, `fragmentsDropped${f}_8000`),
      unmet: [`IPv${f}: fw's fragment DROP rule dropped fragments while the 8000-byte answer was due`],
    },
  ]),
};

// ---- mss-clamp-1344 ----------------------------------------------------------------------------------------------

const clampHealthy = measured(
  Object.fromEntries(
    FAMILIES.flatMap((f) => [
      [`clientSyns${f}`, 2], [`clientSynsOwnMss${f}`, 2], [`serverSyns${f}`, 2], [`serverSynsClamped${f}`, 2],
      [`pingsSent${f}`, 2], [`pingReplies${f}`, 0], [`icmpMtu${f}`, 0], [`cachedMtu${f}`, 0],
    ]),
  ),
  FAMILIES.flatMap((f) => [transfer('upload 100 KB', f, 'completed'), transfer('download 1 MB', f, 'completed')]),
);

const clamp: ScenarioCases = {
  scenario: mssClamp1344,
  healthy: clampHealthy,
  informational: [],
  violations: FAMILIES.flatMap((f): Violation[] => {
    const left = `IPv${f}: every SYN of c's 2 connections left c with MSS ${f === 4 ? 1460 : 1440}`;
    const reached = `IPv${f}: every SYN of c's 2 connections reached the server with MSS 1344`;
    return [
      { what: 'c announced another MSS itself', measured: withFacts(clampHealthy, { [`clientSynsOwnMss${f}`]: 0 }), unmet: [left] },
      { what: "c's SYNs were not counted", measured: withFacts(clampHealthy, { [`clientSyns${f}`]: 0, [`clientSynsOwnMss${f}`]: 0 }), unmet: [left] },
      { what: 'a SYN reached the server unclamped', measured: withFacts(clampHealthy, { [`serverSynsClamped${f}`]: 1 }), unmet: [reached] },
      { what: 'the server saw one SYN only', measured: withFacts(clampHealthy, { [`serverSyns${f}`]: 1, [`serverSynsClamped${f}`]: 1 }), unmet: [reached] },
      { what: 'the upload stalled', measured: withOutcome(clampHealthy, 'upload 100 KB', f, 'stalled'), unmet: [`IPv${f}: the 100 KB upload completed`] },
      { what: 'the download never ran', measured: withoutTransfer(clampHealthy, 'download 1 MB', f), unmet: [`IPv${f}: the 1 MB download completed`] },
      // Before, a ping that never ran counted as "no ICMP".
      {
        what: 'the ping sent nothing, though its replies and errors read as none',
        measured: withFacts(clampHealthy, { [`pingsSent${f}`]: 0 }),
        unmet: [`IPv${f}: the 1500-byte DF ping was sent and got no reply`, `IPv${f}: the 1500-byte DF ping drew no ICMP error`],
      },
      {
        what: 'the ping never ran',
        measured: without(withFacts(clampHealthy, { [`pingsSent${f}`]: 0 }), `pingReplies${f}`, `icmpMtu${f}`),
        unmet: [`IPv${f}: the 1500-byte DF ping was sent and got no reply`, `IPv${f}: the 1500-byte DF ping drew no ICMP error`],
      },
      { what: 'the ping drew an ICMP error', measured: withFacts(clampHealthy, { [`icmpMtu${f}`]: 1400 }), unmet: [`IPv${f}: the 1500-byte DF ping drew no ICMP error`] },
      { what: 'the ping was answered', measured: withFacts(clampHealthy, { [`pingReplies${f}`]: 1 }), unmet: [`IPv${f}: the 1500-byte DF ping was sent and got no reply`] },
      { what: 'c learned an mtu', measured: withFacts(clampHealthy, { [`cachedMtu${f}`]: 1400 }), unmet: [`IPv${f}: c's route cache has no learned mtu for s`] },
    ];
  }),
};

// ---- encap-lb ----------------------------------------------------------------------------------------------------

const encapHealthy = measured(
  { tunnelMtu: 1500, lbFragFails: 16, clientFragNeeded: 0, lbCachedMtu: 1450, clientCachedMtu: 0, serverAnswersByTunnel: false },
  [transfer('small request', 4, 'completed'), transfer('upload 100 KB', 4, 'stalled'), transfer('download 1 MB', 4, 'completed')],
);

const encap: ScenarioCases = {
  scenario: encapLb,
  healthy: encapHealthy,
  informational: ['serverAnswersByTunnel'],
  violations: [
    { what: 'the tunnel has room for the overhead', measured: withFacts(encapHealthy, { tunnelMtu: 1450 }), unmet: ["lb's tunnel has mtu 1500"] },
    { what: 'the small request stalled', measured: withOutcome(encapHealthy, 'small request', 4, 'stalled'), unmet: ['the small request completed'] },
    { what: 'the upload completed', measured: withOutcome(encapHealthy, 'upload 100 KB', 4, 'completed'), unmet: ['the 100 KB upload stalled'] },
    { what: 'the download stalled', measured: withOutcome(encapHealthy, 'download 1 MB', 4, 'stalled'), unmet: ['the 1 MB download completed'] },
    // Before, `lab run` recorded the ip_fragment drop and lb's learned mtu but judged neither.
    { what: 'ip_fragment refused nothing', measured: withFacts(encapHealthy, { lbFragFails: 0 }), unmet: ["lb's ip_fragment refused packets (FragFails rose)"] },
    { what: "lb's counters were not read", measured: without(encapHealthy, 'lbFragFails'), unmet: ["lb's ip_fragment refused packets (FragFails rose)"] },
    { what: 'lb learned no mtu', measured: withFacts(encapHealthy, { lbCachedMtu: 0 }), unmet: ["lb's route to the service learned mtu 1450"] },
    { what: 'the client was told', measured: withFacts(encapHealthy, { clientFragNeeded: 2 }), unmet: ['no "fragmentation needed" reached the client'] },
    { what: 'the client learned an mtu', measured: withFacts(encapHealthy, { clientCachedMtu: 1450 }), unmet: ["the client's route cache has no learned mtu (no ICMP reached it)"] },
    { what: "the client's route lookup failed", measured: without(encapHealthy, 'clientCachedMtu'), unmet: ["the client's route cache has no learned mtu (no ICMP reached it)"] },
  ],
};

const CASES: readonly ScenarioCases[] = [blackhole, fragments, ptb, owner, servers, firewall, clamp, encap];

describe('scenario checks, on measurements stated here', () => {
  it('cover every scenario of the catalogue', () => {
    assert.deepEqual(CASES.map((c) => c.scenario.name).sort(), SCENARIOS.map((s) => s.name).sort());
  });

  for (const c of CASES) {
    describe(c.scenario.name, () => {
      it('a healthy run: as expected', () => {
        assert.deepEqual(unmetExpectations(c.scenario, c.healthy), []);
      });

      it('each condition violated alone: not as expected, naming that condition', () => {
        assert.ok(c.violations.length >= 5);
        for (const v of c.violations) assert.deepEqual(unmetExpectations(c.scenario, v.measured), v.unmet, v.what);
      });

      it('any piece of evidence missing: not as expected', () => {
        assert.ok(unmetExpectations(c.scenario, NOTHING).length > 0, 'nothing measured');
        for (const name of Object.keys(c.healthy.facts).filter((n) => !c.informational.includes(n))) {
          assert.ok(unmetExpectations(c.scenario, without(c.healthy, name)).length > 0, `without ${name}`);
        }
        for (const t of c.healthy.transfers) {
          assert.ok(unmetExpectations(c.scenario, withoutTransfer(c.healthy, t.label, t.family)).length > 0, `without IPv${t.family} ${t.label}`);
        }
      });

      it('findings: nothing measured, nothing claimed', () => {
        const words = c.scenario.findings(NOTHING);
        assert.ok(words.length > 0);
        for (const sentence of words) assert.match(sentence, /cannot tell|never ran/, sentence);
      });
    });
  }
});

describe('scenario findings, built from what was measured', () => {
  it('icmp-blackhole: the control ping, the silent ping and the route caches as measured', () => {
    const words = icmpBlackhole.findings(blackholeHealthy);
    assert.ok(words.includes('control (ICMP allowed on r1), IPv4: the 1500-byte DF ping drew "fragmentation needed" with mtu 1400; c\'s route to 10.99.0.1 then: mtu 1400'), words.join('\n'));
    assert.ok(words.some((w) => w.startsWith('ICMP dropped on r1, IPv6: 2 DF pings of 1500 bytes: 0 replies, no ICMP error; the 100 KB upload stalled')), words.join('\n'));
    assert.ok(words.some((w) => w.includes("c's route to s afterwards: no learned mtu (c never learned")));
    const noControl = icmpBlackhole.findings(without(withFacts(blackholeHealthy, { controlPingsSent4: 0 }), 'controlIcmpMtu4'));
    assert.ok(noControl.some((w) => w.startsWith("control (ICMP allowed on r1), IPv4: the 1500-byte DF ping sent nothing (cannot tell whether r1's ICMP gets out)")), noControl.join('\n'));
    const told = icmpBlackhole.findings(withFacts(blackholeHealthy, { icmpMtu4: 1400, cachedMtu4: 1400 }));
    assert.ok(told.some((w) => w.includes('an ICMP error with mtu 1400') && w.endsWith("c's route to s afterwards: mtu 1400")), told.join('\n'));
  });

  it('ecmp-fragments: the arrivals by server and the reassembly timeouts as counted', () => {
    const [kernel, hashed] = ecmpFragments.findings(fragmentsHealthy);
    assert.match(kernel ?? '', /^kernel ECMP \(hash policy 1\): 16 of 16 200-byte datagrams arrived \(s1: 9, s2: 7\), 16 of 16 3000-byte ones \(s1: 16, s2: 0\); /);
    assert.match(kernel ?? '', /7 of 16 flows had their small and their large datagram on different servers; every large datagram reassembled, all on one server/);
    assert.match(hashed ?? '', /6 of 16 3000-byte ones \(s1: 6, s2: 0\); reassembly timeouts \(Ip.ReasmTimeout, ipfrag_time 1 s\): s1 10, s2 10; 10 large datagrams never reassembled/);
    const [spread] = ecmpFragments.findings(withFacts(fragmentsHealthy, { kernelLarge_s1: 10, kernelLarge_s2: 6 }));
    assert.doesNotMatch(spread ?? '', /all on one server/);
    const [, oneSided] = ecmpFragments.findings(withFacts(fragmentsHealthy, { hashedReasmTimeouts_s2: 0 }));
    assert.doesNotMatch(oneSided ?? '', /both servers gave up/);
  });

  it("ecmp-ptb-wrong-server: where the ICMP errors arrived, as counted; the verdict only when the counts show it", () => {
    const [v4, v6] = ecmpPtbWrongServer.findings(ptbHealthy);
    assert.equal(
      v4,
      'IPv4: 8 of 12 downloads stalled (s1: 0, s2: 8), 4 completed (s1: 4, s2: 0); rc\'s "fragmentation needed" arrived at s1 86, s2 0 (INPUT counters on their links from r), ' +
        "where r's route lookup for them leads to s1; routes back to c: s1 mtu 1400, s2 no learned mtu; every stalled download was on s2, which never received one",
    );
    assert.match(v6 ?? '', /Packet Too Big arrived at s1 0, s2 86 .* every stalled download was on s1, which never received one$/);
    const [none] = ecmpPtbWrongServer.findings(withFacts(ptbHealthy, { packetTooBig4_s1: 0 }));
    assert.doesNotMatch(none ?? '', /every stalled download/);
    assert.match(none ?? '', /arrived at s1 0, s2 0/);
  });

  it('ecmp-ptb-relay: the downloads, the errors counted leaving rc and arriving, and the relay\'s summary; "cannot tell" for what is missing', () => {
    const [v4, v6, relay] = ecmpPtbRelay.findings(ownerHealthy);
    assert.equal(
      v4,
      'IPv4: 12 of 12 downloads completed (s1: 6, s2: 6); routes back to c: s1 mtu 1400, s2 mtu 1400; rc sent 6 "fragmentation needed" (OUTPUT counter), ' +
        's1 got 2, s2 got 4 (INPUT counters on their links from r): one copy of each',
    );
    assert.match(v6 ?? '', /^IPv6: 12 of 12 downloads completed \(s1: 7, s2: 5\); .* rc sent 6 Packet Too Big \(OUTPUT counter\), s1 got 3, s2 got 3 .*: one copy of each$/);
    assert.equal(
      relay,
      'the relay on r relayed 12 in the kernel, queued 0 and received 0 envelopes; relayed in all: owner 12, broadcast 0, fallback 0; handed 0 to its kernel; ignored 0 (duplicates 0): ' +
        '12 of the 12 ICMP errors rc sent went to the server of their flow',
    );
    const [stalled] = ecmpPtbRelay.findings(oneStalled(ownerHealthy, 4));
    assert.match(stalled ?? '', /^IPv4: 11 of 12 downloads completed \(s1: 5, s2: 6\), 1 stalled \(s1: 1, s2: 0\);/);
    const [twice] = ecmpPtbRelay.findings(withFacts(ownerHealthy, { packetTooBig4_s1: 3 }));
    assert.match(twice ?? '', /s1 got 3, s2 got 4 \(INPUT counters on their links from r\)$/, 'no "one copy of each" when the counts say otherwise');
    const unread = ecmpPtbRelay.findings(without(ownerHealthy, 'packetTooBigSent6', 'packetTooBig4_s2'));
    assert.match(unread[0] ?? '', /rc sent 6 "fragmentation needed" \(OUTPUT counter\), cannot tell where they arrived \(INPUT counters not read\)$/);
    assert.match(unread[1] ?? '', /cannot tell how many Packet Too Big rc sent \(OUTPUT counter not read\), s1 got 3, s2 got 3 \(INPUT counters on their links from r\)$/);
    assert.equal(unread[2], 'the relay on r relayed 12 in the kernel, queued 0 and received 0 envelopes; relayed in all: owner 12, broadcast 0, fallback 0; handed 0 to its kernel; ignored 0 (duplicates 0)');
    assert.deepEqual(ecmpPtbRelay.findings(withoutRelay(ownerHealthy, 'r')).slice(2), ['cannot tell what the relay on r did (no summary)']);
  });

  it('ecmp-ptb-relay-servers: the pinned seed, the errors from r and through lo, and what each relay sent and handed on; "cannot tell" for what is missing', () => {
    const [seed, v4, , s1, s2] = ecmpPtbRelayServers.findings(serversHealthy);
    assert.equal(seed, "r's hash seed pinned to 1: r's route lookup sends rc's IPv4 errors to s2, IPv6 errors to s1");
    assert.equal(
      v4,
      'IPv4: 12 of 12 downloads completed (s1: 5, s2: 7); routes back to c: s1 mtu 1400, s2 mtu 1400; rc sent 7 "fragmentation needed" (OUTPUT counter); ' +
        'from r, s1 got 0, s2 got 7 (one copy of each); handed on by a relay, through lo: s1 5, s2 0',
    );
    assert.equal(
      s1,
      'the relay on s1 relayed 0 in the kernel, queued 3 and received 10 envelopes; relayed in all: owner 0, broadcast 3, fallback 0; handed 5 to its kernel; ignored 5 (duplicates 5); ' +
        "s2's relay sent 5 messages, which arrived as 10 envelopes: 5 handed to the kernel, 5 ignored as duplicates",
    );
    assert.match(s2 ?? '', /^the relay on s2 relayed 0 in the kernel, queued 5 and received 6 envelopes; .* s1's relay sent 3 messages, which arrived as 6 envelopes: 3 handed to the kernel, 3 ignored as duplicates$/);
    const missing = ecmpPtbRelayServers.findings(without(withoutRelay(serversHealthy, 's2'), 'hashSeed', 'packetTooBigHandedOn6_s2'));
    assert.match(missing[0] ?? '', /^r's hash seed was not pinned .*: cannot tell beforehand where each family's ICMP errors go$/);
    assert.match(missing[2] ?? '', /; cannot tell what the relays handed to their kernels \(INPUT counters on lo not read\)$/);
    assert.equal(missing[3], 'the relay on s1 relayed 0 in the kernel, queued 3 and received 10 envelopes; relayed in all: owner 0, broadcast 3, fallback 0; handed 5 to its kernel; ignored 5 (duplicates 5)');
    assert.equal(missing[4], 'cannot tell what the relay on s2 did (no summary)');
  });

  it("udp-fragment-firewall: each answer with what fw's DROP rule dropped meanwhile", () => {
    const words = udpFragmentFirewall.findings(firewallHealthy);
    assert.ok(words.includes('control (fragments let through fw), IPv6: the 3000-byte answer arrived, the 8000-byte answer arrived'), words.join('\n'));
    assert.ok(
      words.includes(
        'IPv4 with fw dropping fragments (in brackets: fragments its DROP rule dropped during each query): the 200-byte answer arrived (0), ' +
          'the 1400-byte answer arrived (0), the 3000-byte answer did not arrive (3), the 8000-byte answer did not arrive (6)',
      ),
      words.join('\n'),
    );
  });

  it('mss-clamp-1344: the SYN counts on c and s; "the clamp alone carried them" only when nothing else did', () => {
    const words = mssClamp1344.findings(clampHealthy);
    assert.ok(words.includes('IPv6: 2 of the 2 SYNs leaving c carried MSS 1440, 2 of the 2 reaching s carried MSS 1344 (iptables counters on c and s): isp rewrote their MSS'), words.join('\n'));
    assert.ok(words.some((w) => w.startsWith('IPv4: 2 DF pings of 1500 bytes: 0 replies, no ICMP error') && w.endsWith('so the clamp alone carried them')));
    const unclamped = mssClamp1344.findings(withFacts(clampHealthy, { serverSynsClamped4: 0 }));
    assert.ok(unclamped.includes('IPv4: 2 of the 2 SYNs leaving c carried MSS 1460, 0 of the 2 reaching s carried MSS 1344 (iptables counters on c and s)'), unclamped.join('\n'));
    const noPing = mssClamp1344.findings(withFacts(clampHealthy, { pingsSent6: 0 }));
    assert.ok(noPing.some((w) => w.startsWith('IPv6: the 1500-byte DF ping sent nothing: cannot tell') && !w.includes('clamp alone')), noPing.join('\n'));
  });

  it("encap-lb: lb's FragFails and learned mtu, what reached the client, as measured", () => {
    const words = encapLb.findings(encapHealthy);
    assert.match(words[0] ?? '', /lb's FragFails counter \(ip_fragment refusing a packet too big with DF\) rose by 16 during the transfers$/);
    assert.match(words[1] ?? '', /^lb's route to 10.99.0.1 afterwards: mtu 1450; the client's: no learned mtu, and 0 "fragmentation needed" reached it \(a forwarding router ignores/);
    const told = encapLb.findings(withFacts(encapHealthy, { clientFragNeeded: 3, clientCachedMtu: 1450 }));
    assert.equal(told[1], 'lb\'s route to 10.99.0.1 afterwards: mtu 1450; the client\'s: mtu 1450, and 3 "fragmentation needed" reached it');
    const unread = encapLb.findings(without(encapHealthy, 'lbFragFails'));
    assert.match(unread[0] ?? '', /cannot tell whether lb's ip_fragment refused packets/);
  });
});
