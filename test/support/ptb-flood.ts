/**
 * Sends crafted ICMP "fragmentation needed" / Packet Too Big messages through a raw socket as fast as it can: the
 * hostile input of the relay's namespace tests and the load of its benchmark. Run inside a lab node only:
 *
 *   node dist/test/support/ptb-flood.js TO ROUTER COUNT KIND[,KIND...] [SERVED_SOURCE]
 *
 * TO is the served address the messages go to, ROUTER their source (a router's address), KIND one of FLOOD_KINDS,
 * used in turn. Prints one JSON line: how many of each kind were sent and how long it took.
 */
import { RawSender } from '../../src/host/raw-sender.js';
import { familyOfAddress } from '../../src/packet/ip-family.js';
import { ipPacket, offendingTcp, packetTooBig } from '../relay/relay-packets.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';

export const FLOOD_KINDS = ['forged', 'duplicate', 'bad-checksum', 'unserved-quote', 'below-minimum', 'truncated', 'not-icmp', 'outer-options'] as const;
export type FloodKind = (typeof FLOOD_KINDS)[number];

/** A served-address segment toward a client, its ports and addresses varied by `i` (a different flow each time). */
function offending(family: 4 | 6, served: string, i: number): Uint8Array {
  const bytes = offendingTcp(family, 1500, { src: served });
  const ip = family === 4 ? 20 : 40;
  // Client address's last byte and the client port vary; the TCP checksum is not checked by anyone who reads a quote.
  bytes[ip - 1] = 1 + (i % 250);
  bytes[ip + 2] = 0x80 | ((i >> 8) & 0x7f);
  bytes[ip + 3] = i & 0xff;
  return bytes;
}

export function floodMessage(kind: FloodKind, i: number, to: string, router: string): Uint8Array {
  const family = familyOfAddress(to);
  const mtu = family === 4 ? 1400 : 1400;
  switch (kind) {
    case 'forged':
      return packetTooBig({ offending: offending(family, to, i), mtu, router, to });
    case 'duplicate':
      return packetTooBig({ offending: offending(family, to, 0), mtu, router, to });
    case 'bad-checksum': {
      const m = packetTooBig({ offending: offending(family, to, i), mtu, router, to }).slice();
      const icmp = family === 4 ? 20 : 40;
      m[icmp + 2] = m[icmp + 2]! ^ 0x5a;
      return m;
    }
    case 'unserved-quote':
      return packetTooBig({ offending: offending(family, family === 4 ? '10.250.0.1' : 'fd00:250::1', i), mtu, router, to });
    case 'below-minimum':
      return packetTooBig({ offending: offending(family, to, i), mtu: family === 4 ? 60 : 1000, router, to });
    case 'truncated': {
      // The quote cut inside the quoted IP header (lengths fixed up, so only the relay's parser can tell).
      return packetTooBig({ offending: offending(family, to, i), mtu, router, to, quote: family === 4 ? 12 : 24 });
    }
    case 'not-icmp':
      return ipPacket({ src: router, dst: to, protocol: IpProtocol.Udp, payload: new Uint8Array(16) });
    case 'outer-options':
      // A valid message whose own header carries IPv4 options (three NOPs and an end) or an IPv6 destination options
      // header: the relay's kernel steering leaves such a header to user space.
      return family === 4
        ? packetTooBig({ offending: offending(family, to, i), mtu, router, to, options: new Uint8Array([1, 1, 1, 0]) })
        : packetTooBig({ offending: offending(family, to, i), mtu, router, to, extensions: [{ kind: 'destination-options', nextHeader: 0, options: [{ type: 1, data: new Uint8Array(4) }] }] });
  }
}

async function main(): Promise<void> {
  const [to, router, countText, kindsText] = process.argv.slice(2);
  const kinds = (kindsText ?? '').split(',') as FloodKind[];
  if (to === undefined || router === undefined || !/^\d+$/.test(countText ?? '') || kinds.some((k) => !FLOOD_KINDS.includes(k))) {
    process.stderr.write(`usage: ptb-flood TO ROUTER COUNT KIND[,KIND...] (kinds: ${FLOOD_KINDS.join(', ')})\n`);
    process.exit(2);
  }
  const count = Number(countText);
  const family = familyOfAddress(to);
  const sender = RawSender.open(0, (err) => process.stderr.write(`ptb-flood: ${err.message}\n`));
  const sent: Partial<Record<FloodKind, number>> = {};
  const start = performance.now();
  let errors = 0;
  for (let i = 0; i < count; i++) {
    const kind = kinds[i % kinds.length]!;
    try {
      await sender.send(family, floodMessage(kind, i, to, router), to);
      sent[kind] = (sent[kind] ?? 0) + 1;
    } catch {
      // ENOBUFS when the socket's buffer is full: wait a little and go on (counted, not retried).
      errors++;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  sender.close();
  process.stdout.write(`${JSON.stringify({ sent, errors, seconds: (performance.now() - start) / 1000 })}\n`);
}

if (process.argv[1]?.endsWith('ptb-flood.js')) await main();
