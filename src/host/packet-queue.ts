import { createRequire } from 'node:module';
import { errorMessage } from '../util/error-message.js';

/** Which netfilter hook queued the packet: INPUT (towards the service) or OUTPUT (from it). */
export type QueueHook = 'input' | 'output';

export interface QueuedPacket {
  readonly hook: QueueHook;
  readonly bytes: Uint8Array;
  /** The packet's firewall mark as the queue received it (0: none). */
  readonly mark: number;
  /** Let the packet continue as it is. */
  accept(): void;
  /** Let the packet continue as it is with this firewall mark (policy routing after the queue sees it). */
  acceptMarked(mark: number): void;
  /** Let the packet continue with these bytes instead (same or different length). */
  replace(bytes: Uint8Array): void;
  drop(): void;
}

export interface PacketQueue {
  readonly queueNum: number;
}

interface NfqInfo {
  readonly id: number;
  readonly indev: number;
  readonly outdev: number;
  readonly nfmark?: number;
}

interface NfqPacket {
  readonly info: NfqInfo;
  readonly payload: Buffer;
  setVerdict(verdict: number, mark?: number | null, buffer?: Buffer | null): void;
}

interface NfqModule {
  readonly NF_DROP: number;
  readonly NF_ACCEPT: number;
  createQueueHandler(num: number, bufferSize: number, callback: (p: NfqPacket) => void): unknown;
}

let nfq: NfqModule | undefined;

function loadNfqueue(): NfqModule {
  // A native module (libnetfilter_queue); loaded lazily so that commands other than `serve` never need it.
  nfq ??= createRequire(import.meta.url)('nfqueue') as NfqModule;
  return nfq;
}

/** Receive buffer of the netlink socket: enough for a burst of full-size packets under load. */
const NETLINK_BUFFER = 8 * 1024 * 1024;

/**
 * Binds netfilter queue `queueNum` of this process's network namespace. libnetfilter_queue is used without the GSO
 * flag, so the kernel segments GSO/GRO super-packets and completes partial checksums before queueing: every packet
 * seen here is one wire-sized IP packet. The binding cannot be closed; the queue lives as long as the process, and
 * the iptables rules (with --queue-bypass) decide whether packets reach it.
 */
export function openPacketQueue(queueNum: number, onPacket: (packet: QueuedPacket) => void, onError: (err: unknown) => void): PacketQueue {
  const mod = loadNfqueue();
  const { NF_ACCEPT, NF_DROP } = mod;
  try {
    mod.createQueueHandler(queueNum, NETLINK_BUFFER, (p: NfqPacket) => {
      let decided = false;
      const once = (verdict: number, bytes?: Uint8Array, mark: number | null = null): void => {
        if (decided) return;
        decided = true;
        const buffer = bytes === undefined ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        p.setVerdict(verdict, mark, buffer);
      };
      const packet: QueuedPacket = {
        hook: p.info.outdev !== 0 ? 'output' : 'input',
        bytes: p.payload,
        mark: p.info.nfmark ?? 0,
        accept: () => once(NF_ACCEPT),
        acceptMarked: (mark) => once(NF_ACCEPT, undefined, mark),
        replace: (bytes) => once(NF_ACCEPT, bytes),
        drop: () => once(NF_DROP),
      };
      try {
        onPacket(packet);
      } catch (err) {
        // An exception must never reach the native callback (it would abort the process) nor hold the packet.
        onError(err);
      }
      if (!decided) packet.accept();
    });
  } catch (err) {
    throw new Error(`cannot bind netfilter queue ${queueNum}: ${errorMessage(err)} (is another process bound to it?)`, { cause: err });
  }
  return { queueNum };
}
