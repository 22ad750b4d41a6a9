import { createRequire } from 'node:module';
import type { IpFamily } from '../packet/ip-family.js';
import { errorMessage } from '../util/error-message.js';

/** The binding under raw-socket's queueing wrapper: its send() calls sendto(2) at once and the callback before returning. */
export interface RawSocketWrap {
  send(buffer: Buffer, offset: number, length: number, address: string, after: (bytes: number) => void): void;
}

/** The part of npm raw-socket's Socket mtuscope uses. 'message' hands a view into a buffer the socket reuses. */
export interface RawSocket {
  readonly wrap: RawSocketWrap;
  send(buffer: Buffer, offset: number, length: number, address: string, after: (error: Error | null, bytes: number) => void): void;
  setOption(level: number, option: number, value: number): void;
  pauseRecv(): void;
  close(): void;
  on(event: 'error', listener: (err: Error) => void): void;
  on(event: 'message', listener: (buffer: Buffer, source: string) => void): void;
}

export interface RawSocketModule {
  createSocket(options: { protocol: number; addressFamily: number; bufferSize?: number }): RawSocket;
  readonly AddressFamily: { readonly IPv4: number; readonly IPv6: number };
}

export const IPPROTO_RAW = 255;
export const SOL_SOCKET = 1;
export const SO_MARK = 36;

/** npm raw-socket, loaded on first use (a native module only the commands that send crafted packets need). */
export function loadRawSocket(): RawSocketModule {
  return createRequire(import.meta.url)('raw-socket') as RawSocketModule;
}

/** A raw socket of `protocol` (`bufferSize`: the receive buffer, default 4096), or an error that says CAP_NET_RAW is needed. */
export function openRawSocket(raw: RawSocketModule, protocol: number, addressFamily: number, bufferSize?: number): RawSocket {
  try {
    return raw.createSocket({ protocol, addressFamily, ...(bufferSize === undefined ? {} : { bufferSize }) });
  } catch (err) {
    throw new Error(`cannot open a raw socket (needs CAP_NET_RAW): ${errorMessage(err)}`, { cause: err });
  }
}

const IPPROTO_IP = 0;
const IP_MTU_DISCOVER = 10;
const IP_PMTUDISC_PROBE = 3;
const IPPROTO_IPV6 = 41;
const IPV6_MTU_DISCOVER = 23;
const IPV6_PMTUDISC_PROBE = 3;

/**
 * Makes a sending raw socket size packets by the interface's MTU alone (IP_PMTUDISC_PROBE / IPV6_PMTUDISC_PROBE): the
 * path MTU the kernel has cached for the destination (one a Packet Too Big lowered, e.g. the checker's /icmp test) then
 * neither refuses a crafted DF packet nor fragments a crafted DF-clear one into fragments its builder never made.
 */
export function ignoreCachedPathMtu(socket: RawSocket, family: IpFamily): void {
  if (family === 4) socket.setOption(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE);
  else socket.setOption(IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE);
}

/**
 * Sends whole IP packets (header included) through raw sockets. IPPROTO_RAW implies "header included" for both
 * families on Linux, so ICMP errors and fragments leave exactly as built. Every packet carries `mark`, which the
 * engine's OUTPUT rule skips, so our own packets are never queued back to us.
 */
export class RawSender {
  private readonly marks: { 4: number; 6: number };

  private constructor(
    private readonly v4: RawSocket,
    private readonly v6: RawSocket,
    mark: number,
  ) {
    this.marks = { 4: mark, 6: mark };
  }

  static open(mark: number, onError: (err: Error) => void): RawSender {
    const raw = loadRawSocket();
    const make = (addressFamily: number): RawSocket => {
      const socket = openRawSocket(raw, IPPROTO_RAW, addressFamily);
      socket.on('error', onError);
      socket.pauseRecv();
      socket.setOption(SOL_SOCKET, SO_MARK, mark);
      return socket;
    };
    return new RawSender(make(raw.AddressFamily.IPv4), make(raw.AddressFamily.IPv6), mark);
  }

  /**
   * Hands the packet to the kernel at once (sendto(2) on the raw socket, which does not block for IP_HDRINCL packets
   * unless the send buffer is full): raw-socket's own send() would wait for the next turn of the event loop, and a
   * Packet Too Big is worth most when it leaves right behind the packet it answers. Rejects with the kernel's error.
   */
  send(family: IpFamily, packet: Uint8Array, destination: string, mark?: number): Promise<void> {
    const socket = family === 4 ? this.v4 : this.v6;
    const buffer = Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
    try {
      // A different mark picks a different policy route (the relay sends one copy per next hop this way).
      if (mark !== undefined && mark !== this.marks[family]) {
        socket.setOption(SOL_SOCKET, SO_MARK, mark);
        this.marks[family] = mark;
      }
      socket.wrap.send(buffer, 0, buffer.length, destination, () => undefined);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  close(): void {
    this.v4.close();
    this.v6.close();
  }
}
