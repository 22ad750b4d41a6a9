/**
 * parseTraceLine on lines shaped exactly like the tracer program's printf formats (tracer-program.ts): the header
 * words are built from packets emitted by the project's emitters, as the program's little-endian 64-bit loads of
 * them (the inverse of headerBytes), so the decoded tuple, ICMP fields, tunnel and fragment are checked against the
 * packets they came from. Malformed lines are error values naming the field.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { headerBytes, parseTraceLine, type TraceEvent, type TraceLine } from '../../src/trace/trace-event.js';
import { HEADER_BYTES } from '../../src/trace/tracer-program.js';
import { emitIcmpv4 } from '../../src/packet/icmpv4.js';
import { ipv4, udp } from '../support/sample-frames.js';
import {
  concat,
  filled,
  fragNeeded,
  fragments4,
  fragments6,
  headerWords,
  hexWords,
  packetTooBig,
  ping4,
  tcp4,
  tcp6,
  udp4,
  vxlan4,
} from './support/trace-packets.js';

const SKB = 'ffff88800a1b2c00';

/** An `E` line as the program prints it: kind, nsecs, cpu, skb, netns, ifindex, dev, skb len, how, mark, mtu, words, extra. */
function eLine(kind: string, packet: Uint8Array, o: { how?: number; extra?: string[]; dev?: string; words?: string[] } = {}): string {
  return ['E', kind, '5000000123', '1', SKB, '4026532001', '7', o.dev ?? 'veth-a', String(packet.length + 14), String(o.how ?? 2), '3', '1500', ...(o.words ?? hexWords(packet)), ...(o.extra ?? [])].join('\t');
}

function line(text: string): TraceLine {
  const r = parseTraceLine(text);
  assert.ok(r.ok, r.ok ? '' : `${r.error.field}: ${r.error.reason}`);
  return r.value;
}

function event(text: string): TraceEvent {
  const l = line(text);
  assert.equal(l.type, 'event');
  return (l as { event: TraceEvent }).event;
}

function lineError(text: string): { field: string; reason: string } {
  const r = parseTraceLine(text);
  assert.ok(!r.ok, `refused: ${text}`);
  assert.equal(r.error.line, text);
  return r.error;
}

describe('trace events: the header words', () => {
  it('headerBytes inverts the program\'s little-endian loads of any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: HEADER_BYTES, maxLength: HEADER_BYTES }), (bytes) => {
        assert.deepEqual(headerBytes(headerWords(bytes)), bytes);
      }),
    );
  });
});

describe('trace events: each kind of line', () => {
  const syn = tcp4({ src: '10.1.0.2', dst: '10.2.0.2', srcPort: 40000, dstPort: 80, ident: 0x77 });

  it('received, queued and dropped carry every field; the tuple is the packet\'s', () => {
    const e = event(eLine('rx', syn));
    assert.deepEqual(e, {
      kind: 'received',
      timeNs: 5000000123n,
      cpu: 1,
      skb: SKB,
      netns: 4026532001,
      ifindex: 7,
      device: 'veth-a',
      skbLength: 74,
      match: 'matched',
      mark: 3,
      mtu: 1500,
      packet: { outer: { family: 4, src: '10.1.0.2', dst: '10.2.0.2', protocol: 6, srcPort: 40000, dstPort: 80, length: 60, ident: 0x77, dontFragment: true } },
    });
    assert.equal(event(eLine('q', syn, { how: 1 })).kind, 'queued');
    assert.equal(event(eLine('q', syn, { how: 1 })).match, 'followed');
    assert.equal(event(eLine('rx', syn, { how: 3 })).match, 'icmp-error');
    const drop = event(eLine('drop', syn, { extra: ['12', 'nft_do_chain+0x3c4'] }));
    assert.equal(drop.kind, 'dropped');
    assert.equal(drop.reason, 12);
    assert.equal(drop.location, 'nft_do_chain+0x3c4');
  });

  it('icmp-send carries the type and code the kernel is about to send', () => {
    const e = event(eLine('icmp', syn, { extra: ['3', '4'] }));
    assert.equal(e.kind, 'icmp-send');
    assert.deepEqual(e.icmpSend, { type: 3, code: 4 });
    assert.equal(e.packet?.outer.dst, '10.2.0.2');
  });

  it('a followed event that matches the filter here too (match 4), and one that does not (1)', () => {
    const here = event(eLine('q', syn, { how: 4 }));
    assert.equal(here.match, 'followed');
    assert.equal(here.matchesHere, true);
    const only = event(eLine('q', syn, { how: 1 }));
    assert.equal(only.match, 'followed');
    assert.equal(only.matchesHere, undefined);
  });

  it('transmitted (T) and freed (F) lines', () => {
    assert.deepEqual(event(['T', '42', '0', SKB, 'eth0', '1514', '0'].join('\t')), {
      kind: 'transmitted', timeNs: 42n, cpu: 0, skb: SKB, netns: 0, ifindex: 0, device: 'eth0', skbLength: 1514, mtu: 0, match: 'followed', mark: 0, rc: 0,
    });
    assert.equal(event(['T', '42', '0', SKB, 'eth0', '1514', '-105'].join('\t')).rc, -105);
    assert.deepEqual(event(['F', '43', '1', SKB, '4026532001', 'lo', 'skb_free_datagram+0x12'].join('\t')), {
      kind: 'freed', timeNs: 43n, cpu: 1, skb: SKB, netns: 4026532001, ifindex: 0, device: 'lo', skbLength: 0, mtu: 0, match: 'followed', mark: 0, location: 'skb_free_datagram+0x12',
    });
  });

  it('B, @emitted, "Lost N events" and anything else as a message', () => {
    assert.deepEqual(line('B\t987654321'), { type: 'attached', timeNs: 987654321n });
    assert.deepEqual(line('@emitted: 1234'), { type: 'emitted', count: 1234 });
    assert.deepEqual(line('@emitted: 0  '), { type: 'emitted', count: 0 });
    assert.deepEqual(line('Lost 17 events'), { type: 'lost', count: 17 });
    assert.deepEqual(line('Attaching 6 probes...'), { type: 'message', text: 'Attaching 6 probes...' });
    assert.deepEqual(line(''), { type: 'message', text: '' });
    assert.deepEqual(line('@emitted: many'), { type: 'message', text: '@emitted: many' });
  });
});

describe('trace events: what the packet bytes say', () => {
  it('a VXLAN packet shows its outer tuple, the inner tuple and the tunnel', () => {
    const inner = tcp4({ src: '10.9.0.1', dst: '10.9.0.2', srcPort: 40000, dstPort: 80, payload: 1400 });
    const e = event(eLine('q', vxlan4('10.1.0.2', '10.3.0.3', inner, 50001)));
    assert.deepEqual(e.packet, {
      outer: { family: 4, src: '10.1.0.2', dst: '10.3.0.3', protocol: 17, srcPort: 50001, dstPort: 4789, length: 1490, ident: 0x5151, dontFragment: false },
      inner: { family: 4, src: '10.9.0.1', dst: '10.9.0.2', protocol: 6, srcPort: 40000, dstPort: 80, length: 1440, ident: 0x1234, dontFragment: true },
      tunnel: 'vxlan',
    });
  });

  it('an ICMPv4 fragmentation-needed shows type, code, MTU and the tuple it quotes', () => {
    const big = tcp4({ src: '10.2.0.2', dst: '10.1.0.2', srcPort: 80, dstPort: 40000, payload: 1400, ident: 0x99 });
    const e = event(eLine('rx', fragNeeded('10.1.0.1', big, 1400), { how: 3 }));
    assert.deepEqual(e.packet, {
      outer: { family: 4, src: '10.1.0.1', dst: '10.2.0.2', protocol: 1, length: 576, ident: 0x4242, dontFragment: false },
      icmp: { type: 3, code: 4, mtu: 1400, quoted: { family: 4, src: '10.2.0.2', dst: '10.1.0.2', protocol: 6, srcPort: 80, dstPort: 40000, length: 1440, ident: 0x99, dontFragment: true } },
    });
  });

  it('an ICMPv6 Packet Too Big shows type, code, MTU and the quoted tuple (its ports within the first 96 bytes)', () => {
    const big6 = tcp6({ src: 'fd00:2::2', dst: 'fd00:1::2', srcPort: 443, dstPort: 40000, payload: 1400 });
    const e = event(eLine('q', packetTooBig('fd00:2::1', 'fd00:2::2', big6, 1280)));
    assert.deepEqual(e.packet, {
      outer: { family: 6, src: 'fd00:2::1', dst: 'fd00:2::2', protocol: 58, length: 1280 },
      icmp: { type: 2, code: 0, mtu: 1280, quoted: { family: 6, src: 'fd00:2::2', dst: 'fd00:1::2', protocol: 6, srcPort: 443, dstPort: 40000, length: 1460 } },
    });
  });

  it('an ICMP error that is not about size has no MTU; an echo request is no error and quotes nothing', () => {
    assert.deepEqual(event(eLine('rx', ping4('10.1.0.2', '10.2.0.2'))).packet?.icmp, { type: 8, code: 0 });
    const quoted = udp4({ src: '10.1.0.2', dst: '10.2.0.2', srcPort: 5000, dstPort: 53 });
    const unreachable = ipv4({ protocol: IpProtocol.Icmp, src: '10.2.0.2', dst: '10.1.0.2', dontFragment: false }, emitIcmpv4({ kind: 'destination-unreachable', code: 3, unused: 0, nextHopMtu: 0, quoted }));
    assert.deepEqual(event(eLine('rx', unreachable)).packet?.icmp, {
      type: 3,
      code: 3,
      quoted: { family: 4, src: '10.1.0.2', dst: '10.2.0.2', protocol: 17, srcPort: 5000, dstPort: 53, length: 48, ident: 0x1234, dontFragment: false },
    });
  });

  it('IPv4 and IPv6 fragments: offset in bytes, more-fragments, and the identification', () => {
    const dgram = udp(5000, 6000, filled(3000), '10.1.0.2', '10.2.0.2');
    const f4 = fragments4('10.1.0.2', '10.2.0.2', IpProtocol.Udp, dgram, 1480, 0x321);
    assert.deepEqual(event(eLine('rx', f4[0]!)).packet?.outer, { family: 4, src: '10.1.0.2', dst: '10.2.0.2', protocol: 17, srcPort: 5000, dstPort: 6000, length: 1500, ident: 0x321, dontFragment: false, fragment: { offset: 0, more: true } });
    assert.deepEqual(event(eLine('rx', f4[2]!)).packet?.outer, { family: 4, src: '10.1.0.2', dst: '10.2.0.2', protocol: 17, length: 20 + 3008 - 2960, ident: 0x321, dontFragment: false, fragment: { offset: 2960, more: false } });
    const dgram6 = udp(5000, 6000, filled(3000), 'fd00:1::2', 'fd00:2::2');
    const f6 = fragments6('fd00:1::2', 'fd00:2::2', IpProtocol.Udp, dgram6, 1448, 0xabcdef);
    assert.deepEqual(event(eLine('rx', f6[0]!)).packet?.outer, { family: 6, src: 'fd00:1::2', dst: 'fd00:2::2', protocol: 17, srcPort: 5000, dstPort: 6000, length: 1496, ident: 0xabcdef, fragment: { offset: 0, more: true } });
    assert.deepEqual(event(eLine('rx', f6[1]!)).packet?.outer, { family: 6, src: 'fd00:1::2', dst: 'fd00:2::2', protocol: 17, length: 1496, ident: 0xabcdef, fragment: { offset: 1448, more: true } });
  });

  it('a short packet: the words read past its end (other memory) are cut off where its header says it ends', () => {
    const syn = tcp4({ src: '10.1.0.2', dst: '10.2.0.2', srcPort: 40000, dstPort: 80, payload: 0 });
    const withGarbage = concat(syn, Uint8Array.from({ length: HEADER_BYTES - syn.length }, (_, i) => 0x45 + i));
    const e = event(eLine('rx', withGarbage));
    assert.deepEqual(e.packet?.outer, { family: 4, src: '10.1.0.2', dst: '10.2.0.2', protocol: 6, srcPort: 40000, dstPort: 80, length: 40, ident: 0x1234, dontFragment: true });
    assert.equal(e.packet?.inner, undefined, 'the bytes past the end are not decoded as anything');
    const tiny = udp4({ src: '10.1.0.2', dst: '10.2.0.2', srcPort: 1, dstPort: 2, payload: 0 });
    const e2 = event(eLine('rx', concat(tiny, filled(HEADER_BYTES - tiny.length, 99))));
    assert.equal(e2.packet?.outer.length, 28);
    assert.equal(e2.packet?.outer.dstPort, 2);
  });

  it('not an IP packet (ARP, zeros) has no packet, and the event is still parsed', () => {
    const arp = Uint8Array.from([0, 1, 8, 0, 6, 4, 0, 1]);
    assert.equal(event(eLine('rx', arp)).packet, undefined);
    assert.equal(event(eLine('rx', new Uint8Array(0))).packet, undefined);
    const lying = tcp4({ src: '10.1.0.2', dst: '10.2.0.2', srcPort: 1, dstPort: 2 }).slice();
    lying[3] = 10; // total length 10: less than its own header
    assert.equal(event(eLine('rx', lying)).packet, undefined);
  });

  it('random header words never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: HEADER_BYTES, maxLength: HEADER_BYTES }), fc.constantFrom(0x45, 0x46, 0x4f, 0x60), (bytes, first) => {
        const b = bytes.slice();
        b[0] = first;
        const r = parseTraceLine(eLine('rx', b));
        assert.ok(r.ok);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('trace events: malformed lines are error values naming the field', () => {
  const pkt = tcp4({ src: '10.1.0.2', dst: '10.2.0.2', srcPort: 1, dstPort: 2 });
  const fields = (): string[] => eLine('rx', pkt).split('\t');
  const withField = (i: number, v: string): string => {
    const f = fields();
    f[i] = v;
    return f.join('\t');
  };

  it('wrong field counts', () => {
    assert.deepEqual(lineError(fields().slice(0, -1).join('\t')).field, 'fields');
    assert.match(lineError(fields().slice(0, -1).join('\t')).reason, /23 fields, expected 24/);
    assert.equal(lineError([...fields(), 'x'].join('\t')).field, 'fields');
    assert.equal(lineError(eLine('drop', pkt)).field, 'fields', 'a drop without reason and location');
    assert.equal(lineError(eLine('icmp', pkt, { extra: ['3'] })).field, 'fields');
    assert.equal(lineError('E').field, 'kind');
    assert.equal(lineError('E\trx').field, 'fields');
    assert.equal(lineError(['T', '1', '0', SKB, 'eth0', '100'].join('\t')).field, 'fields');
    assert.equal(lineError(['F', '1', '0', SKB, '1', 'eth0', 'x', 'y'].join('\t')).field, 'fields');
  });

  it('an unknown kind or match', () => {
    assert.match(lineError(withField(1, 'xmit')).reason, /unknown event "xmit"/);
    assert.equal(lineError(withField(9, '0')).field, 'match');
    assert.equal(lineError(withField(9, '5')).field, 'match');
  });

  it('non-hex words and addresses, bad numbers', () => {
    assert.equal(lineError(withField(12, 'xyz')).field, 'header word 0');
    assert.equal(lineError(withField(23, '12345678901234567')).field, 'header word 11', 'more than 64 bits');
    assert.equal(lineError(withField(14, '')).field, 'header word 2');
    assert.equal(lineError(withField(4, 'FFFF8880')).field, 'skb', 'bpftrace prints lower case');
    assert.equal(lineError(withField(4, '')).field, 'skb');
    assert.equal(lineError(withField(2, '12a')).field, 'time');
    assert.equal(lineError(withField(3, '')).field, 'cpu');
    assert.equal(lineError(withField(5, '1.5')).field, 'netns');
    assert.equal(lineError(withField(6, 'x')).field, 'ifindex');
    assert.equal(lineError(withField(8, '-')).field, 'skb length');
    assert.equal(lineError(withField(10, '0x1')).field, 'mark');
    assert.equal(lineError(withField(11, 'mtu')).field, 'mtu');
    assert.equal(lineError(eLine('drop', pkt, { extra: ['PKT_TOO_BIG', 'ip_fragment'] })).field, 'reason');
    assert.equal(lineError(eLine('icmp', pkt, { extra: ['3', 'x'] })).field, 'icmp code');
    assert.equal(lineError(['T', '1', '0', SKB, 'eth0', '100', 'ok'].join('\t')).field, 'rc');
    assert.equal(lineError(['T', 'now', '0', SKB, 'eth0', '100', '0'].join('\t')).field, 'time');
    assert.equal(lineError(['F', '1', '0', 'zz', '1', 'eth0', 'x'].join('\t')).field, 'skb');
    assert.equal(lineError('B\tsoon').field, 'time');
    assert.equal(lineError('B').field, 'time');
  });

  it('random lines never throw', () => {
    const piece = fc.oneof(fc.constantFrom('E', 'T', 'F', 'B', 'rx', 'q', 'drop', 'icmp', '1', '2', '-3', 'ffff', '', SKB, 'Lost', '@emitted:'), fc.string({ maxLength: 8 }));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30, size: 'max' }), (parts) => {
        parseTraceLine(parts.join('\t'));
      }),
      { numRuns: 3000 },
    );
    fc.assert(fc.property(fc.string({ maxLength: 200, size: 'max' }), (s) => void parseTraceLine(s)), { numRuns: 2000 });
  });
});
