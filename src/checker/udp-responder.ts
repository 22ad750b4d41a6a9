/**
 * The UDP responder's decisions: what `mtuscope serve` answers to one datagram on its port (the protocol:
 * src/packet/responder-message.ts and docs/probe.md). No socket here: a datagram, its source and the time come in, the
 * answer (or nothing) goes out, so the rules are tested with exact bytes and a hand-moved clock
 * (test/checker/udp-responder.test.ts); udp-responder-host.ts binds it to dgram sockets.
 *
 * Amplification and spoofing: an answer to a source that has not proved it receives (no valid cookie) is never larger
 * than the datagram it answers: a hello (at least 40 bytes) gets a 40-byte cookie, anything else a 24-byte error or a
 * 28-byte probe-ack. Only a request carrying the cookie this server gave to that very address and port within the
 * last one to two cookie slots gets a reply larger than itself (sized-reply), one reply per request, at most
 * `maxReplySize` bytes, and only within the address's byte budget. Every answer also takes a token from the answer
 * rate limits, per client (an IPv6 client is its prefix) and in total; a datagram over them is dropped unanswered.
 * Messages only servers send (cookie, probe-ack, sized-reply, error, ptb-sent) are never answered, so that two
 * responders made to talk to each other by a forged source cannot start a loop.
 *
 * A ptb-request with a valid cookie gets an ICMP "fragmentation needed" / Packet Too Big through the injected sink (a
 * raw socket on the host), quoting the request and never larger than it (packet-too-big.ts, echoedPacketTooBig), then
 * a 28-byte ptb-sent over UDP as the control; the Packet Too Big takes an answer token and its bytes from the byte
 * budget like a sized-reply. Without a sink (no raw socket) the answer is the error ptb-unavailable.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { clientKeyFor } from '../engine/client-key.js';
import type { RateLimits } from '../engine/engine-settings.js';
import { ipBytes } from '../packet/address.js';
import type { IpFamily } from '../packet/ip-family.js';
import { ECHOED_PTB_MTU, echoedPacketTooBig } from '../packet/packet-too-big.js';
import {
  emitResponderMessage,
  RESPONDER_COOKIE,
  RESPONDER_NONCE,
  RESPONDER_SIZES,
  RESPONDER_VERSION,
  type ResponderErrorCode,
  type ResponderMessage,
  ResponderMessageView,
  parseResponderMessage,
} from '../packet/responder-message.js';
import { ClientRateLimiter } from '../util/rate-limiter.js';

export interface UdpResponderSettings {
  /** The largest sized-reply (UDP payload bytes) one request gets. */
  readonly maxReplySize: number;
  /** Answers (of any type) per second, per client and in total. */
  readonly answerRate: RateLimits;
  /** Bytes of sized-replies per second, per client and in total. */
  readonly replyByteRate: RateLimits;
  /** A cookie is good in the slot it was made in and the next one: between one and two slots. */
  readonly cookieSlotMs: number;
  /** Per-client limits count an IPv6 client by its prefix of this length. */
  readonly ipv6ClientPrefix: number;
}

export const DEFAULT_UDP_RESPONDER_SETTINGS: Omit<UdpResponderSettings, 'ipv6ClientPrefix'> = {
  maxReplySize: 4096,
  answerRate: { perClient: { perSecond: 20, burst: 40 }, global: { perSecond: 2000, burst: 4000 } },
  replyByteRate: { perClient: { perSecond: 32768, burst: 65536 }, global: { perSecond: 4 << 20, burst: 8 << 20 } },
  cookieSlotMs: 60_000,
};

/** One datagram as the socket received it. */
export interface ReceivedDatagram {
  readonly bytes: Uint8Array;
  readonly family: IpFamily;
  /** The source address (plain IPv4 for an IPv4 source) and port. */
  readonly address: string;
  readonly port: number;
  /** The address and port it was sent to (this server's); needed to answer a ptb-request. */
  readonly localAddress?: string;
  readonly localPort?: number;
}

/**
 * Sends a whole IP packet (an ICMP error this responder built) to `destination`; false when it could not (no raw
 * socket, or the kernel refused it).
 */
export type PacketTooBigSink = (family: IpFamily, packet: Uint8Array, destination: string) => boolean;

/** What the responder counted since it started; /metrics shows each as `mtuscope_udp_<name>_total`. */
export interface UdpResponderCounters {
  datagrams: number;
  bytesReceived: number;
  /** Not ours: shorter than a header or another magic. Never answered. */
  ignored: number;
  /** Ours but malformed (answered with an error when the datagram is at least as large as the error). */
  malformed: number;
  /** Messages only servers send, arriving at this server: never answered. */
  serverMessages: number;
  cookiesSent: number;
  badCookies: number;
  probesAcknowledged: number;
  sizedReplies: number;
  sizedReplyBytes: number;
  tooLarge: number;
  /** Datagrams left unanswered because the answer rate limits held them back. */
  answerRateLimited: number;
  /** Size requests refused because the byte budget was spent. */
  byteRateLimited: number;
  /** Packet Too Big sent on request (ptb-request), and their bytes on the wire. */
  packetTooBigSent: number;
  packetTooBigBytes: number;
  /** ptb-requests answered with ptb-unavailable (no raw socket, or the send failed). */
  packetTooBigUnavailable: number;
  answers: number;
  bytesSent: number;
}

function zeroCounters(): UdpResponderCounters {
  return {
    datagrams: 0,
    bytesReceived: 0,
    ignored: 0,
    malformed: 0,
    serverMessages: 0,
    cookiesSent: 0,
    badCookies: 0,
    probesAcknowledged: 0,
    sizedReplies: 0,
    sizedReplyBytes: 0,
    tooLarge: 0,
    answerRateLimited: 0,
    byteRateLimited: 0,
    packetTooBigSent: 0,
    packetTooBigBytes: 0,
    packetTooBigUnavailable: 0,
    answers: 0,
    bytesSent: 0,
  };
}

export class UdpResponder {
  readonly counters = zeroCounters();
  private readonly answers: ClientRateLimiter;
  private readonly replyBytes: ClientRateLimiter;
  private ptbIdent = 0;

  /**
   * `secret`: at least 16 random bytes, made once per process (a restart invalidates the cookies). `packetTooBig`: where
   * the Packet Too Big a ptb-request asks for goes (none: ptb-requests get ptb-unavailable).
   */
  constructor(
    private readonly settings: UdpResponderSettings,
    private readonly secret: Uint8Array,
    nowMs: number,
    private readonly packetTooBig?: PacketTooBigSink,
  ) {
    if (secret.length < 16) throw new RangeError(`a cookie secret of ${secret.length} bytes is too short (16 at least)`);
    const clientOf = clientKeyFor(settings.ipv6ClientPrefix);
    this.answers = new ClientRateLimiter(settings.answerRate.perClient, settings.answerRate.global, nowMs, 65536, clientOf);
    this.replyBytes = new ClientRateLimiter(settings.replyByteRate.perClient, settings.replyByteRate.global, nowMs, 65536, clientOf);
  }

  /** The cookie for this source and nonce in the slot of `nowMs` (slot offset 0) or the one before (-1). */
  cookie(d: Pick<ReceivedDatagram, 'family' | 'address' | 'port'>, nonce: Uint8Array, nowMs: number, slotOffset = 0): Uint8Array {
    const slot = Math.floor(nowMs / this.settings.cookieSlotMs) + slotOffset;
    const head = new Uint8Array(8);
    const view = new DataView(head.buffer);
    view.setUint32(0, slot >>> 0);
    view.setUint8(4, d.family);
    view.setUint16(6, d.port);
    const mac = createHmac('sha256', this.secret).update(head).update(ipBytes(d.address, d.family)).update(nonce).digest();
    return new Uint8Array(mac.buffer, mac.byteOffset, RESPONDER_COOKIE);
  }

  private cookieValid(d: ReceivedDatagram, nonce: Uint8Array, cookie: Uint8Array, nowMs: number): boolean {
    for (const offset of [0, -1]) {
      if (timingSafeEqual(this.cookie(d, nonce, nowMs, offset), cookie)) return true;
    }
    return false;
  }

  /** The answer to one datagram, or undefined for none. */
  answer(d: ReceivedDatagram, nowMs: number): Uint8Array | undefined {
    const c = this.counters;
    c.datagrams++;
    c.bytesReceived += d.bytes.length;
    const checked = ResponderMessageView.check(d.bytes);
    if (!checked.ok) {
      if (checked.error.field === 'header' || checked.error.field === 'magic') {
        c.ignored++;
        return undefined;
      }
      c.malformed++;
      const nonce = d.bytes.slice(8, 8 + RESPONDER_NONCE);
      if (checked.error.field === 'version') return this.error(d, nonce, 'unsupported-version', RESPONDER_VERSION, nowMs);
      return this.error(d, nonce, 'malformed', Math.min(checked.error.offset, 0xffff), nowMs);
    }
    const m = parseResponderMessage(checked.value);
    switch (m.type) {
      case 'hello':
        return this.send(d, { type: 'cookie', nonce: m.nonce, cookie: this.cookie(d, m.nonce, nowMs), maxReplySize: this.settings.maxReplySize }, nowMs, () => c.cookiesSent++);
      case 'probe':
        if (!this.cookieValid(d, m.nonce, m.cookie, nowMs)) return this.badCookie(d, m.nonce, nowMs);
        return this.send(
          d,
          { type: 'probe-ack', nonce: m.nonce, probeId: m.probeId, receivedLength: d.bytes.length, fragmentCount: m.fragmentCount, fragmentSize: m.fragmentSize },
          nowMs,
          () => c.probesAcknowledged++,
        );
      case 'size-request': {
        if (!this.cookieValid(d, m.nonce, m.cookie, nowMs)) return this.badCookie(d, m.nonce, nowMs);
        if (m.replySize > this.settings.maxReplySize) {
          c.tooLarge++;
          return this.error(d, m.nonce, 'reply-too-large', Math.min(this.settings.maxReplySize, 0xffff), nowMs);
        }
        if (!this.replyBytes.take(d.address, nowMs, m.replySize)) {
          c.byteRateLimited++;
          return this.error(d, m.nonce, 'rate-limited', Math.max(1, Math.ceil(m.replySize / this.settings.replyByteRate.perClient.perSecond)), nowMs);
        }
        return this.send(d, { type: 'sized-reply', nonce: m.nonce, requestId: m.requestId, replySize: m.replySize }, nowMs, () => {
          c.sizedReplies++;
          c.sizedReplyBytes += m.replySize;
        });
      }
      case 'ptb-request':
        if (!this.cookieValid(d, m.nonce, m.cookie, nowMs)) return this.badCookie(d, m.nonce, nowMs);
        return this.sendPacketTooBig(d, m.nonce, m.requestId, nowMs);
      default:
        c.serverMessages++;
        return undefined;
    }
  }

  /**
   * The Packet Too Big through the sink, then the ptb-sent control as the answer: two answers, so two tokens of the
   * answer limits, taken together before anything is sent; the Packet Too Big's bytes come from the byte budget as a
   * sized-reply's do. A refusal after the tokens were taken (byte budget, sink) is answered with an error on them.
   */
  private sendPacketTooBig(d: ReceivedDatagram, nonce: Uint8Array, requestId: number, nowMs: number): Uint8Array | undefined {
    const c = this.counters;
    const sink = this.packetTooBig;
    if (sink === undefined || d.localAddress === undefined || d.localPort === undefined) {
      c.packetTooBigUnavailable++;
      return this.error(d, nonce, 'ptb-unavailable', 0, nowMs);
    }
    if (!this.answers.take(d.address, nowMs, 2)) return this.answerLimited();
    this.ptbIdent = (this.ptbIdent + 1) & 0xffff;
    const ptb = echoedPacketTooBig({ family: d.family, client: d.address, clientPort: d.port, server: d.localAddress, serverPort: d.localPort, payload: d.bytes }, this.ptbIdent);
    // Kept as the rule itself (the quote is sized so that this cannot happen): never more bytes than the request.
    if (ptb.packet.length > (d.family === 4 ? 28 : 48) + d.bytes.length) return undefined;
    if (!this.replyBytes.take(d.address, nowMs, ptb.packet.length)) {
      c.byteRateLimited++;
      return this.emitAnswer(d, { type: 'error', nonce, code: 'rate-limited', detail: 1 }, () => undefined);
    }
    if (!sink(d.family, ptb.packet, d.address)) {
      c.packetTooBigUnavailable++;
      return this.emitAnswer(d, { type: 'error', nonce, code: 'ptb-unavailable', detail: 0 }, () => undefined);
    }
    c.packetTooBigSent++;
    c.packetTooBigBytes += ptb.packet.length;
    c.answers++;
    return this.emitAnswer(d, { type: 'ptb-sent', nonce, requestId, reportedMtu: ECHOED_PTB_MTU, quotedLength: ptb.quotedLength, packetSize: ptb.packet.length }, () => undefined);
  }

  private badCookie(d: ReceivedDatagram, nonce: Uint8Array, nowMs: number): Uint8Array | undefined {
    this.counters.badCookies++;
    return this.error(d, nonce, 'bad-cookie', 0, nowMs);
  }

  private error(d: ReceivedDatagram, nonce: Uint8Array, code: ResponderErrorCode, detail: number, nowMs: number): Uint8Array | undefined {
    // Never larger than what came in: a datagram shorter than an error gets nothing.
    if (d.bytes.length < RESPONDER_SIZES.error || nonce.length !== RESPONDER_NONCE) return undefined;
    return this.send(d, { type: 'error', nonce, code, detail }, nowMs, () => undefined);
  }

  private answerLimited(): undefined {
    this.counters.answerRateLimited++;
    return undefined;
  }

  private send(d: ReceivedDatagram, m: ResponderMessage, nowMs: number, count: () => void): Uint8Array | undefined {
    if (!this.answers.take(d.address, nowMs)) return this.answerLimited();
    return this.emitAnswer(d, m, count);
  }

  /** The answer's bytes, counted; its answer token is already taken. */
  private emitAnswer(d: ReceivedDatagram, m: ResponderMessage, count: () => void): Uint8Array | undefined {
    const bytes = emitResponderMessage(m);
    if (m.type !== 'sized-reply' && bytes.length > d.bytes.length) {
      // Unreachable by the sizes of the protocol; kept as the rule itself, so that a later message type cannot break it.
      return undefined;
    }
    count();
    this.counters.answers++;
    this.counters.bytesSent += bytes.length;
    return bytes;
  }

  /** Forgets idle clients' buckets (call now and then). */
  sweep(nowMs: number): void {
    this.answers.sweep(nowMs);
    this.replyBytes.sweep(nowMs);
  }
}
