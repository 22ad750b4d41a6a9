import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ReceivedDatagram, UdpResponder, type UdpResponderSettings } from '../../src/checker/udp-responder.js';
import { decodeResponderMessage, emitResponderMessage, type ResponderMessage } from '../../src/packet/responder-message.js';

const SETTINGS: UdpResponderSettings = {
  maxReplySize: 4096,
  answerRate: { perClient: { perSecond: 10, burst: 10 }, global: { perSecond: 1000, burst: 1000 } },
  replyByteRate: { perClient: { perSecond: 8192, burst: 8192 }, global: { perSecond: 1 << 20, burst: 1 << 20 } },
  cookieSlotMs: 60_000,
  ipv6ClientPrefix: 64,
};
const SECRET = new Uint8Array(32).fill(7);
const NONCE = Uint8Array.of(9, 9, 9, 9, 1, 2, 3, 4);
const FROM = { family: 4 as const, address: '10.0.1.2', port: 40000 };

function datagram(m: ResponderMessage, from: Omit<ReceivedDatagram, 'bytes'> = FROM): ReceivedDatagram {
  return { ...from, bytes: emitResponderMessage(m) };
}

function decoded(bytes: Uint8Array | undefined): ResponderMessage {
  assert.ok(bytes !== undefined, 'no answer');
  const d = decodeResponderMessage(bytes);
  assert.ok(d.ok, 'answer does not decode');
  return d.value;
}

function cookieOf(r: UdpResponder, now: number, from: Omit<ReceivedDatagram, 'bytes'> = FROM): Uint8Array {
  const m = decoded(r.answer(datagram({ type: 'hello', nonce: NONCE, padding: 24 }, from), now));
  assert.equal(m.type, 'cookie');
  return m.type === 'cookie' ? m.cookie : new Uint8Array(0);
}

describe('UDP responder decisions', () => {
  it('a hello gets a 40-byte cookie (no larger than the hello) carrying the nonce and the largest reply size', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    const answer = r.answer(datagram({ type: 'hello', nonce: NONCE, padding: 24 }), 1000);
    assert.equal(answer?.length, 40);
    const m = decoded(answer);
    assert.deepEqual({ ...m, cookie: undefined }, { type: 'cookie', nonce: NONCE, cookie: undefined, maxReplySize: 4096 });
    assert.equal(r.counters.cookiesSent, 1);
  });

  it('a proven client gets its sized replies; the same request from another port or address with that cookie gets a 24-byte bad-cookie error', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    const cookie = cookieOf(r, 1000);
    const request: ResponderMessage = { type: 'size-request', nonce: NONCE, cookie, requestId: 5, replySize: 4096, padding: 0 };
    const reply = r.answer(datagram(request), 1001);
    assert.equal(reply?.length, 4096);
    assert.deepEqual(decoded(reply), { type: 'sized-reply', nonce: NONCE, requestId: 5, replySize: 4096 });
    for (const other of [{ ...FROM, port: 40001 }, { ...FROM, address: '10.0.1.3' }]) {
      const refused = r.answer(datagram(request, other), 1002);
      assert.equal(refused?.length, 24);
      assert.deepEqual(decoded(refused), { type: 'error', nonce: NONCE, code: 'bad-cookie', detail: 0 });
    }
    assert.equal(r.counters.badCookies, 2);
    assert.equal(r.counters.sizedReplyBytes, 4096);
  });

  it('a cookie is good in its slot and the next one, and bad after that', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    const cookie = cookieOf(r, 59_000);
    const ask = (now: number): ResponderMessage => decoded(r.answer(datagram({ type: 'probe', nonce: NONCE, cookie, probeId: 1, fragmentCount: 1, fragmentSize: 0, padding: 0 }), now));
    assert.equal(ask(60_500).type, 'probe-ack');
    assert.equal(ask(119_999).type, 'probe-ack');
    assert.deepEqual(ask(120_000), { type: 'error', nonce: NONCE, code: 'bad-cookie', detail: 0 });
  });

  it('another secret (a restarted server) refuses the old cookie', () => {
    const cookie = cookieOf(new UdpResponder(SETTINGS, SECRET, 0), 0);
    const r = new UdpResponder(SETTINGS, new Uint8Array(32).fill(8), 0);
    assert.equal(decoded(r.answer(datagram({ type: 'size-request', nonce: NONCE, cookie, requestId: 1, replySize: 100, padding: 0 }), 1)).type, 'error');
  });

  it('a probe is acknowledged with the length its socket received and the fragment fields it declared', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    const cookie = cookieOf(r, 0);
    const ack = r.answer(datagram({ type: 'probe', nonce: NONCE, cookie, probeId: 77, fragmentCount: 3, fragmentSize: 1280, padding: 3000 }), 1);
    assert.equal(ack?.length, 28);
    assert.deepEqual(decoded(ack), { type: 'probe-ack', nonce: NONCE, probeId: 77, receivedLength: 3040, fragmentCount: 3, fragmentSize: 1280 });
  });

  it('no answer to an unproven source is larger than what it sent, whatever it sends', () => {
    const r = new UdpResponder({ ...SETTINGS, answerRate: { perClient: { perSecond: 1e6, burst: 1e6 }, global: { perSecond: 1e6, burst: 1e6 } } }, SECRET, 0);
    const forged = new Uint8Array(16).fill(1);
    const inputs: Uint8Array[] = [
      emitResponderMessage({ type: 'hello', nonce: NONCE, padding: 24 }),
      emitResponderMessage({ type: 'size-request', nonce: NONCE, cookie: forged, requestId: 1, replySize: 65507, padding: 0 }),
      emitResponderMessage({ type: 'probe', nonce: NONCE, cookie: forged, probeId: 1, fragmentCount: 1, fragmentSize: 0, padding: 0 }),
    ];
    for (let n = 0; n < 64; n++) {
      const b = emitResponderMessage({ type: 'hello', nonce: NONCE, padding: 24 }).slice(0, n);
      inputs.push(b);
    }
    const broken = emitResponderMessage({ type: 'hello', nonce: NONCE, padding: 24 });
    broken[4] = 9;
    inputs.push(broken, broken.slice(0, 20));
    let answered = 0;
    for (const bytes of inputs) {
      const answer = r.answer({ ...FROM, bytes }, 5);
      if (answer === undefined) continue;
      answered++;
      assert.ok(answer.length <= bytes.length, `${answer.length}-byte answer to ${bytes.length} bytes`);
    }
    assert.ok(answered >= 4, `${answered} answers`);
    assert.equal(decoded(r.answer({ ...FROM, bytes: broken }, 6)).type, 'error');
    assert.equal(r.answer({ ...FROM, bytes: broken.slice(0, 20) }, 6), undefined, 'no 24-byte error to a 20-byte datagram');
  });

  it('messages only servers send are never answered (no loop between two responders)', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    for (const m of [
      { type: 'cookie', nonce: NONCE, cookie: new Uint8Array(16), maxReplySize: 1 },
      { type: 'error', nonce: NONCE, code: 'bad-cookie', detail: 0 },
      { type: 'probe-ack', nonce: NONCE, probeId: 1, receivedLength: 1, fragmentCount: 1, fragmentSize: 0 },
      { type: 'sized-reply', nonce: NONCE, requestId: 1, replySize: 100 },
    ] as const) {
      assert.equal(r.answer(datagram(m), 1), undefined, m.type);
    }
    assert.equal(r.counters.serverMessages, 4);
  });

  it('a reply larger than the limit is refused with the limit; a client over its byte budget gets rate-limited until it refills', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    const cookie = cookieOf(r, 0);
    const ask = (replySize: number, now: number): ResponderMessage =>
      decoded(r.answer(datagram({ type: 'size-request', nonce: NONCE, cookie, requestId: 1, replySize, padding: 0 }), now));
    assert.deepEqual(ask(4097, 1), { type: 'error', nonce: NONCE, code: 'reply-too-large', detail: 4096 });
    assert.equal(ask(4096, 2).type, 'sized-reply');
    assert.equal(ask(4096, 3).type, 'sized-reply');
    assert.deepEqual(ask(4096, 4), { type: 'error', nonce: NONCE, code: 'rate-limited', detail: 1 });
    // 8192 bytes/s: half a second later half the budget is back.
    assert.equal(ask(4096, 504).type, 'sized-reply');
    assert.equal(r.counters.byteRateLimited, 1);
  });

  it('answers stop at the per-client rate; another client is still answered; an IPv6 /64 is one client', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    const hello = emitResponderMessage({ type: 'hello', nonce: NONCE, padding: 24 });
    let answered = 0;
    for (let i = 0; i < 25; i++) if (r.answer({ ...FROM, bytes: hello }, 0) !== undefined) answered++;
    assert.equal(answered, 10);
    assert.equal(r.counters.answerRateLimited, 15);
    assert.notEqual(r.answer({ ...FROM, address: '10.0.1.9', bytes: hello }, 0), undefined);
    let v6 = 0;
    for (let i = 0; i < 25; i++) if (r.answer({ family: 6, address: `fd00:1:2:3::${i + 1}`, port: 1, bytes: hello }, 0) !== undefined) v6++;
    assert.equal(v6, 10);
  });

  it('datagrams not of the protocol are ignored, not answered', () => {
    const r = new UdpResponder(SETTINGS, SECRET, 0);
    assert.equal(r.answer({ ...FROM, bytes: new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n') }, 0), undefined);
    assert.equal(r.counters.ignored, 1);
  });
});
