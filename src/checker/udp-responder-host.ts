/**
 * The UDP responder on the host: one dgram socket per address the service serves on (the same port number as HTTP),
 * each handing its datagrams to the one UdpResponder (udp-responder.ts) and sending its answers back from the address
 * the datagram came to.
 *
 * A wildcard listen address (0.0.0.0, ::) is served by one socket per address of that family on the host's
 * interfaces (link-local IPv6 addresses excepted): a socket bound to the wildcard answers from whatever source address
 * the route prefers, which a client's connected socket would not accept from another address than the one it asked.
 * Addresses added to the host later are not served until a restart.
 *
 * Large replies: the kernel fragments them. Linux UDP sockets start with IP_PMTUDISC_WANT / IPV6_PMTUDISC_WANT: an IPv4
 * reply that fits the path MTU the kernel knows leaves whole with DF set, a larger one leaves as fragments with DF
 * clear, which routers may fragment further; an IPv6 reply larger than the known path MTU leaves as fragments with a
 * Fragment header (routers never fragment IPv6), and a Packet Too Big lowers the size for the next one. Node cannot
 * change these (no IP_MTU_DISCOVER in dgram).
 *
 * Packet Too Big on request: the responder's ICMP messages leave through a RawSender (raw IPPROTO_RAW sockets, CAP_NET_RAW,
 * which `mtuscope serve` has for its engine anyway), carrying the engine's firewall mark. When the sockets cannot be
 * opened, the responder answers every ptb-request with ptb-unavailable and says so once in the log.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { RawSender } from '../host/raw-sender.js';
import type { IpFamily } from '../packet/ip-family.js';
import { errorMessage } from '../util/error-message.js';
import { type PacketTooBigSink, UdpResponder, type UdpResponderSettings } from './udp-responder.js';

const SWEEP_MS = 10_000;

/** `::ffff:10.0.0.1` → `10.0.0.1`. */
function plain(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** The addresses a listen address stands for: itself, or for a wildcard every interface address of its family. */
export function udpBindAddresses(listen: string, interfaces: () => readonly { address: string; family: string | number }[] = allInterfaceAddresses): string[] {
  if (listen !== '0.0.0.0' && listen !== '::') return [listen];
  const family = listen === '::' ? 6 : 4;
  return interfaces()
    .filter((i) => isIP(i.address) === family && !i.address.toLowerCase().startsWith('fe80:'))
    .map((i) => i.address);
}

function allInterfaceAddresses(): { address: string; family: string | number }[] {
  return Object.values(networkInterfaces()).flatMap((list) => list ?? []);
}

export interface UdpResponderHostOptions {
  /** SO_MARK of the Packet Too Big it sends (the engine's mark, which its OUTPUT rule skips). */
  readonly mark?: number;
  /** Send Packet Too Big on request (default true); false answers ptb-unavailable without opening raw sockets. */
  readonly packetTooBig?: boolean;
}

export class UdpResponderHost {
  readonly responder: UdpResponder;
  private readonly sockets: Socket[] = [];
  private readonly sweep: NodeJS.Timeout;
  private readonly raw: RawSender | undefined;

  constructor(
    settings: UdpResponderSettings,
    private readonly log: (line: string) => void,
    options: UdpResponderHostOptions = {},
  ) {
    this.raw = options.packetTooBig === false ? undefined : this.openRaw(options.mark ?? 0);
    const raw = this.raw;
    const sink: PacketTooBigSink | undefined =
      raw === undefined
        ? undefined
        : (family, packet, destination) => {
            // RawSender.send calls sendto(2) at once and reports a refusal through the promise, after this returns:
            // the log says so.
            raw.send(family, packet, destination).catch((err: unknown) => this.log(`UDP responder: a Packet Too Big to ${destination} failed: ${errorMessage(err)}`));
            return true;
          };
    this.responder = new UdpResponder(settings, randomBytes(32), Date.now(), sink);
    this.sweep = setInterval(() => this.responder.sweep(Date.now()), SWEEP_MS);
    this.sweep.unref();
  }

  private openRaw(mark: number): RawSender | undefined {
    try {
      return RawSender.open(mark, (err) => this.log(`UDP responder: raw socket: ${errorMessage(err)}`));
    } catch (err) {
      this.log(`UDP responder: no Packet Too Big on request (ptb-unavailable): ${errorMessage(err)}`);
      return undefined;
    }
  }

  /** Binds the sockets for one listen address; resolves with the addresses now answered on. */
  async listen(listenAddress: string, port: number): Promise<string[]> {
    const bound: string[] = [];
    for (const address of udpBindAddresses(listenAddress)) {
      const family: IpFamily = isIP(address) === 6 ? 6 : 4;
      const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind({ address, port, exclusive: true }, () => {
            socket.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        socket.close();
        throw new Error(`cannot answer UDP on [${address}]:${port}: ${errorMessage(err)}`, { cause: err });
      }
      socket.on('error', (err) => this.log(`UDP socket [${address}]:${port}: ${errorMessage(err)}`));
      socket.on('message', (bytes, rinfo) => {
        const answer = this.responder.answer({ bytes, family, address: plain(rinfo.address), port: rinfo.port, localAddress: address, localPort: port }, Date.now());
        if (answer !== undefined) socket.send(answer, rinfo.port, rinfo.address);
      });
      this.sockets.push(socket);
      bound.push(address);
    }
    return bound;
  }

  close(): Promise<void> {
    clearInterval(this.sweep);
    this.raw?.close();
    return Promise.all(this.sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined);
  }
}
