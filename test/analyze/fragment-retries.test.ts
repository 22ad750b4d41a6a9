import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emitWholeIpv4 } from '../../src/packet/ipv4.js';
import { DnsMessage, emitDns, parseDns, type DnsRepr } from '../../src/packet/dns.js';
import { emitTcp } from '../../src/packet/tcp.js';
import { emitUdp } from '../../src/packet/udp.js';
import { v4Split } from '../frag/fragment-builders.js';
import { at, frames, kinds, runFragments, type Sent } from './support/fragments.js';

const CLIENT = '10.0.1.2';
const SERVER = '10.0.2.2';

function udp(src: string, dst: string, sport: number, dport: number, payload: Uint8Array, ident = 1): Uint8Array {
  return emitWholeIpv4({ src, dst, protocol: 17, ttl: 64, ident }, emitUdp({ srcPort: sport, dstPort: dport, payloadLength: payload.length }, payload, src, dst));
}

/** A UDP answer of `size` payload bytes from the server, as IPv4 fragments of 1480 bytes. */
function fragmentedAnswer(dport: number, sport: number, payload: Uint8Array, ident = 0x77): Uint8Array[] {
  const u = emitUdp({ srcPort: sport, dstPort: dport, payloadLength: payload.length }, payload, SERVER, CLIENT);
  const cuts: number[] = [];
  for (let c = 1480; c < u.length; c += 1480) cuts.push(c);
  return v4Split({ src: SERVER, dst: CLIENT, ident }, u, cuts);
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

function dns(id: number, response: boolean, truncated = false, name = 'big.example'): DnsRepr {
  return {
    header: {
      id,
      response,
      opcode: 0,
      authoritative: false,
      truncated,
      recursionDesired: true,
      recursionAvailable: response,
      rcode: 0,
      questionCount: 1,
      answerCount: response ? 1 : 0,
      authorityCount: 0,
      additionalCount: 0,
    },
    question: { name, type: 16, class: 1 },
  };
}

describe('fragments-lost-retried (generic UDP)', () => {
  it('names a fragmented answer followed by the same request again', () => {
    const answer = fragmentedAnswer(40000, 9999, new Uint8Array(4000).fill(0x63));
    const { findings } = runFragments([
      at(0, udp(CLIENT, SERVER, 40000, 9999, text('4000'))),
      ...answer.map((p, i) => at(1 + i, p)),
      at(1000, udp(CLIENT, SERVER, 40000, 9999, text('4000'))),
      ...answer.map((p, i) => at(1001 + i, p)),
      at(2000, udp(CLIENT, SERVER, 40000, 9999, text('4000'))),
    ]);
    assert.deepEqual(kinds(findings), ['fragments-lost-retried']);
    const f = findings[0]!;
    assert.equal(f.severity, 'error');
    assert.equal(f.confidence, 'high');
    assert.equal(f.facts.answerBytes, 4008);
    assert.equal(f.facts.fragmentsSeen, 3);
    assert.equal(f.facts.answerComplete, true);
    assert.equal(f.facts.retries, 2);
    assert.deepEqual(frames(f), [1, 2, 3, 4, 5, 9]);
    assert.match(f.sentence, /all 3 fragments passed the capture point, yet the client sent the same request 2 more times 999 ms after the answer/);
  });

  it('says nothing when the answer came in one packet, when the next request differs, or when the retry came before the answer', () => {
    const one = runFragments([
      at(0, udp(CLIENT, SERVER, 40000, 9999, text('400'))),
      at(1, udp(SERVER, CLIENT, 9999, 40000, new Uint8Array(400))),
      at(1000, udp(CLIENT, SERVER, 40000, 9999, text('400'))),
    ]);
    assert.deepEqual(one.findings, []);
    const answer = fragmentedAnswer(40000, 9999, new Uint8Array(4000));
    const differs = runFragments([at(0, udp(CLIENT, SERVER, 40000, 9999, text('4000'))), ...answer.map((p, i) => at(1 + i, p)), at(1000, udp(CLIENT, SERVER, 40000, 9999, text('4001')))]);
    assert.deepEqual(differs.findings, []);
    const early = runFragments([at(0, udp(CLIENT, SERVER, 40000, 9999, text('4000'))), at(500, udp(CLIENT, SERVER, 40000, 9999, text('4000'))), ...answer.map((p, i) => at(600 + i, p))]);
    assert.deepEqual(early.findings, []);
  });

  it('does not take the same request seen on a second interface of a router capture for a retry', () => {
    const answer = fragmentedAnswer(40000, 9999, new Uint8Array(4000).fill(0x63));
    const onBothSides = (ms: number, ip: Uint8Array): Sent[] => [at(ms, ip, { interfaceName: 'eth1' }), at(ms + 1, ip, { interfaceName: 'eth2' })];
    const { findings } = runFragments([
      ...onBothSides(0, udp(CLIENT, SERVER, 40000, 9999, text('4000'))),
      ...answer.flatMap((p, i) => onBothSides(10 + 2 * i, p)),
    ]);
    assert.deepEqual(kinds(findings), []);
    // The same capture with the client really asking again is still found, once per interface that saw it.
    const retried = runFragments([
      ...onBothSides(0, udp(CLIENT, SERVER, 40000, 9999, text('4000'))),
      ...answer.flatMap((p, i) => onBothSides(10 + 2 * i, p)),
      ...onBothSides(1000, udp(CLIENT, SERVER, 40000, 9999, text('4000'))),
    ]);
    assert.deepEqual(kinds(retried.findings), ['fragments-lost-retried', 'fragments-lost-retried']);
  });

  it('says the fragments were lost before the capture point when not all of them passed it', () => {
    const answer = fragmentedAnswer(40000, 9999, new Uint8Array(4000));
    const { findings } = runFragments([at(0, udp(CLIENT, SERVER, 40000, 9999, text('4000'))), at(1, answer[0]!), at(1000, udp(CLIENT, SERVER, 40000, 9999, text('4000'))), at(5000, udp('10.9.9.9', '10.9.9.8', 1, 2, text('x')))]);
    const f = findings.find((x) => x.kind === 'fragments-lost-retried');
    assert.equal(f?.facts.answerComplete, false);
    assert.equal(f.facts.missingRanges, '1480-4007');
    assert.ok(findings.some((x) => x.kind === 'fragments-incomplete'));
  });
});

describe('fragments-lost-retried (DNS)', () => {
  it('matches a DNS retry by id and question after a fragmented answer (high confidence), and by question alone (medium)', () => {
    const answer = fragmentedAnswer(5353, 53, emitDns(dns(0x1234, true), new Uint8Array(3500)));
    const same = runFragments([at(0, udp(CLIENT, SERVER, 5353, 53, emitDns(dns(0x1234, false)))), ...answer.map((p, i) => at(1 + i, p)), at(2000, udp(CLIENT, SERVER, 5353, 53, emitDns(dns(0x1234, false))))]);
    const f = same.findings[0]!;
    assert.equal(f.kind, 'fragments-lost-retried');
    assert.equal(f.confidence, 'high');
    assert.equal(f.facts.dnsQuestion, 'big.example 16 1');
    assert.equal(f.facts.sameId, true);
    const newId = runFragments([at(0, udp(CLIENT, SERVER, 5353, 53, emitDns(dns(0x1234, false)))), ...answer.map((p, i) => at(1 + i, p)), at(2000, udp(CLIENT, SERVER, 5354, 53, emitDns(dns(0x4321, false))))]);
    assert.equal(newId.findings[0]?.confidence, 'medium');
    assert.equal(newId.findings[0].facts.sameSourcePort, false);
    const other = runFragments([at(0, udp(CLIENT, SERVER, 5353, 53, emitDns(dns(0x1234, false)))), ...answer.map((p, i) => at(1 + i, p)), at(2000, udp(CLIENT, SERVER, 5353, 53, emitDns(dns(0x1235, false, false, 'other.example'))))]);
    assert.deepEqual(other.findings, []);
  });

  it('reports a truncated answer retried over TCP as the healthy fallback (info), and nothing without the TCP connection', () => {
    const syn = emitWholeIpv4(
      { src: CLIENT, dst: SERVER, protocol: 6, ttl: 64, ident: 9 },
      emitTcp({ srcPort: 41000, dstPort: 53, seq: 1, ack: 0, flags: 0x02, window: 64240, urgentPointer: 0, options: [], payloadLength: 0 }, new Uint8Array(0), CLIENT, SERVER),
    );
    const query = udp(CLIENT, SERVER, 5353, 53, emitDns(dns(7, false)));
    const tc = udp(SERVER, CLIENT, 53, 5353, emitDns(dns(7, true, true)));
    const { findings } = runFragments([at(0, query), at(1, tc), at(3, syn)]);
    assert.deepEqual(kinds(findings), ['fragments-lost-retried']);
    assert.equal(findings[0]!.severity, 'info');
    assert.match(findings[0]!.sentence, /retried over TCP after a truncated answer/);
    assert.deepEqual(frames(findings[0]), [2, 3]);
    assert.deepEqual(runFragments([at(0, query), at(1, tc)]).findings, []);
    assert.deepEqual(runFragments([at(0, query), at(3, syn)]).findings, []);
  });
});

describe('the DNS header codec', () => {
  it('parses what it emits and refuses short or compressed questions with an error value', () => {
    const bytes = emitDns(dns(0xbeef, true, true));
    const m = DnsMessage.check(bytes);
    assert.ok(m.ok);
    const r = parseDns(m.value);
    assert.ok(r.ok);
    assert.deepEqual(r.value, dns(0xbeef, true, true));
    assert.deepEqual(DnsMessage.check(bytes.subarray(0, 11)), { ok: false, error: { protocol: 'dns', field: 'header', offset: 0, reason: 'needs 12 bytes, buffer has 11', short: true } });
    const cut = DnsMessage.check(bytes.subarray(0, 16));
    assert.ok(cut.ok);
    assert.equal(cut.value.question().ok, false);
    const pointer = bytes.slice();
    pointer[12] = 0xc0;
    const q = DnsMessage.check(pointer);
    assert.ok(q.ok);
    const bad = q.value.question();
    assert.ok(!bad.ok && bad.error.field === 'qname' && bad.error.offset === 12);
  });
});
