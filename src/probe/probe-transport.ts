import {
  ignoreCachedPathMtu,
  IPPROTO_RAW,
  loadRawSocket,
  openRawSocket,
  type RawSocket,
  type RawSocketModule,
  SO_MARK,
  SOL_SOCKET,
} from '../host/raw-sender.js';
import { formatIp, parseIpText } from '../packet/address.js';
import type { IpFamily } from '../packet/ip-family.js';
import { IpProtocol } from '../packet/ip-protocol.js';
import { errorMessage } from '../util/error-message.js';
import type { ReceivedPacket } from './probe-reply.js';

export type { ReceivedPacket } from './probe-reply.js';

/**
 * The prober's host layer: whole IP packets out, ICMP / ICMPv6 and TCP in, through raw sockets (npm raw-socket).
 *
 * Sending: one IPPROTO_RAW socket per family (header included, so TTL, DF, DSCP/ECN and identification leave as built)
 * with IP_MTU_DISCOVER / IPV6_MTU_DISCOVER set to PMTUDISC_PROBE: the kernel then sends anything up to the device MTU
 * whatever path MTU it has cached for the destination, so an earlier Packet Too Big (ours or anyone's) neither
 * fragments nor refuses a large probe (tracepath's known defect, iputils #448). Tested in test/probe/transport.test.ts.
 *
 * Receiving: raw sockets of protocol ICMP (IPv4; the kernel hands the IP header too, which is stripped here after its
 * TTL is read), ICMPv6 (no header), and TCP of both families (a SYN probe's SYN-ACK or RST; the kernel answers a
 * SYN-ACK with a RST of its own, since no socket of ours owns the port). No UDP receive socket: a closed UDP port
 * answers with ICMP port unreachable, which the ICMP sockets see, and an open one answers only whoever speaks its
 * protocol.
 */

/** Large enough for any IPv4 packet: the receive buffer is cut to what arrived. */
const RECEIVE_BUFFER = 65536;

export interface ProbeTransportOptions {
  /** SO_MARK on the sending sockets (a policy route or a firewall rule can then pick our probes out). */
  readonly mark?: number;
  /**
   * Leave the kernel's path MTU discovery mode as it is (the kernel's cached path MTU then applies to our probes). Only
   * for the test that proves the option matters; the prober never sets it.
   */
  readonly honourCachedPathMtu?: boolean;
  /** A socket failed after opening (it is then closed); default: remembered and thrown by the next send(). */
  readonly onError?: (err: Error) => void;
}

interface ReceiveSocket {
  readonly socket: RawSocket;
  readonly family: IpFamily;
  readonly protocol: 'icmp' | 'tcp';
}

export class ProbeTransport {
  private readonly listeners = new Set<(received: ReceivedPacket) => void>();
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    private readonly senders: Readonly<Record<IpFamily, RawSocket>>,
    private readonly receivers: readonly ReceiveSocket[],
  ) {}

  /** Opens every socket; throws an error saying CAP_NET_RAW is needed when the kernel refuses a raw socket. */
  static open(options: ProbeTransportOptions = {}): ProbeTransport {
    const raw = loadRawSocket();
    const opened: RawSocket[] = [];
    let transport: ProbeTransport | undefined;
    const onError = (err: Error): void => {
      if (options.onError !== undefined) options.onError(err);
      else if (transport !== undefined) transport.failure ??= err;
    };
    const open = (protocol: number, family: IpFamily): RawSocket => {
      const socket = openRawSocketOf(raw, protocol, family);
      opened.push(socket);
      socket.on('error', onError);
      return socket;
    };
    try {
      const sender = (family: IpFamily): RawSocket => {
        const socket = open(IPPROTO_RAW, family);
        socket.pauseRecv();
        if (options.mark !== undefined) socket.setOption(SOL_SOCKET, SO_MARK, options.mark);
        if (options.honourCachedPathMtu !== true) ignoreCachedPathMtu(socket, family);
        return socket;
      };
      const senders = { 4: sender(4), 6: sender(6) };
      const receivers: ReceiveSocket[] = [
        { socket: open(IpProtocol.Icmp, 4), family: 4, protocol: 'icmp' },
        { socket: open(IpProtocol.Icmpv6, 6), family: 6, protocol: 'icmp' },
        { socket: open(IpProtocol.Tcp, 4), family: 4, protocol: 'tcp' },
        { socket: open(IpProtocol.Tcp, 6), family: 6, protocol: 'tcp' },
      ];
      transport = new ProbeTransport(senders, receivers);
      for (const r of receivers) r.socket.on('message', (buffer, source) => transport?.deliver(r, buffer, source));
      return transport;
    } catch (err) {
      for (const s of opened) s.close();
      throw err;
    }
  }

  /**
   * Hands a whole IP packet to the kernel at once (sendto(2)). Throws the kernel's error, e.g. "Message too long" for a
   * packet above the outgoing device's MTU, or the error a socket failed with earlier.
   */
  send(family: IpFamily, packet: Uint8Array, destination: string): void {
    if (this.closed) throw new Error('the probe transport is closed');
    if (this.failure !== undefined) throw this.failure;
    const buffer = Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
    try {
      this.senders[family].wrap.send(buffer, 0, buffer.length, destination, () => undefined);
    } catch (err) {
      throw new Error(`sending a ${packet.byteLength}-byte IPv${family} probe to ${destination}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Calls `listener` with every ICMP / ICMPv6 / TCP packet received; returns the function that stops it. */
  onPacket(listener: (received: ReceivedPacket) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.senders[4].close();
    this.senders[6].close();
    for (const r of this.receivers) r.socket.close();
  }

  private deliver(r: ReceiveSocket, buffer: Buffer, source: string): void {
    const receivedAtMs = performance.now();
    if (this.listeners.size === 0) return;
    // The socket reuses its buffer for the next packet: keep a copy.
    let payload: Uint8Array;
    let ttl: number | undefined;
    if (r.family === 4) {
      // IPv4 raw sockets deliver the IP header too.
      if (buffer.length < 20) return;
      const headerLength = (buffer[0]! & 0x0f) * 4;
      if (headerLength < 20 || headerLength > buffer.length) return;
      ttl = buffer[8];
      payload = Uint8Array.prototype.slice.call(buffer, headerLength);
    } else {
      payload = Uint8Array.prototype.slice.call(buffer);
    }
    // One spelling of every address (the codecs' formatter), so that it compares equal to the addresses of our flows.
    const bytes = parseIpText(source);
    const received: ReceivedPacket = { family: r.family, protocol: r.protocol, source: bytes === undefined ? source : formatIp(bytes), payload, receivedAtMs, ...(ttl === undefined ? {} : { ttl }) };
    for (const listener of [...this.listeners]) listener(received);
  }
}

function openRawSocketOf(raw: RawSocketModule, protocol: number, family: IpFamily): RawSocket {
  const addressFamily = family === 4 ? raw.AddressFamily.IPv4 : raw.AddressFamily.IPv6;
  return openRawSocket(raw, protocol, addressFamily, protocol === IPPROTO_RAW ? undefined : RECEIVE_BUFFER);
}
