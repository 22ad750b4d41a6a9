import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeResponderMessage,
  emitResponderMessage,
  MAX_UDP_PAYLOAD,
  parseQuotedPtbRequest,
  parseResponderMessage,
  RESPONDER_ERRORS,
  RESPONDER_SIZES,
  type ResponderMessage,
  ResponderMessageView,
} from '../../src/packet/responder-message.js';
import type { Decoded, DecodeError } from '../../src/packet/result.js';
import { prng } from '../support/prng.js';

function value<T>(d: Decoded<T>): T {
  assert.ok(d.ok, d.ok ? '' : `${d.error.field} at ${d.error.offset}: ${d.error.reason}`);
  return d.value;
}

function error<T>(d: Decoded<T>): DecodeError {
  assert.ok(!d.ok, 'decoded');
  return d.error;
}

const NONCE = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
const COOKIE = new Uint8Array(16).fill(0xc0);

const arbBytes = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const fragments = fc.oneof(
  fc.constant({ fragmentCount: 1, fragmentSize: 0 }),
  fc.record({ fragmentCount: fc.integer({ min: 2, max: 0xffff }), fragmentSize: fc.integer({ min: 1, max: 0xffff }) }),
);
const padding = fc.integer({ min: 0, max: 3000 });

const arbMessage: fc.Arbitrary<ResponderMessage> = fc.oneof(
  fc.record({ type: fc.constant('hello' as const), nonce: arbBytes(8), padding: fc.integer({ min: 24, max: 3000 }) }),
  fc.record({ type: fc.constant('cookie' as const), nonce: arbBytes(8), cookie: arbBytes(16), maxReplySize: u32 }),
  fc
    .tuple(arbBytes(8), arbBytes(16), u32, fragments, padding)
    .map(([nonce, cookie, probeId, f, pad]) => ({ type: 'probe' as const, nonce, cookie, probeId, ...f, padding: pad })),
  fc.tuple(arbBytes(8), u32, u32, fragments).map(([nonce, probeId, receivedLength, f]) => ({ type: 'probe-ack' as const, nonce, probeId, receivedLength, ...f })),
  fc.record({
    type: fc.constant('size-request' as const),
    nonce: arbBytes(8),
    cookie: arbBytes(16),
    requestId: u32,
    replySize: fc.integer({ min: 24, max: MAX_UDP_PAYLOAD }),
    padding,
  }),
  fc.record({ type: fc.constant('sized-reply' as const), nonce: arbBytes(8), requestId: u32, replySize: fc.integer({ min: 24, max: 9000 }) }),
  fc.record({ type: fc.constant('error' as const), nonce: arbBytes(8), code: fc.constantFrom(...RESPONDER_ERRORS), detail: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ type: fc.constant('ptb-request' as const), nonce: arbBytes(8), cookie: arbBytes(16), requestId: u32, padding }),
  fc.record({
    type: fc.constant('ptb-sent' as const),
    nonce: arbBytes(8),
    requestId: u32,
    reportedMtu: u32,
    quotedLength: fc.integer({ min: 0, max: 0xffff }),
    packetSize: fc.integer({ min: 0, max: 0xffff }),
  }),
  // fc.record makes objects without a prototype; the parser's are plain ones.
).map((m) => ({ ...m }));

describe('UDP responder messages', () => {
  it('a hello is "MTUP", version 1, type 1, a zero reserved field, the nonce, then padding: exact bytes', () => {
    const bytes = emitResponderMessage({ type: 'hello', nonce: NONCE, padding: 24 });
    assert.equal(bytes.length, 40);
    assert.deepEqual([...bytes.subarray(0, 16)], [0x4d, 0x54, 0x55, 0x50, 1, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual([...bytes.subarray(16)], new Array<number>(24).fill(0));
  });

  it('a probe-ack puts its fields where the table says: id, received length, fragment count and size', () => {
    const bytes = emitResponderMessage({ type: 'probe-ack', nonce: NONCE, probeId: 0x01020304, receivedLength: 3000, fragmentCount: 3, fragmentSize: 1280 });
    assert.equal(bytes.length, RESPONDER_SIZES.probeAck);
    assert.deepEqual([...bytes.subarray(5, 6)], [4]);
    assert.deepEqual([...bytes.subarray(16)], [1, 2, 3, 4, 0, 0, 0x0b, 0xb8, 0, 3, 0x05, 0x00]);
  });

  it('a ptb-request is at least 88 bytes: cookie, request id, a zero reserved field, then padding; a ptb-sent is 28 bytes of id, MTU, quoted length and size', () => {
    const request = emitResponderMessage({ type: 'ptb-request', nonce: NONCE, cookie: COOKIE, requestId: 0x0a0b0c0d, padding: 40 });
    assert.equal(request.length, 128);
    assert.equal(request[5], 8);
    assert.deepEqual([...request.subarray(16, 44)], [...COOKIE, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(RESPONDER_SIZES.ptbRequest, 88);
    const sent = emitResponderMessage({ type: 'ptb-sent', nonce: NONCE, requestId: 1, reportedMtu: 65535, quotedLength: 128, packetSize: 156 });
    assert.equal(sent.length, RESPONDER_SIZES.ptbSent);
    assert.deepEqual([...sent.subarray(5, 6)], [9]);
    assert.deepEqual([...sent.subarray(16)], [0, 0, 0, 1, 0, 0, 0xff, 0xff, 0, 128, 0, 156]);
    assert.deepEqual(value(decodeResponderMessage(sent)), { type: 'ptb-sent', nonce: NONCE, requestId: 1, reportedMtu: 65535, quotedLength: 128, packetSize: 156 });
  });

  it('a quoted ptb-request is read from its first 40 bytes; a quote of another type, of less, or with a non-zero reserved field is refused', () => {
    const request = emitResponderMessage({ type: 'ptb-request', nonce: NONCE, cookie: COOKIE, requestId: 77, padding: 40 });
    assert.deepEqual(value(parseQuotedPtbRequest(request.subarray(0, 40))), { nonce: NONCE, requestId: 77 });
    assert.deepEqual(value(parseQuotedPtbRequest(request)), { nonce: NONCE, requestId: 77 });
    const e = (d: DecodeError): [string, number] => [d.field, d.offset];
    assert.deepEqual(e(error(parseQuotedPtbRequest(request.subarray(0, 39)))), ['ptb-request.quoted', 0]);
    const probe = emitResponderMessage({ type: 'probe', nonce: NONCE, cookie: COOKIE, probeId: 77, fragmentCount: 1, fragmentSize: 0, padding: 0 });
    assert.deepEqual(e(error(parseQuotedPtbRequest(probe))), ['type', 5]);
    const reserved = request.slice();
    reserved[39] = 1;
    assert.deepEqual(e(error(parseQuotedPtbRequest(reserved))), ['ptb-request.reserved', 36]);
    assert.deepEqual(e(error(ResponderMessageView.check(reserved))), ['ptb-request.reserved', 36]);
    assert.deepEqual(e(error(ResponderMessageView.check(request.subarray(0, 87)))), ['ptb-request.body', 16]);
    const sent = emitResponderMessage({ type: 'ptb-sent', nonce: NONCE, requestId: 1, reportedMtu: 65535, quotedLength: 128, packetSize: 156 });
    assert.deepEqual(e(error(ResponderMessageView.check(Uint8Array.of(...sent, 0)))), ['ptb-sent.length', 28]);
    assert.throws(() => emitResponderMessage({ type: 'ptb-request', nonce: NONCE, cookie: COOKIE, requestId: 1, padding: -1 }), RangeError);
    assert.throws(() => emitResponderMessage({ type: 'ptb-sent', nonce: NONCE, requestId: 1, reportedMtu: 1, quotedLength: 0x10000, packetSize: 1 }), RangeError);
  });

  it('a sized-reply is exactly as long as the size it carries', () => {
    const bytes = emitResponderMessage({ type: 'sized-reply', nonce: NONCE, requestId: 7, replySize: 1232 });
    assert.equal(bytes.length, 1232);
    assert.deepEqual(value(decodeResponderMessage(bytes)), { type: 'sized-reply', nonce: NONCE, requestId: 7, replySize: 1232 });
  });

  it('round-trips every message: parse(emit(m)) is m, and emit(parse(bytes)) gives the same bytes', () => {
    fc.assert(
      fc.property(arbMessage, (m) => {
        const bytes = emitResponderMessage(m);
        const parsed = value(decodeResponderMessage(bytes));
        assert.deepEqual(parsed, m);
        assert.deepEqual(emitResponderMessage(parsed), bytes);
      }),
      { numRuns: 500 },
    );
  });

  it('the view reads in place: the nonce and cookie of a probe are views into its bytes', () => {
    const bytes = emitResponderMessage({ type: 'probe', nonce: NONCE, cookie: COOKIE, probeId: 9, fragmentCount: 1, fragmentSize: 0, padding: 0 });
    const view = value(ResponderMessageView.check(bytes));
    assert.equal(view.cookie.buffer, bytes.buffer);
    assert.equal(view.cookie.byteOffset, 16);
    assert.equal(view.nonce.byteOffset, 8);
  });

  it('malformed fields are errors naming the field and its offset', () => {
    const hello = emitResponderMessage({ type: 'hello', nonce: NONCE, padding: 24 });
    const at = (mutate: (b: Uint8Array) => Uint8Array): DecodeError => {
      const copy = hello.slice();
      return error(ResponderMessageView.check(mutate(copy)));
    };
    const e = (d: DecodeError): [string, number] => [d.field, d.offset];
    assert.deepEqual(e(at((b) => b.subarray(0, 15))), ['header', 0]);
    assert.equal(at((b) => b.subarray(0, 15)).short, true);
    assert.deepEqual(e(at((b) => ((b[3] = 0x52), b))), ['magic', 0]);
    assert.match(at((b) => ((b[3] = 0x52), b)).reason, /0x4d545552, not 0x4d545550/);
    assert.deepEqual(e(at((b) => ((b[4] = 2), b))), ['version', 4]);
    assert.deepEqual(e(at((b) => ((b[5] = 0), b))), ['type', 5]);
    assert.deepEqual(e(at((b) => ((b[5] = 10), b))), ['type', 5]);
    assert.deepEqual(e(at((b) => ((b[7] = 1), b))), ['reserved', 6]);
    assert.deepEqual(e(at((b) => b.subarray(0, 39))), ['hello.padding', 39]);

    const ack = emitResponderMessage({ type: 'probe-ack', nonce: NONCE, probeId: 1, receivedLength: 40, fragmentCount: 1, fragmentSize: 0 });
    assert.deepEqual(e(error(ResponderMessageView.check(ack.subarray(0, 27)))), ['probe-ack.body', 16]);
    assert.deepEqual(e(error(ResponderMessageView.check(Uint8Array.of(...ack, 0)))), ['probe-ack.length', 28]);
    const zeroCount = ack.slice();
    zeroCount[25] = 0;
    assert.deepEqual(e(error(ResponderMessageView.check(zeroCount))), ['probe-ack.fragment_count', 24]);
    const wholeWithSize = ack.slice();
    wholeWithSize[27] = 1;
    assert.deepEqual(e(error(ResponderMessageView.check(wholeWithSize))), ['probe-ack.fragment_size', 26]);

    const request = emitResponderMessage({ type: 'size-request', nonce: NONCE, cookie: COOKIE, requestId: 1, replySize: 1232, padding: 0 });
    const tiny = request.slice();
    tiny.set([0, 0, 0, 23], 36);
    assert.deepEqual(e(error(ResponderMessageView.check(tiny))), ['size-request.reply_size', 36]);
    const huge = request.slice();
    huge.set([0, 1, 0, 0], 36);
    assert.match(error(ResponderMessageView.check(huge)).reason, /65536 is outside 24-65507/);

    const reply = emitResponderMessage({ type: 'sized-reply', nonce: NONCE, requestId: 1, replySize: 100 });
    assert.deepEqual(e(error(ResponderMessageView.check(reply.subarray(0, 99)))), ['sized-reply.reply_size', 20]);

    const err = emitResponderMessage({ type: 'error', nonce: NONCE, code: 'bad-cookie', detail: 0 });
    const badCode = err.slice();
    badCode[17] = 9;
    assert.deepEqual(e(error(ResponderMessageView.check(badCode))), ['error.code', 16]);
    const reserved = err.slice();
    reserved[23] = 1;
    assert.deepEqual(e(error(ResponderMessageView.check(reserved))), ['error.reserved', 20]);

    const cookie = emitResponderMessage({ type: 'cookie', nonce: NONCE, cookie: COOKIE, maxReplySize: 4096 });
    cookie[39] = 1;
    assert.deepEqual(e(error(ResponderMessageView.check(cookie))), ['cookie.reserved', 36]);
  });

  it('emit refuses what check would refuse: a short hello, a wrong nonce, a zero fragment count, an out-of-range size', () => {
    assert.throws(() => emitResponderMessage({ type: 'hello', nonce: NONCE, padding: 23 }), RangeError);
    assert.throws(() => emitResponderMessage({ type: 'hello', nonce: NONCE.subarray(1), padding: 24 }), RangeError);
    assert.throws(() => emitResponderMessage({ type: 'probe', nonce: NONCE, cookie: COOKIE, probeId: 1, fragmentCount: 0, fragmentSize: 0, padding: 0 }), RangeError);
    assert.throws(() => emitResponderMessage({ type: 'probe', nonce: NONCE, cookie: COOKIE, probeId: 1, fragmentCount: 2, fragmentSize: 0, padding: 0 }), RangeError);
    assert.throws(() => emitResponderMessage({ type: 'size-request', nonce: NONCE, cookie: COOKIE, requestId: 1, replySize: 65508, padding: 0 }), RangeError);
    assert.throws(() => emitResponderMessage({ type: 'sized-reply', nonce: NONCE, requestId: 1, replySize: 23 }), RangeError);
    assert.throws(() => emitResponderMessage({ type: 'cookie', nonce: NONCE, cookie: COOKIE.subarray(1), maxReplySize: 1 }), RangeError);
  });

  it('never throws on random or mutated datagrams (100,000 seeded inputs), and whatever it accepts re-emits identically', () => {
    const random = prng(14);
    const seeds = [
      emitResponderMessage({ type: 'hello', nonce: NONCE, padding: 24 }),
      emitResponderMessage({ type: 'probe', nonce: NONCE, cookie: COOKIE, probeId: 1, fragmentCount: 3, fragmentSize: 1280, padding: 100 }),
      emitResponderMessage({ type: 'size-request', nonce: NONCE, cookie: COOKIE, requestId: 2, replySize: 4096, padding: 0 }),
      emitResponderMessage({ type: 'error', nonce: NONCE, code: 'rate-limited', detail: 1 }),
      emitResponderMessage({ type: 'probe-ack', nonce: NONCE, probeId: 1, receivedLength: 40, fragmentCount: 1, fragmentSize: 0 }),
      emitResponderMessage({ type: 'cookie', nonce: NONCE, cookie: COOKIE, maxReplySize: 4096 }),
      emitResponderMessage({ type: 'ptb-request', nonce: NONCE, cookie: COOKIE, requestId: 3, padding: 40 }),
      emitResponderMessage({ type: 'ptb-sent', nonce: NONCE, requestId: 3, reportedMtu: 65535, quotedLength: 128, packetSize: 156 }),
    ];
    let accepted = 0;
    for (let i = 0; i < 100_000; i++) {
      let bytes: Uint8Array;
      if (i % 4 === 0) {
        bytes = new Uint8Array(Math.floor(random() * 64));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
      } else {
        const seed = seeds[i % seeds.length]!;
        bytes = seed.slice(0, Math.max(0, seed.length - (random() < 0.2 ? Math.floor(random() * 8) : 0)));
        const flips = 1 + Math.floor(random() * 3);
        for (let f = 0; f < flips && bytes.length > 0; f++) bytes[Math.floor(random() * Math.min(bytes.length, 48))] = Math.floor(random() * 256);
      }
      // The quote reader takes cut and mutated bytes too, and answers with a value or an error, never an exception.
      const quoted = parseQuotedPtbRequest(bytes);
      if (!quoted.ok) assert.equal(typeof quoted.error.offset, 'number');
      const decoded = decodeResponderMessage(bytes);
      if (decoded.ok) {
        accepted++;
        // Padding bytes are ignored on parse and zero on emit: compare the parsed form.
        assert.deepEqual(parseResponderMessage(value(ResponderMessageView.check(emitResponderMessage(decoded.value)))), decoded.value);
      } else {
        assert.equal(typeof decoded.error.offset, 'number');
      }
    }
    assert.ok(accepted > 1000, `only ${accepted} inputs decoded: the mutations never leave a valid message`);
  });
});
