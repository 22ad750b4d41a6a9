/**
 * Pings with a chosen packet size and DF policy. With DF (`-M do`) a packet larger than the path draws ICMP
 * "fragmentation needed" / Packet Too Big from the router that cannot forward it (when that ICMP gets through), or a
 * local "message too long" once the kernel has cached the smaller path MTU.
 */
import { familyOfAddress, type IpFamily } from '../../packet/ip-family.js';
import type { LabNodes } from './lab-nodes.js';

export interface PingRequest {
  readonly node: string;
  readonly address: string;
  /** Whole IP packet size (header included); 1500 means a full-size packet. */
  readonly packetBytes: number;
  /** Set DF (IPv6: never fragment locally). Default true. */
  readonly df?: boolean;
  readonly count?: number;
  /** Per-reply wait, seconds. */
  readonly waitS?: number;
}

export interface PingResult {
  readonly node: string;
  readonly address: string;
  readonly family: IpFamily;
  readonly packetBytes: number;
  readonly df: boolean;
  readonly sent: number;
  readonly received: number;
  /** MTU carried by an ICMP "fragmentation needed" / Packet Too Big that reached the sender. */
  readonly icmpMtu?: number;
  /** Router that sent it. */
  readonly icmpFrom?: string;
  /** MTU of a local "message too long" error (path MTU already cached). */
  readonly localMtu?: number;
}

const IPV4_ICMP_HEADERS = 28;
const IPV6_ICMP_HEADERS = 48;

export function parsePing(output: string): { sent: number; received: number; icmpMtu?: number; icmpFrom?: string; localMtu?: number } {
  const stats = /(\d+) packets transmitted, (\d+) received/.exec(output);
  const icmp = /From (\S+?):? icmp_seq=\d+ (?:Frag needed and DF set \(mtu = (\d+)\)|Packet too big: mtu=(\d+))/.exec(output);
  const local = /message too long, mtu[= ]+(\d+)/.exec(output);
  return {
    sent: Number(stats?.[1] ?? 0),
    received: Number(stats?.[2] ?? 0),
    ...(icmp ? { icmpFrom: icmp[1]!, icmpMtu: Number(icmp[2] ?? icmp[3]) } : {}),
    ...(local ? { localMtu: Number(local[1]) } : {}),
  };
}

export async function ping(lab: LabNodes, request: PingRequest): Promise<PingResult> {
  const family = familyOfAddress(request.address);
  const df = request.df ?? true;
  const count = request.count ?? 2;
  const wait = request.waitS ?? 1;
  const payload = request.packetBytes - (family === 6 ? IPV6_ICMP_HEADERS : IPV4_ICMP_HEADERS);
  const argv = [
    'ping', `-${family}`, '-n', '-c', String(count), '-i', '0.2', '-W', String(wait),
    '-M', df ? 'do' : 'dont', '-s', String(payload), request.address,
  ];
  const r = await lab.exec(request.node, argv, { timeoutMs: (count * wait + 5) * 1000 });
  return { node: request.node, address: request.address, family, packetBytes: request.packetBytes, df, ...parsePing(`${r.stdout}\n${r.stderr}`) };
}
