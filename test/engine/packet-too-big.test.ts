/**
 * The packets the engine crafts, checked with tshark as the oracle: the ICMP "fragmentation needed" / ICMPv6 Packet
 * Too Big of buildPacketTooBig (RFC 1191, RFC 1812 4.3.2.3, RFC 4443) and the fragments of fragmentSegment (tshark
 * dissects each fragment, then reassembles the set).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openCaptureWriter } from '../../src/capture/writer.js';
import { buildPacketTooBig, IPV4_ICMP_ERROR_LIMIT, IPV6_ICMP_ERROR_LIMIT } from '../../src/packet/packet-too-big.js';
import { fragmentSegment } from '../../src/engine/segment-fragments.js';
import { parseTcpSegment, type TcpSegment } from '../../src/packet/tcp-segment.js';
import { bytesEqual } from '../../src/packet/bytes.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import { LinkType } from '../../src/packet/link-type.js';
import { tsharkFields } from '../support/tshark.js';
import { ACK, filler, PSH, tcpPacket } from './engine-packets.js';

const CLIENT4 = '10.0.0.2';
const SERVER4 = '10.0.0.1';
const CLIENT6 = 'fd00::2';
const SERVER6 = 'fd00::1';

/** A client→server data segment of `ipLength` bytes on the wire (IPv4 DF set). */
function clientSegment(family: IpFamily, ipLength: number): TcpSegment {
  const headers = family === 4 ? 40 : 60;
  const bytes = tcpPacket({
    src: family === 4 ? CLIENT4 : CLIENT6,
    dst: family === 4 ? SERVER4 : SERVER6,
    srcPort: 40_123,
    dstPort: 8080,
    seq: 0x0102_0304,
    ack: 0x0a0b_0c0d,
    flags: ACK | PSH,
    payload: filler(ipLength - headers, family),
  });
  return segmentOf(bytes);
}

function segmentOf(bytes: Uint8Array): TcpSegment {
  const s = parseTcpSegment(bytes);
  assert.ok(s.ok, s.ok ? '' : s.error.reason);
  return s.value;
}

/** A server→client segment with Linux's timestamp option (32-byte TCP header). */
function serverSegment(family: IpFamily, payloadLength: number): TcpSegment {
  return segmentOf(
    tcpPacket({
      src: family === 4 ? SERVER4 : SERVER6,
      dst: family === 4 ? CLIENT4 : CLIENT6,
      srcPort: 8080,
      dstPort: 40_123,
      seq: 0xfedc_ba98,
      ack: 0x1234_5678,
      flags: ACK | PSH,
      payload: filler(payloadLength, 5),
      options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamps', value: 0x11223344, echo: 0x55667788 }],
    }),
  );
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

let dir: string;
let captures = 0;

async function capture(packets: readonly Uint8Array[]): Promise<string> {
  const path = join(dir, `c${captures++}.pcap`);
  const w = openCaptureWriter(path, { format: 'pcap', linkType: LinkType.Raw });
  for (const [i, data] of packets.entries()) await w.write({ timestampNs: 1_700_000_000_000_000_000n + BigInt(i) * 1000n, data });
  await w.close();
  return path;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mts-engine-ptb-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('buildPacketTooBig, checked by tshark', () => {
  it('IPv4: type 3 code 4, MTU 905, good checksums, the 1500-byte datagram quoted so the ICMP datagram is exactly 576 bytes', async () => {
    const offending = clientSegment(4, 1500);
    const ptb = buildPacketTooBig(offending, 905, 0x1234);
    assert.equal(ptb.length, IPV4_ICMP_ERROR_LIMIT);
    const [row, ...more] = await tsharkFields(await capture([ptb]), [
      'frame.len',
      'ip.src',
      'ip.dst',
      'ip.len',
      'ip.id',
      'ip.ttl',
      'ip.flags.df',
      'ip.checksum.status',
      'icmp.type',
      'icmp.code',
      'icmp.mtu',
      'icmp.checksum.status',
      'tcp.srcport',
      'tcp.dstport',
      'tcp.seq',
    ]);
    assert.equal(more.length, 0);
    assert.deepEqual(row, {
      'frame.len': '576',
      // Outer header first, then the quoted one: addresses swapped, the quote claims its full 1500 bytes.
      'ip.src': `${SERVER4},${CLIENT4}`,
      'ip.dst': `${CLIENT4},${SERVER4}`,
      'ip.len': '576,1500',
      'ip.id': '0x1234,0x4242',
      'ip.ttl': '64,64',
      'ip.flags.df': '0,1',
      'ip.checksum.status': '1,1',
      'icmp.type': '3',
      'icmp.code': '4',
      'icmp.mtu': '905',
      'icmp.checksum.status': '1',
      'tcp.srcport': '40123',
      'tcp.dstport': '8080',
      // Inside an ICMP quote tshark prints the sequence number as it is (there is no seq_raw there).
      'tcp.seq': String(0x0102_0304),
    });
    assert.ok(bytesEqual(ptb.subarray(28), offending.bytes.subarray(0, 548)), 'the quote is the start of the offending packet');
  });

  it('IPv6: type 2, MTU 1280, good checksum, exactly 1280 bytes', async () => {
    const offending = clientSegment(6, 1500);
    const ptb = buildPacketTooBig(offending, 1280, 7);
    assert.equal(ptb.length, IPV6_ICMP_ERROR_LIMIT);
    const [row] = await tsharkFields(await capture([ptb]), [
      'frame.len',
      'ipv6.src',
      'ipv6.dst',
      'ipv6.plen',
      'ipv6.nxt',
      'ipv6.hlim',
      'icmpv6.type',
      'icmpv6.code',
      'icmpv6.mtu',
      'icmpv6.checksum.status',
      'tcp.srcport',
      'tcp.seq',
    ]);
    assert.deepEqual(row, {
      'frame.len': '1280',
      'ipv6.src': `${SERVER6},${CLIENT6}`,
      'ipv6.dst': `${CLIENT6},${SERVER6}`,
      'ipv6.plen': '1240,1460',
      'ipv6.nxt': '58,6',
      'ipv6.hlim': '64,64',
      'icmpv6.type': '2',
      'icmpv6.code': '0',
      'icmpv6.mtu': '1280',
      'icmpv6.checksum.status': '1',
      'tcp.srcport': '40123',
      'tcp.seq': String(0x0102_0304),
    });
    assert.ok(bytesEqual(ptb.subarray(48), offending.bytes.subarray(0, 1232)));
  });

  it('a small offending packet is quoted whole (its TCP checksum verifies inside the quote)', async () => {
    const small4 = clientSegment(4, 100);
    const small6 = clientSegment(6, 100);
    const ptb4 = buildPacketTooBig(small4, 905, 1);
    const ptb6 = buildPacketTooBig(small6, 1280, 1);
    assert.equal(ptb4.length, 20 + 8 + 100);
    assert.equal(ptb6.length, 40 + 8 + 100);
    assert.ok(bytesEqual(ptb4.subarray(28), small4.bytes));
    assert.ok(bytesEqual(ptb6.subarray(48), small6.bytes));
    const rows = await tsharkFields(await capture([ptb4, ptb6]), ['frame.len', 'ip.len', 'ipv6.plen', 'icmp.checksum.status', 'icmpv6.checksum.status', 'tcp.checksum.status', 'tcp.len']);
    assert.deepEqual(
      rows.map((r) => [r['frame.len'], r['ip.len'], r['ipv6.plen'], r['icmp.checksum.status'], r['icmpv6.checksum.status'], r['tcp.checksum.status']]),
      [
        ['128', '128,100', '', '1', '', '1'],
        ['148', '', '108,60', '', '1', '1'],
      ],
    );
  });

  it('the quote limit is exact: 548 bytes quoted whole, one more trimmed (IPv4); 1232 and 1233 (IPv6)', () => {
    for (const [family, fits] of [
      [4, 548],
      [6, 1232],
    ] as const) {
      const whole = buildPacketTooBig(clientSegment(family, fits), 1000, 0);
      const trimmed = buildPacketTooBig(clientSegment(family, fits + 1), 1000, 0);
      const limit = family === 4 ? IPV4_ICMP_ERROR_LIMIT : IPV6_ICMP_ERROR_LIMIT;
      assert.equal(whole.length, limit);
      assert.equal(trimmed.length, limit);
    }
  });

  it('quotes only the IP packet, not bytes the queue held beyond its length', () => {
    const seg = clientSegment(4, 100);
    const padded = new Uint8Array(160);
    padded.set(seg.bytes);
    padded.fill(0xee, 100);
    const ptb = buildPacketTooBig(segmentOf(padded), 905, 0);
    assert.equal(ptb.length, 128);
    assert.ok(bytesEqual(ptb.subarray(28), seg.bytes));
  });
});

describe('fragmentSegment, checked by tshark', () => {
  interface Case {
    readonly name: string;
    readonly segment: TcpSegment;
    readonly maxFragment: number;
  }
  const cases: Case[] = [
    { name: 'IPv4 1500-byte segment, fragments of at most 576', segment: serverSegment(4, 1448), maxFragment: 576 },
    { name: 'IPv4 small segment', segment: serverSegment(4, 30), maxFragment: 576 },
    { name: 'IPv6 1500-byte segment, fragments of at most 1280', segment: serverSegment(6, 1408), maxFragment: 1280 },
    { name: 'IPv6 small segment', segment: serverSegment(6, 40), maxFragment: 1280 },
    // The least that splits with the whole 32-byte TCP header in the first fragment.
    { name: 'IPv6 segment of 9 data bytes', segment: serverSegment(6, 9), maxFragment: 1280 },
  ];
  for (const [index, c] of cases.entries()) {
    it(`${c.name}: fragment headers as tshark reads them, and tshark's reassembly is the original TCP segment`, async () => {
      const ident = 0x5a00 + index;
      const r = fragmentSegment(c.segment, c.maxFragment, ident);
      assert.ok(r.ok, r.ok ? '' : r.reason);
      const fragments = r.fragments;
      assert.ok(fragments.length >= 2);
      const path = await capture(fragments);
      const family = c.segment.family;
      const tcpBytes = c.segment.bytes.subarray(family === 4 ? 20 : 40, c.segment.ipLength);
      if (family === 4) {
        const rows = await tsharkFields(path, ['frame.len', 'ip.len', 'ip.id', 'ip.flags.df', 'ip.flags.mf', 'ip.frag_offset', 'ip.checksum.status']);
        let offset = 0;
        for (const [i, row] of rows.entries()) {
          const last = i === rows.length - 1;
          assert.ok(Number(row['frame.len']) <= c.maxFragment);
          assert.deepEqual(
            [row['ip.id'], row['ip.flags.df'], row['ip.flags.mf'], row['ip.frag_offset'], row['ip.checksum.status']],
            [`0x${ident.toString(16)}`, '0', last ? '0' : '1', String(offset / 8), '1'],
            `fragment ${i}`,
          );
          offset += Number(row['ip.len']) - 20;
        }
        assert.equal(offset, tcpBytes.length);
      } else {
        const rows = await tsharkFields(path, ['frame.len', 'ipv6.plen', 'ipv6.nxt', 'ipv6.fraghdr.nxt', 'ipv6.fraghdr.offset', 'ipv6.fraghdr.more', 'ipv6.fraghdr.ident']);
        let offset = 0;
        for (const [i, row] of rows.entries()) {
          const last = i === rows.length - 1;
          assert.ok(Number(row['frame.len']) <= c.maxFragment);
          assert.deepEqual(
            [row['ipv6.nxt'], row['ipv6.fraghdr.nxt'], row['ipv6.fraghdr.offset'], row['ipv6.fraghdr.more'], row['ipv6.fraghdr.ident']],
            ['44', '6', String(offset / 8), last ? '0' : '1', `0x${ident.toString(16).padStart(8, '0')}`],
            `fragment ${i}`,
          );
          offset += Number(row['ipv6.plen']) - 8;
        }
        assert.equal(offset, tcpBytes.length);
        // RFC 7112: the first fragment holds the whole TCP header, options included.
        assert.ok(Number(rows[0]!['ipv6.plen']) - 8 >= 32);
      }
      const k = family === 4 ? 'ip' : 'ipv6';
      const reassembled = await tsharkFields(path, [`${k}.reassembled.data`, 'tcp.len', 'tcp.checksum.status', 'tcp.seq_raw'], {
        prefs: ['ip.defragment:TRUE', 'ipv6.defragment:TRUE'],
        displayFilter: 'tcp',
      });
      assert.equal(reassembled.length, 1, 'tshark completes one datagram');
      const row = reassembled[0]!;
      assert.equal(row[`${k}.reassembled.data`], hex(tcpBytes));
      assert.deepEqual([row['tcp.len'], row['tcp.checksum.status'], row['tcp.seq_raw']], [String(c.segment.payloadLength), '1', String(0xfedc_ba98)]);
    });
  }
});
