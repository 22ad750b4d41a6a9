/**
 * Traffic for bench/checker's kernel reference: full-size (1500-byte) IPv6 TCP segments, sent at a steady rate from
 * a raw socket towards a host behind a 1280-byte link, so that the router in between answers every one of them with
 * its own ICMPv6 Packet Too Big. A raw socket because a real TCP connection would learn the path MTU from the first
 * Packet Too Big and never send a large segment again; these carry a rising sequence number, so each Packet Too Big
 * is matched to its segment exactly as the checker's are. Prints one JSON line { sent, errors } and exits.
 *
 *   node dist/bench/oversized-sender.js --src fd00:0:0:7::2 --dst fd00:0:0:8::2 --port 8080 --rate 500 --duration 5
 */
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { RawSender } from '../src/host/raw-sender.js';
import { IpProtocol } from '../src/packet/ip-protocol.js';
import { emitIpv6, IPV6_HEADER } from '../src/packet/ipv6.js';
import { emitTcp, TCP_MIN_HEADER, TcpFlag } from '../src/packet/tcp.js';

export const OVERSIZED_PACKET_BYTES = 1500;
const SOURCE_PORT = 40_000;
/** Packets go out in small bursts on a timer; 10 ms is well above timer jitter and keeps bursts short. */
const TICK_MS = 10;
/** Any mark will do; the kernel only carries it. */
const MARK = 0x6d75;

const { values } = parseArgs({
  options: {
    src: { type: 'string' },
    dst: { type: 'string' },
    port: { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string' },
  },
});
const src = values.src ?? '';
const dst = values.dst ?? '';
const port = Number(values.port);
const rate = Number(values.rate);
const durationMs = Number(values.duration) * 1000;
if (!src.includes(':') || !dst.includes(':') || !(port > 0) || !(rate > 0) || !(durationMs > 0)) {
  process.stderr.write(`oversized-sender: bad arguments: ${process.argv.slice(2).join(' ')}\n`);
  process.exit(2);
}

const payloadLength = OVERSIZED_PACKET_BYTES - IPV6_HEADER - TCP_MIN_HEADER;
const payload = new Uint8Array(payloadLength).fill(0x61);
let seq = 1;
function nextPacket(): Uint8Array {
  const tcp = emitTcp(
    { srcPort: SOURCE_PORT, dstPort: port, seq, ack: 1, flags: TcpFlag.Ack | TcpFlag.Psh, window: 502, urgentPointer: 0, options: [], payloadLength },
    payload,
    src,
    dst,
  );
  seq = (seq + payloadLength) >>> 0;
  return emitIpv6({ src, dst, nextHeader: IpProtocol.Tcp, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLength: tcp.length }, tcp);
}

let errors = 0;
const sender = RawSender.open(MARK, () => errors++);
let sent = 0;
const started = performance.now();
try {
  for (;;) {
    const elapsed = performance.now() - started;
    if (elapsed >= durationMs) break;
    // Catch up to where the rate says we should be, so that a late timer does not lower the rate.
    const due = Math.floor((elapsed / 1000) * rate) - sent;
    const batch: Promise<void>[] = [];
    for (let i = 0; i < due; i++) batch.push(sender.send(6, nextPacket(), dst).catch(() => void errors++));
    sent += Math.max(0, due);
    await Promise.all(batch);
    await delay(TICK_MS);
  }
} finally {
  sender.close();
}
process.stdout.write(`${JSON.stringify({ sent, errors })}\n`);
