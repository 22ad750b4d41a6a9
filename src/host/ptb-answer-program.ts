/**
 * native/ptb-answer's BPF programs on this host: loaded, attached to the ingress (the answer) and egress (the SYN-ACKs'
 * sequence numbers) of every Ethernet interface of the network namespace through tcx links that belong to this
 * process (the kernel detaches them and frees the maps when it ends, however it ends: nothing is left behind), their
 * maps written with the bytes the caller lays out (src/engine/kernel-answer-layout.ts). Needs a kernel with tcx (6.6),
 * CAP_BPF and CAP_NET_ADMIN; where any of that is missing, opening fails with the reason.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { errorMessage } from '../util/error-message.js';

declare const answerHandle: unique symbol;
type AnswerHandle = { readonly [answerHandle]: true };

interface PtbAnswerBinding {
  open(objectPath: string, settings: Buffer): AnswerHandle;
  attach(handle: AnswerHandle, ifindex: number): void;
  /** 0, or the errno of the update. */
  expect(handle: AnswerHandle, key: Buffer, clientIsn: number): number;
  /** 0, or the errno of the deletion (ENOENT: not there). */
  forget(handle: AnswerHandle, key: Buffer): number;
  lookup(handle: AnswerHandle, key: Buffer): Buffer | null;
  outcomes(handle: AnswerHandle): number[];
  close(handle: AnswerHandle): void;
}

const ARPHRD_ETHER = 1;
const NET_CLASS = '/sys/class/net';

export interface NetworkInterface {
  readonly name: string;
  readonly ifindex: number;
}

/** The interfaces the program can answer on: Ethernet framing, since it builds the answer's link header as Ethernet. */
export function ethernetInterfaces(netClass = NET_CLASS): NetworkInterface[] {
  const found: NetworkInterface[] = [];
  for (const name of readdirSync(netClass)) {
    try {
      if (Number(readFileSync(join(netClass, name, 'type'), 'utf8')) !== ARPHRD_ETHER) continue;
      found.push({ name, ifindex: Number(readFileSync(join(netClass, name, 'ifindex'), 'utf8')) });
    } catch {
      // Gone while listed.
    }
  }
  return found.sort((a, b) => a.ifindex - b.ifindex);
}

/** The binding takes Buffers: a view of the same bytes, no copy. */
function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class PtbAnswerProgram {
  private closed = false;

  private constructor(
    private readonly binding: PtbAnswerBinding,
    private readonly handle: AnswerHandle,
    /** Where it answers. */
    readonly interfaces: readonly NetworkInterface[],
  ) {}

  /**
   * Loads the programs with their settings and attaches them to every Ethernet interface; throws with the reason when it
   * cannot answer anywhere. `onSkipped` hears of each interface it could not attach to.
   */
  static open(settings: Uint8Array, onSkipped: (name: string, reason: string) => void): PtbAnswerProgram {
    const require = createRequire(import.meta.url);
    let binding: PtbAnswerBinding;
    let objectPath: string;
    try {
      binding = require('mtuscope-ptb-answer') as PtbAnswerBinding;
      objectPath = join(dirname(require.resolve('mtuscope-ptb-answer/package.json')), 'build', 'ptb_answer.bpf.o');
    } catch (err) {
      throw new Error(`not built (native/ptb-answer): ${errorMessage(err)}`, { cause: err });
    }
    const handle = binding.open(objectPath, bufferOf(settings));
    const attached: NetworkInterface[] = [];
    for (const i of ethernetInterfaces()) {
      try {
        binding.attach(handle, i.ifindex);
        attached.push(i);
      } catch (err) {
        onSkipped(i.name, errorMessage(err));
      }
    }
    if (attached.length === 0) {
      binding.close(handle);
      throw new Error('no Ethernet interface to answer on');
    }
    return new PtbAnswerProgram(binding, handle, attached);
  }

  /** A connection the program may find a test on: its first data segment has sequence number `clientIsn` + 1. */
  expect(key: Uint8Array, clientIsn: number): boolean {
    return !this.closed && this.binding.expect(this.handle, bufferOf(key), clientIsn) === 0;
  }

  /** Removes a connection from the program's tables, if there. */
  forget(key: Uint8Array): void {
    if (!this.closed) this.binding.forget(this.handle, bufferOf(key));
  }

  /** A test connection's value, or undefined when it is not in the table. */
  lookup(key: Uint8Array): Uint8Array | undefined {
    if (this.closed) return undefined;
    return this.binding.lookup(this.handle, bufferOf(key)) ?? undefined;
  }

  /** The program's counters since it was loaded, in its order. */
  outcomes(): number[] {
    return this.closed ? [] : this.binding.outcomes(this.handle);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.binding.close(this.handle);
  }
}
