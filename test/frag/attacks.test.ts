import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type FragEvent, OVERLAP_POLICIES, type OverlapPolicy, Reassembler, type ReassemblyOutcome } from '../../src/frag/reassembler.js';
import type { Ipv6ExtHeaderRepr } from '../../src/packet/ipv6-ext.js';
import { prng } from '../support/prng.js';
import { evenCuts, filled, v4Datagram, v4Fragment, v4Split, type V4Spec, v6Datagram, v6Fragment, v6Split, type V6Spec } from './fragment-builders.js';
import { floodFragmentV4, floodFragmentV6 } from '../support/flood-fragment.js';

function collect(): { events: FragEvent[]; onEvent: (e: FragEvent) => void } {
  const events: FragEvent[] = [];
  return { events, onEvent: (e) => events.push(e) };
}

function text(b: Uint8Array): string {
  return Buffer.from(b).toString('latin1');
}

/** Each letter stands for 8 bytes of that letter. */
function units(s: string): string {
  return [...s].map((c) => c.repeat(8)).join('');
}

function datagramOf(o: ReassemblyOutcome): Uint8Array {
  assert.equal(o.status, 'complete', JSON.stringify(o));
  return (o as { datagram: Uint8Array }).datagram;
}

const ICMP = 1;

describe('overlap policies on the classic patterns', () => {
  // Novak, "Target-Based Fragmentation Reassembly" (2005): six fragments, the second half overlapping the first.
  // Offsets in bytes; data is the fragment's digit repeated.
  const novak: [number, number, boolean][] = [
    [0, 32, true], // 1
    [40, 16, true], // 2
    [56, 24, true], // 3
    [16, 32, true], // 4: overlaps 1 and 2
    [56, 24, true], // 5: same range as 3
    [80, 24, false], // 6: last
  ];
  const novakExpected: Record<OverlapPolicy, string> = {
    first: '1111422333666',
    last: '1144442555666',
    bsd: '1111442333666',
    linux: '1111442555666',
    'bsd-right': '1144422555666',
    windows: '1111422333666',
  };

  // Sturges and Novak's larger pattern (the one Suricata's defrag tests use): nine originals, then eight overlapping
  // fragments. Letters A..Q are the seventeen fragments in arrival order.
  const sturges: [number, number, boolean][] = [
    [0, 24, true], // A
    [32, 16, true], // B
    [48, 24, true], // C
    [80, 8, true], // D
    [104, 16, true], // E
    [120, 24, true], // F
    [144, 16, true], // G
    [160, 16, true], // H
    [176, 8, true], // I
    [8, 32, true], // J
    [48, 24, true], // K
    [72, 24, true], // L
    [96, 24, true], // M
    [128, 8, true], // N
    [152, 8, true], // O
    [160, 8, true], // P
    [176, 16, false], // Q
  ];
  // First, last, bsd, linux and windows as published with Suricata's defrag tests (DefragSturgesNovak*Test); bsd-right
  // follows the literature's rule (higher offset wins, the later fragment on equal offsets).
  const sturgesExpected: Record<OverlapPolicy, string> = {
    bsd: 'AAAJJBCCCLLLMMMFFFGGHHIQ',
    linux: 'AAAJJBKKKLLLMMMFFFGGPHQQ',
    windows: 'AAAJBBCCCLLLMEEFFFGGHHIQ',
    first: 'AAAJBBCCCLDLMEEFFFGGHHIQ',
    last: 'AJJJJBKKKLLLMMMFNFGOPHQQ',
    'bsd-right': 'AJJJBBKKKLDLMEEFNFGOPHQQ',
  };

  function replay(policy: OverlapPolicy, fragments: [number, number, boolean][], symbol: (i: number) => string): { data: string; events: FragEvent[] } {
    const { events, onEvent } = collect();
    const r = new Reassembler({ overlapPolicy: policy, onEvent });
    const spec: V4Spec = { protocol: ICMP, ident: 42 };
    let out: Uint8Array | undefined;
    fragments.forEach(([offset, length, more], i) => {
      const o = r.push(v4Fragment(spec, offset, more, new TextEncoder().encode(symbol(i).repeat(length))), i);
      if (i < fragments.length - 1) assert.equal(o.status, 'pending', `${policy}: fragment ${i}`);
      else out = datagramOf(o);
    });
    assert.equal(r.memoryUsed, 0);
    return { data: text(out!.subarray(20)), events };
  }

  for (const policy of OVERLAP_POLICIES) {
    it(`${policy}: Novak's six fragments`, () => {
      const { data, events } = replay(policy, novak, (i) => String(i + 1));
      assert.equal(data, units(novakExpected[policy]));
      // Fragments 4 and 5 overlap: one event each, naming the policy.
      assert.deepEqual(
        events.map((e) => [e.kind, e.cause, e.offset, e.policy]),
        [
          ['overlap', 'overlap', 16, policy],
          ['overlap', 'overlap', 56, policy],
        ],
      );
    });

    it(`${policy}: Sturges and Novak's seventeen fragments`, () => {
      const { data, events } = replay(policy, sturges, (i) => String.fromCharCode(65 + i));
      assert.equal(data, units(sturgesExpected[policy]));
      assert.equal(events.length, 8);
      assert.ok(events.every((e) => e.kind === 'overlap' && e.src === '10.0.0.1' && e.identification === 42 && e.protocol === ICMP));
    });
  }

  it('an IPv6 overlap discards the whole datagram and every later fragment of it until the timeout (RFC 5722)', () => {
    const { events, onEvent } = collect();
    const r = new Reassembler({ onEvent, timeoutMs: { ipv6: 10_000 } });
    const spec: V6Spec = { ident: 1234 };
    const payload = new Uint8Array(3000).map((_, i) => i);
    const parts = v6Split(spec, payload, [1000, 2000]);
    assert.equal(r.push(parts[0]!, 0).status, 'pending');
    assert.equal(r.push(v6Fragment(spec, 992, true, filled(16, 9)), 100).status, 'dropped');
    assert.equal(r.pendingDatagrams, 0);
    assert.equal(r.rememberedDiscards, 1);
    // The fragments that would have completed it are refused as well.
    assert.equal(r.push(parts[1]!, 200).status, 'dropped');
    assert.equal(r.push(parts[2]!, 300).status, 'dropped');
    assert.deepEqual(
      events.map((e) => [e.kind, e.cause]),
      [
        ['datagram-discarded', 'overlap'],
        ['fragment-dropped', 'after-discard'],
        ['fragment-dropped', 'after-discard'],
      ],
    );
    assert.equal(events[0]!.fragments, 1);
    // Once the key is forgotten, the same identification reassembles again.
    r.expire(10_100);
    assert.equal(r.rememberedDiscards, 0);
    assert.equal(r.memoryUsed, 0);
    r.push(parts[2]!, 10_200);
    r.push(parts[0]!, 10_200);
    assert.deepEqual(datagramOf(r.push(parts[1]!, 10_200)), v6Datagram(spec, payload));
  });

  it('IPv6 exact duplicates are not overlaps; same range with other bytes is', () => {
    const r = new Reassembler();
    const parts = v6Split({ ident: 8 }, filled(64, 3), [32]);
    r.push(parts[0]!, 0);
    assert.equal(r.push(parts[0]!, 0).status, 'pending');
    assert.equal(r.stats.duplicates, 1);
    assert.equal(r.push(v6Fragment({ ident: 8 }, 0, true, filled(32, 4)), 0).status, 'dropped');
  });
});

describe('attack patterns', () => {
  it('teardrop: a last fragment ending inside data already received discards the datagram', () => {
    for (const v6 of [false, true]) {
      for (const lastFirst of [false, true]) {
        const { events, onEvent } = collect();
        const r = new Reassembler({ onEvent });
        // Fragment 1 carries 0..32; fragment 2 claims to be the last at 24..28, which would make a negative length.
        const first = v6 ? v6Fragment({ ident: 66 }, 0, true, filled(32, 1)) : v4Fragment({ ident: 66 }, 0, true, filled(32, 1));
        const second = v6 ? v6Fragment({ ident: 66 }, 24, false, filled(4, 2)) : v4Fragment({ ident: 66 }, 24, false, filled(4, 2));
        const [a, b] = lastFirst ? [second, first] : [first, second];
        assert.equal(r.push(a, 0).status, 'pending');
        assert.equal(r.push(b, 0).status, 'dropped');
        assert.deepEqual(events.map((e) => [e.kind, e.cause]), [['datagram-discarded', 'length-conflict']]);
        assert.equal(r.memoryUsed, 0);
        assert.equal(r.pendingDatagrams, 0);
      }
    }
  });

  it('two different last fragments discard the datagram', () => {
    const { events, onEvent } = collect();
    const r = new Reassembler({ onEvent });
    r.push(v4Fragment({ ident: 67 }, 64, false, filled(10, 1)), 0);
    assert.equal(r.push(v4Fragment({ ident: 67 }, 64, false, filled(20, 1)), 0).status, 'dropped');
    assert.equal(events[0]!.cause, 'length-conflict');
  });

  it('a fragment wholly inside another is resolved by policy without breaking the datagram', () => {
    for (const policy of OVERLAP_POLICIES) {
      const r = new Reassembler({ overlapPolicy: policy });
      const spec: V4Spec = { ident: 68, protocol: ICMP };
      r.push(v4Fragment(spec, 0, true, filled(64, 0x61)), 0);
      r.push(v4Fragment(spec, 16, true, filled(8, 0x62)), 0);
      const out = datagramOf(r.push(v4Fragment(spec, 64, false, filled(3, 0x63)), 0));
      const wins = policy === 'last' || policy === 'bsd-right';
      assert.equal(text(out.subarray(20)), 'a'.repeat(16) + (wins ? 'b' : 'a').repeat(8) + 'a'.repeat(40) + 'ccc', policy);
    }
  });

  it('RFC 1858: tiny TCP first fragments and TCP fragments at offset 8 are dropped', () => {
    const { events, onEvent } = collect();
    const r = new Reassembler({ onEvent });
    const tcp: V4Spec = { protocol: 6, ident: 70 };
    // The tiny-fragment attack: 8 bytes of TCP header (ports and sequence) first, the flags in the next fragment.
    assert.equal(r.push(v4Fragment(tcp, 0, true, filled(8, 1)), 0).status, 'dropped');
    // The overlap attack: a fragment at offset 8 rewriting flags of an accepted first fragment.
    assert.equal(r.push(v4Fragment(tcp, 0, true, filled(24, 1)), 0).status, 'pending');
    assert.equal(r.push(v4Fragment(tcp, 8, false, filled(16, 2)), 0).status, 'dropped');
    assert.deepEqual(
      events.map((e) => [e.kind, e.cause, e.offset]),
      [
        ['fragment-dropped', 'tiny-fragment', 0],
        ['fragment-dropped', 'tiny-fragment', 8],
      ],
    );
    // Other protocols may be cut anywhere on an 8-byte boundary.
    const udp: V4Spec = { protocol: 17, ident: 71 };
    r.push(v4Fragment(udp, 0, true, filled(8, 1)), 0);
    assert.equal(datagramOf(r.push(v4Fragment(udp, 8, false, filled(8, 2)), 0)).length, 36);
    // A TCP first fragment of 16 bytes reaches past the flags and is fine.
    const ok = v4Split({ protocol: 6, ident: 72 }, filled(40, 5), [16]);
    r.push(ok[0]!, 0);
    assert.equal(r.push(ok[1]!, 0).status, 'complete');
  });

  it('RFC 7112: a first IPv6 fragment that cuts the header chain is dropped', () => {
    const { events, onEvent } = collect();
    const r = new Reassembler({ onEvent });
    // TCP header of 20 bytes, first fragment carries 16.
    assert.equal(r.push(v6Fragment({ ident: 80, nextHeader: 6 }, 0, true, filled(16, 1)), 0).status, 'dropped');
    // A destination options header of 24 bytes after the Fragment header, first fragment carries 16 of it.
    const dest = Uint8Array.from([17, 2, 1, 20, ...new Array<number>(20).fill(0)]);
    assert.equal(r.push(v6Fragment({ ident: 81, nextHeader: 60 }, 0, true, dest.subarray(0, 16)), 0).status, 'dropped');
    // The options header whole but no room left for the UDP header it names.
    assert.equal(r.push(v6Fragment({ ident: 82, nextHeader: 60 }, 0, true, dest), 0).status, 'dropped');
    assert.deepEqual(
      events.map((e) => e.cause),
      ['header-chain', 'header-chain', 'header-chain'],
    );
    // The whole chain present: accepted.
    const fine = new Uint8Array(40);
    fine.set(dest, 0);
    assert.equal(r.push(v6Fragment({ ident: 83, nextHeader: 60 }, 0, true, fine), 0).status, 'pending');
    // Non-first fragments carry no header chain and are not checked.
    assert.equal(r.push(v6Fragment({ ident: 84, nextHeader: 6 }, 8, true, filled(8, 1)), 0).status, 'pending');
  });

  it('an atomic fragment is processed alone and leaves a pending datagram with its identification untouched (RFC 6946)', () => {
    const r = new Reassembler();
    const dest: Ipv6ExtHeaderRepr = { kind: 'destination-options', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] };
    const spec: V6Spec = { ident: 90, unfragmentable: [dest] };
    const payload = filled(2000, 7);
    const parts = v6Split(spec, payload, [1000]);
    assert.equal(r.push(parts[0]!, 0).status, 'pending');
    const atomic = r.push(v6Fragment(spec, 0, false, filled(100, 8)), 0);
    assert.deepEqual(datagramOf(atomic), v6Datagram(spec, filled(100, 8)));
    assert.equal(r.pendingDatagrams, 1);
    assert.deepEqual(datagramOf(r.push(parts[1]!, 0)), v6Datagram(spec, payload));
  });
});

describe('memory limits', () => {
  it('evicts the oldest datagram first when the cap is reached, with an event', () => {
    const { events, onEvent } = collect();
    const r = new Reassembler({ memoryCap: 20_000, perSourceCap: 20_000, onEvent });
    for (let i = 0; i < 10; i++) r.push(v4Fragment({ src: `10.0.1.${i}`, ident: i }, 0, true, filled(1000, i)), i);
    assert.ok(r.memoryUsed <= 20_000);
    assert.ok(events.length > 0);
    assert.ok(events.every((e) => e.kind === 'datagram-discarded' && e.cause === 'memory-cap'));
    assert.deepEqual(
      events.map((e) => e.src),
      events.map((_, i) => `10.0.1.${i}`),
    );
  });

  it('a source over its limit loses its own oldest datagram, never another source\'s', () => {
    const { events, onEvent } = collect();
    const r = new Reassembler({ memoryCap: 100_000, perSourceCap: 25_000, onEvent });
    const victimSpec: V4Spec = { src: '10.0.0.99', ident: 1 };
    const payload = filled(3000, 1);
    const parts = v4Split(victimSpec, payload, [1480]);
    assert.equal(r.push(parts[0]!, 0).status, 'pending');
    for (let i = 0; i < 500; i++) {
      r.push(v4Fragment({ src: '10.6.6.6', ident: i }, 0, true, filled(1480, 2)), 1);
      assert.ok(r.memoryUsed <= 100_000);
    }
    assert.ok(events.length > 400);
    assert.ok(events.every((e) => e.src === '10.6.6.6' && e.cause === 'source-cap'));
    assert.deepEqual(datagramOf(r.push(parts[1]!, 2)), v4Datagram(victimSpec, payload));
  });

  it('a datagram growing past its source limit evicts the source\'s other datagrams first, then itself', () => {
    const { events, onEvent } = collect();
    const r = new Reassembler({ memoryCap: 1 << 20, perSourceCap: 20_000, onEvent });
    const other = v4Fragment({ src: '10.0.0.7', ident: 100 }, 0, true, filled(1480, 1));
    r.push(other, 0);
    r.push(v4Fragment({ src: '10.0.0.5', ident: 1 }, 0, true, filled(1480, 1)), 0);
    r.push(v4Fragment({ src: '10.0.0.5', ident: 2 }, 0, true, filled(1480, 1)), 1);
    // Datagram 2 grows (fragments arriving in order) until it alone is over the limit.
    let last: ReassemblyOutcome = { status: 'pending' };
    for (let k = 1; k < 12 && last.status === 'pending'; k++) last = r.push(v4Fragment({ src: '10.0.0.5', ident: 2 }, k * 1480, true, filled(1480, 1)), 2);
    assert.equal(last.status, 'dropped');
    assert.deepEqual(
      events.map((e) => [e.cause, e.src, e.identification]),
      [
        ['source-cap', '10.0.0.5', 1],
        ['source-cap', '10.0.0.5', 2],
      ],
    );
    // The other source's datagram is untouched.
    assert.equal(r.pendingDatagrams, 1);
    assert.equal(r.push(v4Fragment({ src: '10.0.0.7', ident: 100 }, 1480, false, filled(8, 1)), 3).status, 'complete');
  });

  it('limits the number of pending datagrams per source', () => {
    const { events, onEvent } = collect();
    const r = new Reassembler({ perSourceDatagrams: 3, onEvent });
    for (let i = 0; i < 5; i++) r.push(v6Fragment({ ident: i }, 0, true, filled(8, 1)), i);
    assert.equal(r.pendingDatagrams, 3);
    assert.deepEqual(
      events.map((e) => [e.cause, e.identification]),
      [
        ['source-datagrams', 0],
        ['source-datagrams', 1],
      ],
    );
  });

  it('drops a fragment that alone cannot fit', () => {
    const { events, onEvent } = collect();
    const r = new Reassembler({ memoryCap: 4000, onEvent });
    assert.equal(r.push(v4Fragment({ ident: 5 }, 0, true, filled(1480, 1)), 0).status, 'dropped');
    assert.equal(events[0]!.cause, 'too-big-for-cap');
    assert.equal(r.memoryUsed, 0);
  });

  it('a flood of random fragments never takes memory over the cap, and interleaved legitimate datagrams all complete', () => {
    const cap = 4 * 1024 * 1024;
    const r = new Reassembler({ memoryCap: cap });
    const rand = prng(20240501);
    const flood = Number(process.env['FRAG_FLOOD'] ?? 1_000_000);
    const packet = new Uint8Array(1500);
    // Flood fragments are written into one reused buffer: the reassembler must copy what it keeps.
    const floodFragment = (): Uint8Array => {
      const v6 = rand() < 0.3;
      const heavy = rand() < 0.2; // a few sources sending a lot, the rest spread over the whole address space
      const src = heavy ? (0x0a000000 | Math.floor(rand() * 4)) >>> 0 : Math.floor(rand() * 0x100000000);
      const offset = Math.floor(rand() * 8000) * 8;
      const len = 8 * (1 + Math.floor(rand() * 150));
      const more = rand() < 0.9;
      return v6 ? floodFragmentV6(packet, src, Math.floor(rand() * 0x100000000), offset, more, len) : floodFragmentV4(packet, src, Math.floor(rand() * 0x10000), rand() < 0.5 ? 17 : 1, offset, more, len);
    };
    // Four legitimate sources, two per family, each sending one datagram after another with its fragments in random
    // order. The second fragment follows the first within a few hundred flood fragments (senders emit a datagram's
    // fragments back to back); later ones may lag by up to 8000 flood fragments, more than twice what the flood needs
    // to churn the whole table (about 2000 flood datagrams fit in 4 MiB).
    const legitimate: { parts: Uint8Array[]; whole: Uint8Array }[] = [];
    const schedule: { at: number; p: Uint8Array; i: number }[] = [];
    for (const [v6, host] of [[false, 1], [false, 2], [true, 1], [true, 2]] as const) {
      let at = 0;
      while (at < flood - 60_000) {
        const i = legitimate.length;
        const payload = new Uint8Array(1500 + Math.floor(rand() * 8000)).map((_, j) => (j * 7 + i) & 0xff);
        const entry = v6
          ? { parts: v6Split({ src: `fd00::200:${host}`, ident: i }, payload, evenCuts(payload.length, 1232)), whole: v6Datagram({ src: `fd00::200:${host}`, ident: i }, payload) }
          : { parts: v4Split({ src: `10.200.0.${host}`, ident: i }, payload, evenCuts(payload.length, 1480)), whole: v4Datagram({ src: `10.200.0.${host}`, ident: i }, payload) };
        legitimate.push(entry);
        const order = entry.parts.map((p) => p).sort(() => rand() - 0.5);
        order.forEach((p, k) => {
          at += k === 0 ? Math.floor(rand() * 3000) : k === 1 ? 1 + Math.floor(rand() * 400) : 1 + Math.floor(rand() * 8000);
          schedule.push({ at, p, i });
        });
      }
    }
    schedule.sort((a, b) => a.at - b.at);
    let completed = 0;
    let peak = 0;
    let t = 0;
    let q = 0;
    for (let n = 0; n < flood; n++) {
      r.push(floodFragment(), t);
      peak = Math.max(peak, r.memoryUsed);
      assert.ok(r.memoryUsed + r.pooledBytes <= cap, `memory ${r.memoryUsed} + pool ${r.pooledBytes} over the cap after flood fragment ${n}`);
      for (; q < schedule.length && schedule[q]!.at <= n; q++) {
        const { p, i } = schedule[q]!;
        const o = r.push(p, t);
        assert.ok(r.memoryUsed + r.pooledBytes <= cap);
        assert.equal(o.status === 'complete' || o.status === 'pending', true, JSON.stringify(o));
        if (o.status === 'complete') {
          assert.deepEqual(o.datagram, legitimate[i]!.whole);
          completed++;
        }
      }
      // A millisecond per thousand fragments: the whole run takes a second of reassembler time, far below the timeouts.
      if (n % 1000 === 0) t++;
    }
    assert.equal(q, schedule.length);
    assert.ok(legitimate.length > 150, `${legitimate.length} legitimate datagrams`);
    assert.equal(completed, legitimate.length);
    assert.ok(peak > cap * 0.9, `the flood should have filled the table (peak ${peak})`);
    assert.ok(r.stats.evictions > 0);
  });
});
