/**
 * Puts hand-made IP packets on a lab link. Node has no raw sockets, so a short python3 program inside the sending node
 * opens an AF_PACKET socket bound to one interface and writes whole Ethernet frames; the kernel on the other end of the
 * veth receives them as if a NIC had, and runs its own IP input (reassembly included) on them. Only lab namespaces are
 * ever used: the program runs through RunningLab.exec, inside the node.
 */
import { put32 } from '../../src/packet/bytes.js';
import { emitEthernet } from '../../src/packet/ethernet.js';
import { EtherType } from '../../src/packet/ip-protocol.js';
import type { RunningLab } from '../../src/lab/running-lab.js';

/**
 * Reads frames as 4-byte big-endian length + bytes from stdin and sends each on the interface named by argv[1], at
 * most argv[2] frames a second if given (floods: unpaced, the receiving kernel's backlog would drop most of them);
 * prints how many it sent. A short send is an error: a frame cut by the kernel would make the test meaningless.
 */
const INJECT_PY = `
import socket, struct, sys, time
ifname = sys.argv[1]
rate = float(sys.argv[2]) if len(sys.argv) > 2 else 0
data = sys.stdin.buffer.read()
start = time.monotonic()
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
i = 0
n = 0
while i < len(data):
    (length,) = struct.unpack_from('>I', data, i)
    i += 4
    frame = data[i:i + length]
    i += length
    sent = s.send(frame)
    if sent != length:
        sys.exit('short send: %d of %d bytes' % (sent, length))
    n += 1
    if rate > 0 and n % 50 == 0:
        ahead = start + n / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
print(n)
`;

/** The MAC address of a node's interface, as `ip -j link show` reports it. */
export async function macAddress(lab: RunningLab, node: string, ifname: string): Promise<string> {
  const r = await lab.mustExec(node, ['ip', '-j', 'link', 'show', 'dev', ifname]);
  const links = JSON.parse(r.stdout) as { address?: unknown }[];
  const mac = links[0]?.address;
  if (typeof mac !== 'string') throw new Error(`node ${node}: no MAC address for ${ifname} in ${r.stdout}`);
  return mac;
}

export interface LinkEnds {
  readonly node: string;
  readonly ifname: string;
  readonly peerNode: string;
  readonly peerIfname: string;
}

/** Frames from `from` to `to` on one veth: source and destination MACs read from the interfaces themselves. */
export class RawInjector {
  private constructor(
    private readonly lab: RunningLab,
    private readonly ends: LinkEnds,
    readonly srcMac: string,
    readonly dstMac: string,
  ) {}

  static async open(lab: RunningLab, ends: LinkEnds): Promise<RawInjector> {
    const [src, dst] = await Promise.all([macAddress(lab, ends.node, ends.ifname), macAddress(lab, ends.peerNode, ends.peerIfname)]);
    return new RawInjector(lab, ends, src, dst);
  }

  /** Wraps each IP packet (IPv4 or IPv6, told by its version nibble) in an Ethernet header for the peer. */
  frames(packets: readonly Uint8Array[]): Uint8Array[] {
    return packets.map((p) => {
      const version = p.length > 0 ? p[0]! >> 4 : 0;
      if (version !== 4 && version !== 6) throw new RangeError(`not an IP packet (version ${version})`);
      return emitEthernet({ dst: this.dstMac, src: this.srcMac, vlans: [], etherType: version === 4 ? EtherType.Ipv4 : EtherType.Ipv6 }, p);
    });
  }

  /**
   * Sends the packets in the order given, as Ethernet frames, in one python3 run (at most `perSecond` frames a second
   * when given); resolves once all are sent.
   */
  async send(packets: readonly Uint8Array[], perSecond?: number): Promise<void> {
    const frames = this.frames(packets);
    let total = 0;
    for (const f of frames) total += 4 + f.length;
    const input = new Uint8Array(total);
    let o = 0;
    for (const f of frames) {
      put32(input, o, f.length);
      input.set(f, o + 4);
      o += 4 + f.length;
    }
    const r = await this.lab.mustExec(this.ends.node, ['python3', '-c', INJECT_PY, this.ends.ifname, ...(perSecond === undefined ? [] : [String(perSecond)])], { input, timeoutMs: 20_000 });
    if (r.stdout.trim() !== String(frames.length)) throw new Error(`raw inject sent ${r.stdout.trim()} of ${frames.length} frames: ${r.stderr}`);
  }
}
