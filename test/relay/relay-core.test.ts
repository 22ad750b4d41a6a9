import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCidrOrAddress, type Cidr } from '../../src/packet/cidr.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import { Ipv4Packet } from '../../src/packet/ipv4.js';
import { emitRelayEnvelope, parseRelayEnvelope, RelayEnvelopeFlag, RelayEnvelopePacket } from '../../src/packet/relay-envelope.js';
import { RelayCore, type QueuedMessage, type RelayCoreSettings, type RelayEvent, type RelayMode, type RelayPeer } from '../../src/relay/relay-core.js';
import { namedCounts } from '../../src/host/bpf-object.js';
import { STEER_COUNTERS, type SteerCounters, type SteerEvent } from '../../src/relay/relay-kernel-layout.js';
import { DEFAULT_RELAYED_DSCP, INJECTED_MARK, markMeaning, peerMark, peerRouteMark, ROUTE_BIT, sharedInterfaceMark } from '../../src/relay/relay-marks.js';
import { offendingTcp, packetTooBig, PEER4, PEER_PORT, ROUTER4, SERVED4, SERVED6, SERVED_PORT } from './relay-packets.js';

type Decision = { kind: 'accept' } | { kind: 'marked'; mark: number } | { kind: 'drop' };

class FakeQueued implements QueuedMessage {
  readonly decisions: Decision[] = [];
  constructor(
    readonly bytes: Uint8Array,
    readonly mark = 0,
  ) {}
  accept(): void {
    this.decisions.push({ kind: 'accept' });
  }
  acceptMarked(mark: number): void {
    this.decisions.push({ kind: 'marked', mark });
  }
  drop(): void {
    this.decisions.push({ kind: 'drop' });
  }
  get decision(): Decision {
    assert.equal(this.decisions.length, 1, `decided ${this.decisions.length} times`);
    return this.decisions[0]!;
  }
}

const PEERS4: RelayPeer[] = [
  { index: 0, address: '10.0.3.2', family: 4, device: 'eth2' },
  { index: 1, address: '10.0.4.2', family: 4, device: 'eth3' },
  { index: 2, address: '10.0.5.2', family: 4, device: 'eth4' },
  { index: 3, address: '10.0.5.3', family: 4, device: 'eth4' },
];

const served = (...texts: string[]): Cidr[] => texts.map((t) => parseCidrOrAddress(t)!);

function harness(mode: RelayMode, overrides: Partial<RelayCoreSettings> = {}) {
  let now = 1_000;
  const forwarded: { peer: string; packet: Uint8Array; destination: string }[] = [];
  const envelopes: { peer: string; payload: Uint8Array }[] = [];
  const injected: { family: IpFamily; packet: Uint8Array; destination: string }[] = [];
  const events: RelayEvent[] = [];
  const settings: RelayCoreSettings = {
    mode,
    peers: PEERS4,
    sharedInterfaces: [{ index: 0, family: 4, device: 'eth4', peers: [2, 3] }],
    policy: { served: served(SERVED4, SERVED6), maxMtu: { 4: 1500, 6: 1500 } },
    limits: {
      perRouter: { perSecond: 1000, burst: 2000 },
      perFlow: { perSecond: 10, burst: 20 },
      total: { perSecond: 5000, burst: 10_000 },
      dedupMs: 1000,
      maxKeys: 10_000,
    },
    relayedDscp: DEFAULT_RELAYED_DSCP,
    dryRun: false,
    ...overrides,
  };
  const core = new RelayCore(
    settings,
    {
      forward: (peer, packet, destination) => forwarded.push({ peer: peer.address, packet, destination }),
      envelope: (peer, payload) => envelopes.push({ peer: peer.address, payload }),
      inject: (family, packet, destination) => injected.push({ family, packet, destination }),
      event: (e) => events.push(e),
    },
    () => now,
  );
  return { core, forwarded, envelopes, injected, events, advance: (ms: number) => (now += ms) };
}

const ptb4 = (opts: { mtu?: number; dscp?: number; peerPort?: number } = {}): Uint8Array =>
  packetTooBig({ offending: offendingTcp(4, 1500), mtu: opts.mtu ?? 1400, ...(opts.dscp === undefined ? {} : { dscp: opts.dscp }) });

describe('relay marks', () => {
  it('tells a peer mark, a shared-interface mark, the injected mark and none apart, whatever other bits the mark carries', () => {
    assert.deepEqual(markMeaning(peerMark(5) | 0x6d74), { kind: 'peer', peerIndex: 5 });
    assert.deepEqual(markMeaning(peerRouteMark(5)), { kind: 'peer', peerIndex: 5 });
    assert.deepEqual(markMeaning(sharedInterfaceMark(2)), { kind: 'shared', interfaceIndex: 2 });
    assert.deepEqual(markMeaning(INJECTED_MARK), { kind: 'injected' });
    assert.deepEqual(markMeaning(0x6d74), { kind: 'none' });
    assert.equal(peerRouteMark(0) & ROUTE_BIT, ROUTE_BIT);
    assert.equal(peerMark(0) & ROUTE_BIT, 0, 'a restored connection mark alone must not route');
  });
});

describe('relay core, owner mode', () => {
  it('steers a message whose flow was learned on a peer\'s own interface to that peer, keeping the other bits of its mark', () => {
    const h = harness('owner');
    const q = new FakeQueued(ptb4(), peerMark(1) | 0x6d74);
    h.core.onQueued(q);
    assert.deepEqual(q.decision, { kind: 'marked', mark: peerRouteMark(1) | 0x6d74 });
    assert.equal(h.forwarded.length, 0);
    assert.equal(h.core.counters.relayed.owner, 1);
    const e = h.events[0]!;
    assert.ok(e.event === 'relayed');
    assert.equal(e.method, 'owner');
    assert.deepEqual(e.peers, ['10.0.4.2']);
    assert.equal(e.router, ROUTER4);
    assert.equal(e.mtu, 1400);
    assert.deepEqual(e.flow, { protocol: 6, served: SERVED4, servedPort: SERVED_PORT, peer: PEER4, peerPort: PEER_PORT });
  });

  it('sends a copy marked as relayed to every peer of the family and drops the original when the owner is not known', () => {
    const h = harness('owner');
    const original = ptb4();
    const q = new FakeQueued(original, 0);
    h.core.onQueued(q);
    assert.deepEqual(q.decision, { kind: 'drop' });
    assert.deepEqual(h.forwarded.map((f) => f.peer), PEERS4.map((p) => p.address));
    for (const f of h.forwarded) {
      assert.equal(f.destination, SERVED4);
      const ip = Ipv4Packet.check(f.packet);
      assert.ok(ip.ok, 'the copy is a valid IPv4 packet (header checksum recomputed)');
      assert.equal(f.packet[1]! >> 2, DEFAULT_RELAYED_DSCP);
      assert.deepEqual(f.packet.subarray(20), original.subarray(20), 'the ICMP message itself is unchanged');
    }
    assert.equal(h.core.counters.fallback['owner-unknown'], 1);
    assert.equal(h.core.counters.copies, PEERS4.length);
    const e = h.events[0]!;
    assert.ok(e.event === 'relayed' && e.method === 'fallback' && e.fallback === 'owner-unknown');
  });

  it('sends copies only to the peers behind the shared interface the flow left through', () => {
    const h = harness('owner');
    const q = new FakeQueued(ptb4(), sharedInterfaceMark(0));
    h.core.onQueued(q);
    assert.deepEqual(q.decision, { kind: 'drop' });
    assert.deepEqual(h.forwarded.map((f) => f.peer), ['10.0.5.2', '10.0.5.3']);
    assert.equal(h.core.counters.fallback['shared-interface'], 1);
  });

  it('leaves a malformed message alone and counts it by reason', () => {
    const h = harness('owner');
    const bad = ptb4().slice();
    bad[22] = bad[22]! ^ 0xff; // the ICMP checksum
    const q = new FakeQueued(bad, peerMark(0));
    h.core.onQueued(q);
    assert.deepEqual(q.decision, { kind: 'accept' });
    assert.equal(h.forwarded.length, 0);
    assert.equal(h.core.counters.ignored['bad-checksum'], 1);
    assert.equal(h.core.counters.relayed.owner, 0);
  });

  it('never handles a copy another relay made (its DSCP says so) again', () => {
    const h = harness('owner');
    const q = new FakeQueued(ptb4({ dscp: DEFAULT_RELAYED_DSCP }), 0);
    h.core.onQueued(q);
    assert.deepEqual(q.decision, { kind: 'accept' });
    assert.equal(h.forwarded.length, 0);
    assert.equal(h.core.counters.ignored['already-relayed'], 1);
  });

  it('relays an identical message once within the de-duplication window, again after it', () => {
    const h = harness('owner');
    const first = new FakeQueued(ptb4(), 0);
    const again = new FakeQueued(ptb4(), 0);
    h.core.onQueued(first);
    h.core.onQueued(again);
    assert.deepEqual(again.decision, { kind: 'accept' });
    assert.equal(h.core.counters.ignored.duplicate, 1);
    assert.equal(h.forwarded.length, PEERS4.length);
    h.advance(1001);
    const later = new FakeQueued(ptb4(), 0);
    h.core.onQueued(later);
    assert.deepEqual(later.decision, { kind: 'drop' });
    assert.equal(h.forwarded.length, 2 * PEERS4.length);
  });

  it('leaves an IPv6 message alone when it has no IPv6 peer, saying so', () => {
    const h = harness('owner');
    const q = new FakeQueued(packetTooBig({ offending: offendingTcp(6, 1500), mtu: 1400, to: SERVED6 }), 0);
    h.core.onQueued(q);
    assert.deepEqual(q.decision, { kind: 'accept' });
    assert.equal(h.core.counters.ignored['no-peer'], 1);
  });

  it('decides and reports but steers and sends nothing in a dry run', () => {
    const h = harness('owner', { dryRun: true });
    const owned = new FakeQueued(ptb4(), peerMark(0));
    const unknown = new FakeQueued(ptb4({ mtu: 1300 }), 0);
    h.core.onQueued(owned);
    h.core.onQueued(unknown);
    assert.deepEqual(owned.decision, { kind: 'accept' });
    assert.deepEqual(unknown.decision, { kind: 'accept' });
    assert.equal(h.forwarded.length, 0);
    assert.deepEqual(h.events.map((e) => (e.event === 'relayed' ? [e.method, e.dryRun] : e.event)), [['owner', true], ['fallback', true]]);
  });

  it('cannot be made to send more copies than its limits allow by a flood of forged messages (amplification measured)', () => {
    const h = harness('owner');
    const messages = 20_000;
    for (let i = 0; i < messages; i++) {
      // Every message quotes another flow (forged ports), from one router, 100,000 per second.
      const offending = offendingTcp(4, 1500);
      offending[22] = i >> 8;
      offending[23] = i & 0xff;
      h.core.onQueued(new FakeQueued(packetTooBig({ offending, mtu: 1400 }), 0));
      h.advance(0.01);
    }
    const elapsedS = (messages * 0.01) / 1000;
    // The router's bucket (burst 2000 + 1000/s) is the tightest: every copy beyond it would be amplification.
    const admitted = Math.floor(2000 + 1000 * elapsedS);
    assert.ok(h.core.counters.relayed.fallback <= admitted, `${h.core.counters.relayed.fallback} relayed, at most ${admitted}`);
    assert.equal(h.core.counters.copies, h.core.counters.relayed.fallback * PEERS4.length);
    const amplification = h.core.counters.copies / messages;
    assert.ok(amplification <= (admitted * PEERS4.length) / messages, `amplification ${amplification}`);
    assert.equal(h.core.counters.queued, messages);
    assert.equal((h.core.counters.ignored['router-limit'] ?? 0) + h.core.counters.relayed.fallback, messages);
  });
});

describe('relay core, what the kernel steering relayed', () => {
  const counters = (over: Partial<SteerCounters> = {}): SteerCounters => ({ ...namedCounts(STEER_COUNTERS, []), ...over });
  const event = (over: Partial<SteerEvent>): SteerEvent => ({
    family: 4,
    method: 'owner',
    index: 0,
    copies: 0,
    mtu: 1400,
    protocol: 6,
    router: ROUTER4,
    served: SERVED4,
    servedPort: SERVED_PORT,
    peer: PEER4,
    peerPort: PEER_PORT,
    ...over,
  });

  it('reports each message as its own, naming the peers of its method and family, and counts the kernel\'s increases into the totals', () => {
    const h = harness('owner', { peers: [...PEERS4, { index: 4, address: 'fd00:3::2', family: 6, device: 'eth2' }] });
    h.core.onKernel([event({ method: 'owner', index: 1 }), event({ method: 'owner-unknown', copies: 4 }), event({ method: 'shared-interface', index: 0, copies: 2 })], counters({ relayedOwner: 1, relayedOwnerUnknown: 1, relayedSharedInterface: 1, copies: 6 }));
    assert.deepEqual(
      h.events.map((e) => (e.event === 'relayed' ? [e.method, e.fallback ?? '-', e.peers.join(' '), e.inKernel] : [e.event])),
      [
        ['owner', '-', '10.0.4.2', true],
        ['fallback', 'owner-unknown', '10.0.3.2 10.0.4.2 10.0.5.2 10.0.5.3', true],
        ['fallback', 'shared-interface', '10.0.5.2 10.0.5.3', true],
      ],
    );
    const e = h.events[0];
    assert.ok(e?.event === 'relayed');
    assert.deepEqual([e.family, e.router, e.mtu, e.flow], [4, ROUTER4, 1400, { protocol: 6, served: SERVED4, servedPort: SERVED_PORT, peer: PEER4, peerPort: PEER_PORT }]);
    // The next read adds only what grew since; a message of the other family names only that family's peers.
    h.core.onKernel([event({ family: 6, method: 'owner-unknown', router: 'fd00:2::1', served: SERVED6, peer: 'fd00:1::1', copies: 1 })], counters({ relayedOwner: 1, relayedOwnerUnknown: 2, relayedSharedInterface: 1, copies: 7, limited: 3 }));
    const last = h.events.at(-1);
    assert.ok(last?.event === 'relayed' && last.family === 6);
    assert.deepEqual(last.peers, ['fd00:3::2']);
    const c = h.core.counters;
    assert.deepEqual([c.relayed.owner, c.relayed.fallback, c.fallback['owner-unknown'], c.fallback['shared-interface'], c.copies, c.queued], [1, 3, 2, 1, 7, 0]);
    assert.equal(c.kernel?.limited, 3);
  });

  it('ignores a message the kernel\'s limits refused with their reason, and leaves it to the kernel, whatever its own limits say', () => {
    const h = harness('owner');
    const q = new FakeQueued(ptb4(), peerMark(0) | (2 << 25));
    h.core.onQueued(q);
    assert.deepEqual(q.decision, { kind: 'accept' });
    assert.deepEqual(h.core.counters.ignored, { 'router-limit': 1 });
    assert.equal(h.core.counters.relayed.owner, 0);
    // Without the outcome bits the same message is relayed: the relay's own limits had room.
    const again = new FakeQueued(ptb4(), peerMark(0));
    h.core.onQueued(again);
    assert.deepEqual(again.decision, { kind: 'marked', mark: peerRouteMark(0) });
  });
});

describe('relay core, broadcast mode', () => {
  const peers: RelayPeer[] = [
    { index: 0, address: '10.0.4.2', family: 4 },
    { index: 1, address: 'fd00:0:0:4::2', family: 6 },
  ];

  it('sends a message for a flow this server does not carry to every peer relay in an envelope, and lets the kernel have it too', () => {
    const h = harness('broadcast', { peers, sharedInterfaces: [] });
    const original = ptb4();
    const q = new FakeQueued(original);
    h.core.onQueued(q);
    assert.deepEqual(q.decision, { kind: 'accept' });
    assert.deepEqual(h.envelopes.map((e) => e.peer), ['10.0.4.2', 'fd00:0:0:4::2']);
    for (const e of h.envelopes) {
      const view = RelayEnvelopePacket.check(e.payload);
      assert.ok(view.ok);
      assert.ok(view.value.relayed);
      assert.deepEqual(parseRelayEnvelope(view.value).packet, original);
    }
    assert.equal(h.core.counters.relayed.broadcast, 1);
  });

  it('hands a peer\'s enveloped message to its own kernel once, even when several peers send it', () => {
    const h = harness('broadcast', { peers, sharedInterfaces: [] });
    const payload = emitRelayEnvelope({ flags: RelayEnvelopeFlag.Relayed, packet: ptb4() });
    h.core.onEnvelope('10.0.4.2', payload);
    h.core.onEnvelope('fd00:0:0:4::2', payload);
    assert.equal(h.injected.length, 1);
    assert.equal(h.injected[0]!.destination, SERVED4);
    assert.equal(h.core.counters.ignored.duplicate, 1);
    const e = h.events[0]!;
    assert.ok(e.event === 'received' && e.from === '10.0.4.2');
    assert.equal(h.envelopes.length, 0, 'an enveloped message is never relayed again');
  });

  it('ignores envelopes from addresses that are not peers, and malformed ones, and what they carry when it is not a valid message', () => {
    const h = harness('broadcast', { peers, sharedInterfaces: [] });
    const good = emitRelayEnvelope({ flags: RelayEnvelopeFlag.Relayed, packet: ptb4() });
    h.core.onEnvelope('10.0.9.9', good);
    const badMagic = good.slice();
    badMagic[0] = 0;
    h.core.onEnvelope('10.0.4.2', badMagic);
    const unserved = emitRelayEnvelope({ flags: RelayEnvelopeFlag.Relayed, packet: packetTooBig({ offending: offendingTcp(4, 1500, { src: '10.1.1.1' }), mtu: 1400, to: '10.1.1.1' }) });
    h.core.onEnvelope('10.0.4.2', unserved);
    assert.equal(h.injected.length, 0);
    assert.equal(h.core.counters.ignored['not-from-peer'], 1);
    assert.equal(h.core.counters.ignored['bad-envelope'], 1);
    assert.equal(h.core.counters.ignored['target-not-served'], 1);
    assert.equal(h.core.counters.envelopes, 3);
  });
});
