/**
 * The tshark oracle must be able to fail: fed our decode with a value made wrong on purpose, compareDecodes reports a
 * mismatch. The frames are ICMP fragmentation needed and ICMPv6 Packet Too Big (whole, and snapped so that the quote
 * is cut off), and TCP segments snapped in the payload (headers whole) and in the options.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openCaptureWriter } from '../../src/capture/writer.js';
import type { DecodedFrame, Layer } from '../../src/packet/frame.js';
import { LinkType } from '../../src/packet/link-type.js';
import { compareDecodes, describeMismatches, type FieldMismatch, readBothSides } from '../support/oracle-compare.js';
import { sampleFrames, V4, V6 } from '../support/sample-frames.js';

const FRAG_NEEDED = 'icmp frag-needed quoting a tcp segment';
const PTB = 'icmpv6 packet too big quoting tcp';
const SEGMENT = 'ipv4 tcp full-size segment';
const SYN = 'ipv4 tcp syn with options';
const SNAPLEN = 70;

interface Written {
  readonly name: string;
  readonly snapped: boolean;
}

function withLayers(f: DecodedFrame, map: (layers: readonly Layer[]) => Layer[]): DecodedFrame {
  return { ...f, layers: map(f.layers) };
}

describe('compareDecodes finds a wrong value in our decode', () => {
  let dir = '';
  let theirs: Record<string, string>[] = [];
  let frames: DecodedFrame[] = [];
  const written: Written[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mts-oracle-self-'));
    const path = join(dir, 'icmp.pcapng');
    const w = openCaptureWriter(path, { format: 'pcapng', interfaces: [{ linkType: LinkType.Ethernet }, { linkType: LinkType.Ethernet, snaplen: SNAPLEN }] });
    const samples = sampleFrames();
    for (const name of [FRAG_NEEDED, PTB, SEGMENT, SYN]) {
      const s = samples.find((x) => x.name === name);
      assert.ok(s, name);
      for (const snapped of [false, true]) {
        await w.write({ timestampNs: BigInt(written.length) * 1000n, data: s.data, interfaceId: snapped ? 1 : 0 });
        written.push({ name, snapped });
      }
    }
    await w.close();
    ({ theirs, frames } = await readBothSides(path));
  });

  after(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  function frameNumbers(name: string): number[] {
    return written.flatMap((w, i) => (w.name === name ? [i + 1] : []));
  }

  /** Our decode with `tamper` applied to the frames of `names`, compared with tshark's. */
  function compareTampered(names: readonly string[], tamper: (f: DecodedFrame) => DecodedFrame): readonly FieldMismatch[] {
    const altered = frames.map((f, i) => (names.includes(written[i]!.name) ? tamper(f) : f));
    return compareDecodes(theirs, altered).mismatches;
  }

  function has(m: readonly FieldMismatch[], frame: number, field: string, tshark: string, ours: string): boolean {
    return m.some((x) => x.frame === frame && x.field === field && x.tshark === tshark && x.ours === ours);
  }

  it('finds none in our decode as it is, snapped frames included (the control)', () => {
    const r = compareDecodes(theirs, frames);
    assert.deepEqual(r.mismatches, [], describeMismatches(r.mismatches, (n) => JSON.stringify(written[n - 1])));
    // The snapped Packet Too Big is cut inside the quoted IPv6 header: tshark prints its fields that fit, we stop.
    const ptb = frameNumbers(PTB)[1]! - 1;
    assert.equal(r.ours[ptb]!['ipv6.nxt'], '58');
    assert.equal(theirs[ptb]!['ipv6.nxt'], '58,6');
  });

  it('finds the MTU emptied when the outer ICMP layer and the quoted TCP layer are gone', () => {
    const m = compareTampered([FRAG_NEEDED, PTB], (f) =>
      withLayers(f, (layers) => layers.filter((l) => !((l.protocol === 'icmpv4' || l.protocol === 'icmpv6') && !l.quoted) && !(l.quoted && (l.protocol === 'tcp' || l.protocol === 'tcp-head')))),
    );
    for (const n of frameNumbers(FRAG_NEEDED)) {
      assert.ok(has(m, n, 'icmp.mtu', '1400', ''), `frame ${n}: ${describeMismatches(m)}`);
      assert.ok(has(m, n, 'icmp.type', '3', ''), `frame ${n}: ${describeMismatches(m)}`);
    }
    for (const n of frameNumbers(PTB)) assert.ok(has(m, n, 'icmpv6.mtu', '1280', ''), `frame ${n}: ${describeMismatches(m)}`);
  });

  it('finds the MTU changed in the outer layer', () => {
    const m = compareTampered([FRAG_NEEDED, PTB], (f) =>
      withLayers(f, (layers) =>
        layers.map((l): Layer => {
          if (l.protocol === 'icmpv4' && l.repr.kind === 'destination-unreachable') return { ...l, repr: { ...l.repr, nextHopMtu: 1399 } };
          if (l.protocol === 'icmpv6' && l.repr.kind === 'packet-too-big') return { ...l, repr: { ...l.repr, mtu: 1279 } };
          return l;
        }),
      ),
    );
    for (const n of frameNumbers(FRAG_NEEDED)) assert.ok(has(m, n, 'icmp.mtu', '1400', '1399'), describeMismatches(m));
    for (const n of frameNumbers(PTB)) assert.ok(has(m, n, 'icmpv6.mtu', '1280', '1279'), describeMismatches(m));
  });

  it('finds a quoted address that is wrong where we decoded the quote', () => {
    const m = compareTampered([FRAG_NEEDED], (f) =>
      withLayers(f, (layers) => layers.map((l): Layer => (l.protocol === 'ipv4' && l.quoted ? { ...l, repr: { ...l.repr, dst: '10.2.0.99' } } : l))),
    );
    for (const n of frameNumbers(FRAG_NEEDED)) assert.ok(has(m, n, 'ip.dst', `${V4.client},${V4.server}`, `${V4.client},10.2.0.99`), describeMismatches(m));
  });

  it('finds a whole quoted IPv6 header missing, and accepts it missing only where the capture cut it off', () => {
    const m = compareTampered([PTB], (f) => withLayers(f, (layers) => layers.filter((l) => !(l.quoted && l.protocol === 'ipv6'))));
    const [whole, snapped] = frameNumbers(PTB);
    assert.ok(has(m, whole!, 'ipv6.src', `${V6.router},${V6.client}`, V6.router), describeMismatches(m));
    assert.deepEqual(m.filter((x) => x.frame === snapped), []);
  });

  it('finds a whole TCP header dropped from a frame snapped in its payload', () => {
    const m = compareTampered([SEGMENT], (f) => withLayers(f, (layers) => layers.filter((l) => l.protocol !== 'tcp')));
    for (const n of frameNumbers(SEGMENT)) assert.ok(has(m, n, 'tcp.srcport', '40000', ''), `frame ${n}: ${describeMismatches(m)}`);
  });
});
