/**
 * The bounded-memory input of bench/analyze: a capture in which every packet starts a new flow, alternately a TCP SYN
 * (with an MSS option, so that every SYN-keyed table takes an entry) and a UDP datagram, over IPv4 from ever new
 * source addresses and ports in 10.0.0.0/8 to a few servers. Checksums are valid; one packet per millisecond of
 * capture time. What it measures: the analyzer's tables fill to their limits and then evict, and memory stays flat.
 */
import { openCaptureWriter } from '../src/capture/writer.js';
import { emitEthernet } from '../src/packet/ethernet.js';
import { EtherType, IpProtocol } from '../src/packet/ip-protocol.js';
import { emitIpv4 } from '../src/packet/ipv4.js';
import { LinkType } from '../src/packet/link-type.js';
import { emitTcp, TcpFlag } from '../src/packet/tcp.js';
import { emitUdp } from '../src/packet/udp.js';

const SERVERS = ['10.200.0.1', '10.200.0.2', '10.200.0.3', '10.200.0.4'];
const EMPTY = new Uint8Array(0);
const UDP_PAYLOAD = new Uint8Array(64).fill(0x61);

/** The source address and port of flow `n`: a new pair for each n up to 2^32. */
function client(n: number): { src: string; port: number } {
  const host = Math.floor(n / 28_000) + 1;
  return { src: `10.${(host >> 16) & 0xff}.${(host >> 8) & 0xff}.${host & 0xff}`, port: 32768 + (n % 28_000) };
}

/** Ethernet frame of flow `n`: a SYN for even n, a UDP datagram for odd n. */
export function uniqueFlowFrame(n: number): Uint8Array {
  const { src, port } = client(n);
  const dst = SERVERS[n % SERVERS.length]!;
  const tcp = n % 2 === 0;
  const transport = tcp
    ? emitTcp({ srcPort: port, dstPort: 443, seq: Math.imul(n, 2_654_435_761) >>> 0, ack: 0, flags: TcpFlag.Syn, window: 64240, urgentPointer: 0, options: [{ kind: 'mss', value: 1460 }], payloadLength: 0 }, EMPTY, src, dst)
    : emitUdp({ srcPort: port, dstPort: 5000, payloadLength: UDP_PAYLOAD.length }, UDP_PAYLOAD, src, dst);
  const ip = emitIpv4(
    { src, dst, protocol: tcp ? IpProtocol.Tcp : IpProtocol.Udp, ttl: 64, dscp: 0, ecn: 0, ident: n & 0xffff, reservedFlag: false, dontFragment: true, moreFragments: false, fragmentOffset: 0, options: EMPTY, payloadLength: transport.length },
    transport,
  );
  return emitEthernet({ dst: '02:00:00:00:00:02', src: '02:00:00:00:00:01', vlans: [], etherType: EtherType.Ipv4 }, ip);
}

/** Writes `count` packets, each a new flow, to `path` (pcap, Ethernet). */
export async function writeUniqueFlows(path: string, count: number): Promise<void> {
  const w = openCaptureWriter(path, { format: 'pcap', linkType: LinkType.Ethernet, nanoseconds: true });
  const start = 1_700_000_000_000_000_000n;
  for (let n = 0; n < count; n++) {
    const data = uniqueFlowFrame(n);
    await w.write({ timestampNs: start + BigInt(n) * 1_000_000n, data, originalLength: data.length });
  }
  await w.close();
}
