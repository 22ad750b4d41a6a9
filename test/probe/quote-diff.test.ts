import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { changedFields, diffQuote, fieldOf, notQuotedFields, type QuoteDiff } from '../../src/probe/quote-diff.js';
import { quoteOf, rfc792, SYN_FIELDS, synProbe, TCP_FLOW4, TCP_FLOW6, withMss, without } from './middlebox-packets.js';

function diff(sent: Uint8Array, quoted: Uint8Array, kind: 'time-exceeded' | 'other' = 'time-exceeded'): QuoteDiff {
  const d = diffQuote(sent, quoted, kind);
  assert.ok(d.ok, d.ok ? '' : d.error.reason);
  return d.value;
}

function changes(d: QuoteDiff): string[] {
  return changedFields(d).map((f) => `${f.field} ${String(f.expected)}->${String(f.quoted)}`);
}

describe('quote diff', () => {
  for (const flow of [TCP_FLOW4, TCP_FLOW6]) {
    const v = `IPv${flow.family}`;
    it(`${v}: a whole quote of the unchanged probe with TTL 1 shows every field as sent, nothing changed`, () => {
      const sent = synProbe(flow, 3, 3);
      const d = diff(sent, quoteOf(sent));
      assert.deepEqual(changes(d), []);
      assert.deepEqual(notQuotedFields(d), []);
      assert.equal(d.partial, false);
      assert.equal(d.tcpBytes, 40);
      assert.equal(d.quotedBytes, sent.length);
      assert.equal(d.tcpChecksumVerifies, true);
      assert.deepEqual(fieldOf(d, 'tcp.mss'), { field: 'tcp.mss', sent: 1460, expected: 1460, quoted: 1460, status: 'same' });
      assert.deepEqual(fieldOf(d, 'ip.ttl'), { field: 'ip.ttl', sent: 3, expected: 1, quoted: 1, status: 'same' });
      assert.deepEqual(fieldOf(d, 'ip.dscp'), { field: 'ip.dscp', sent: 10, expected: 10, quoted: 10, status: 'same' });
      assert.equal(fieldOf(d, 'tcp.options-layout')?.sent, 'mss,sack-permitted,timestamps,nop,window-scale');
    });

    it(`${v}: an MSS clamped to 1344 shows as the one changed option, with the checksum that TCPMSS fixed`, () => {
      const sent = synProbe(flow, 4, 4);
      const d = diff(sent, quoteOf(sent, { tcp: withMss(1344) }));
      assert.deepEqual(fieldOf(d, 'tcp.mss'), { field: 'tcp.mss', sent: 1460, expected: 1460, quoted: 1344, status: 'changed' });
      assert.deepEqual(
        changedFields(d).map((f) => f.field),
        ['tcp.checksum', 'tcp.mss'],
      );
      assert.equal(d.tcpChecksumVerifies, true);
    });

    it(`${v}: DSCP 10 rewritten to 0 and ECT(0) cleared are two changed IP fields`, () => {
      const sent = synProbe(flow, 5, 2);
      const ip = flow.family === 4 ? { dscp: 0, ecn: 0 } : { trafficClass: 0 };
      const d = diff(sent, quoteOf(sent, { ip }));
      assert.deepEqual(changes(d), ['ip.dscp 10->0', 'ip.ecn 2->0']);
    });

    it(`${v}: a removed timestamps option is absent in the quote, and the header and IP lengths shrink with it`, () => {
      const sent = synProbe(flow, 6, 2);
      const d = diff(sent, quoteOf(sent, { tcp: without('timestamps') }));
      assert.deepEqual(fieldOf(d, 'tcp.timestamps'), { field: 'tcp.timestamps', sent: 'TSval 1 TSecr 0', expected: 'TSval 1 TSecr 0', quoted: null, status: 'changed' });
      const ipLength = flow.family === 4 ? 'ip.length 60->52' : 'ip.length 40->32';
      const checksum = fieldOf(d, 'tcp.checksum')!;
      assert.deepEqual(changes(d), [
        ipLength,
        'tcp.data-offset 40->32',
        `tcp.checksum ${String(checksum.sent)}->${String(checksum.quoted)}`,
        'tcp.timestamps TSval 1 TSecr 0->null',
        'tcp.options-layout mss,sack-permitted,timestamps,nop,window-scale->mss,sack-permitted,nop,window-scale',
      ]);
      assert.equal(d.tcpChecksumVerifies, true);
    });

    it(`${v}: an RFC 792 quote (IP header and 8 bytes of TCP) compares the IP header, ports and sequence number and says "not quoted" for the rest`, () => {
      const sent = synProbe(flow, 7, 5);
      const quoted = rfc792(quoteOf(sent));
      assert.equal(quoted.length, flow.family === 4 ? 28 : 48);
      const d = diff(sent, quoted);
      assert.equal(d.partial, true);
      assert.equal(d.tcpBytes, 8);
      assert.equal(d.tcpChecksumVerifies, undefined);
      assert.deepEqual(changes(d), []);
      assert.deepEqual(
        notQuotedFields(d).map((f) => f.field),
        ['tcp.ack', 'tcp.data-offset', 'tcp.flags', 'tcp.window', 'tcp.checksum', 'tcp.urgent', 'tcp.mss', 'tcp.sack-permitted', 'tcp.timestamps', 'tcp.window-scale', 'tcp.options-layout'],
      );
      assert.equal(fieldOf(d, 'tcp.seq')?.status, 'same');
      assert.equal(fieldOf(d, 'tcp.seq')?.quoted, 7 * 0x10000);
    });

    it(`${v}: a clamped MSS in an RFC 792 quote cannot be seen: the MSS is "not quoted", never "same"`, () => {
      const sent = synProbe(flow, 8, 5);
      const d = diff(sent, rfc792(quoteOf(sent, { tcp: withMss(1344) })));
      assert.deepEqual(fieldOf(d, 'tcp.mss'), { field: 'tcp.mss', sent: 1460, expected: 1460, status: 'not-quoted' });
    });

    it(`${v}: a quote cut inside the options compares the MSS (its first option) and nothing after it`, () => {
      const sent = synProbe(flow, 9, 5);
      const whole = quoteOf(sent, { tcp: withMss(1400) });
      const ip = flow.family === 4 ? 20 : 40;
      const d = diff(sent, whole.slice(0, ip + 24));
      assert.equal(d.partial, true);
      assert.deepEqual(fieldOf(d, 'tcp.mss'), { field: 'tcp.mss', sent: 1460, expected: 1460, quoted: 1400, status: 'changed' });
      assert.equal(fieldOf(d, 'tcp.sack-permitted')?.status, 'not-quoted');
      assert.equal(fieldOf(d, 'tcp.window')?.status, 'same');
    });
  }

  it('a quote with TTL 0 (a router that decrements before it quotes) is as expected; TTL 2 is not', () => {
    const sent = synProbe(TCP_FLOW4, 1, 4);
    assert.deepEqual(fieldOf(diff(sent, quoteOf(sent, { ip: { ttl: 0 } })), 'ip.ttl'), { field: 'ip.ttl', sent: 4, expected: 1, quoted: 0, status: 'same' });
    assert.deepEqual(fieldOf(diff(sent, quoteOf(sent, { ip: { ttl: 2 } })), 'ip.ttl'), { field: 'ip.ttl', sent: 4, expected: 1, quoted: 2, status: 'changed' });
  });

  it('the TTL in a Destination Unreachable quote is shown, not compared: nothing says what it should be', () => {
    const sent = synProbe(TCP_FLOW6, 1, 9);
    assert.deepEqual(fieldOf(diff(sent, quoteOf(sent, { ip: { hopLimit: 6 } }), 'other'), 'ip.ttl'), { field: 'ip.ttl', sent: 9, expected: null, quoted: 6, status: 'not-compared' });
  });

  it('a source address and port translated on the way are changed fields (NAT); the checksum then still verifies', () => {
    const sent = synProbe(TCP_FLOW4, 2, 3);
    const d = diff(sent, quoteOf(sent, { ip: { src: '10.200.0.1' }, tcp: (r) => ({ ...r, srcPort: 1024 }) }));
    assert.deepEqual(changes(d).filter((c) => !c.startsWith('tcp.checksum')), ['ip.src 10.0.0.2->10.200.0.1', 'tcp.src-port 40001->1024']);
    assert.equal(d.tcpChecksumVerifies, true);
  });

  it('a quote rewritten without fixing the checksum is told apart by a checksum that no longer verifies', () => {
    const sent = synProbe(TCP_FLOW4, 2, 3);
    const quoted = quoteOf(sent);
    quoted[20 + 22] = 0x05; // MSS 1460 (0x05b4) -> 0x0505 = 1285 in place, checksum left as it was
    quoted[20 + 23] = 0x05;
    const d = diff(sent, quoted);
    assert.deepEqual(changes(d), ['tcp.mss 1460->1285']);
    assert.equal(d.tcpChecksumVerifies, false);
  });

  it('refuses what is not a quote of this probe: another family, another protocol, too few bytes for an IP header', () => {
    const sent4 = synProbe(TCP_FLOW4, 1, 1);
    const sent6 = synProbe(TCP_FLOW6, 1, 1);
    const a = diffQuote(sent4, quoteOf(sent6), 'time-exceeded');
    assert.ok(!a.ok && a.error.reason === 'the quote is IPv6, the probe was IPv4');
    const udp = quoteOf(sent4);
    udp[9] = 17;
    const b = diffQuote(sent4, udp, 'time-exceeded');
    assert.ok(!b.ok && b.error.field === 'protocol' && b.error.reason === 'the quoted packet is protocol 17, not TCP');
    const c = diffQuote(sent4, quoteOf(sent4).slice(0, 12), 'time-exceeded');
    assert.ok(!c.ok && c.error.short === true);
  });

  it('the probe carries the options the trace announces, in the order Linux sends them', () => {
    assert.deepEqual(SYN_FIELDS, { window: 64240, mss: 1460, sackPermitted: true, timestamps: { value: 1, echo: 0 }, windowScale: 7 });
  });
});
