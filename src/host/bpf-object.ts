/**
 * One of native/bpf's BPF objects on this host: loaded, its programs attached to interfaces through tcx links that
 * belong to this process (the kernel detaches them and frees the maps when it ends, however it ends: nothing is left
 * behind), its maps read and written by name with the bytes the caller lays out. Needs a kernel with tcx (6.6),
 * CAP_BPF and CAP_NET_ADMIN; where any of that is missing, opening or attaching fails with the reason.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { errorMessage } from '../util/error-message.js';

declare const objectHandle: unique symbol;
type ObjectHandle = { readonly [objectHandle]: true };

interface BpfBinding {
  open(objectPath: string): ObjectHandle;
  attach(handle: ObjectHandle, program: string, ifindex: number, egress: boolean): void;
  /** 0, or the errno of the update. */
  update(handle: ObjectHandle, map: string, key: Buffer, value: Buffer, flags: number): number;
  /** 0, or the errno of the deletion (ENOENT: not there). */
  remove(handle: ObjectHandle, map: string, key: Buffer): number;
  lookup(handle: ObjectHandle, map: string, key: Buffer): Buffer | null;
  counters(handle: ObjectHandle, map: string): number[];
  consume(handle: ObjectHandle, map: string): Buffer | null;
  close(handle: ObjectHandle): void;
}

const ARPHRD_ETHER = 1;
const NET_CLASS = '/sys/class/net';

export interface NetworkInterface {
  readonly name: string;
  readonly ifindex: number;
}

/** This network namespace's interfaces with Ethernet framing, which the programs read and write their packets' links as. */
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

/** A program of the object and where on an interface it goes. */
export interface Attachment {
  readonly program: string;
  readonly egress: boolean;
}

/** bpf_map_update_elem's flags. */
export const BPF_ANY = 0;

/** The key of an array map's entry: its index, a 32-bit number in host order. */
export function arrayKey(index: number): Uint8Array {
  return new Uint8Array(new Uint32Array([index]).buffer);
}

/** Counters by the names of the program's enum, in its order; 0 for one the map does not have. */
export function namedCounts<Name extends string>(names: readonly Name[], values: readonly number[]): Record<Name, number> {
  return Object.fromEntries(names.map((name, i) => [name, values[i] ?? 0])) as Record<Name, number>;
}

/** The binding takes Buffers: a view of the same bytes, no copy. */
export function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class BpfObject {
  private closed = false;
  private readonly attachedTo: NetworkInterface[] = [];

  private constructor(
    private readonly binding: BpfBinding,
    private readonly handle: ObjectHandle,
  ) {}

  /** native/bpf's `build/NAME.bpf.o`, loaded (the verifier's complaint in the error when the kernel refuses it). */
  static open(name: string): BpfObject {
    const require = createRequire(import.meta.url);
    let binding: BpfBinding;
    let objectPath: string;
    try {
      binding = require('mtuscope-bpf') as BpfBinding;
      objectPath = join(dirname(require.resolve('mtuscope-bpf/package.json')), 'build', `${name}.bpf.o`);
    } catch (err) {
      throw new Error(`not built (native/bpf): ${errorMessage(err)}`, { cause: err });
    }
    return new BpfObject(binding, binding.open(objectPath));
  }

  /** The interfaces a program was attached to. */
  get interfaces(): readonly NetworkInterface[] {
    return this.attachedTo;
  }

  /**
   * The programs, in order, on every Ethernet interface of this network namespace; an interface counts as attached to
   * when all of them are, and `onSkipped` hears of each that is not (a program attached before the one that failed
   * stays there until close()). Throws when it is attached nowhere.
   */
  attachToEthernet(attachments: readonly Attachment[], onSkipped: (name: string, reason: string) => void): void {
    for (const i of ethernetInterfaces()) {
      try {
        for (const a of attachments) this.binding.attach(this.handle, a.program, i.ifindex, a.egress);
        this.attachedTo.push(i);
      } catch (err) {
        onSkipped(i.name, errorMessage(err));
      }
    }
    if (this.attachedTo.length === 0) throw new Error('no Ethernet interface to attach to');
  }

  /** 0, or the errno of the deletion (ENOENT: not there). */
  remove(map: string, key: Uint8Array): number {
    if (this.closed) return 0;
    return this.binding.remove(this.handle, map, bufferOf(key));
  }

  /** Writes an entry the program cannot do without (`what` it is, for the error): throws when the kernel refuses. */
  set(map: string, key: Uint8Array, value: Uint8Array, what: string): void {
    const errno = this.update(map, key, value);
    if (errno !== 0) throw new Error(`cannot write ${what} (errno ${errno})`);
  }

  /** 0, or the errno of the update. */
  update(map: string, key: Uint8Array, value: Uint8Array, flags = BPF_ANY): number {
    if (this.closed) throw new Error('the BPF object is closed');
    return this.binding.update(this.handle, map, bufferOf(key), bufferOf(value), flags);
  }

  lookup(map: string, key: Uint8Array): Uint8Array | undefined {
    if (this.closed) return undefined;
    return this.binding.lookup(this.handle, map, bufferOf(key)) ?? undefined;
  }

  /** A per-CPU array of counters, each summed over the CPUs and named as the program's enum (all 0 once closed). */
  counters<Name extends string>(map: string, names: readonly Name[]): Record<Name, number> {
    return namedCounts(names, this.closed ? [] : this.binding.counters(this.handle, map));
  }

  /** The records waiting in a ring buffer map, each preceded by its length (4 bytes, host order, padded to 4). */
  consume(map: string): Uint8Array | undefined {
    if (this.closed) return undefined;
    return this.binding.consume(this.handle, map) ?? undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.binding.close(this.handle);
  }
}

/** Each record of what BpfObject.consume returned. */
export function* ringRecords(drained: Uint8Array): Generator<Uint8Array> {
  const view = new DataView(drained.buffer, drained.byteOffset, drained.byteLength);
  let o = 0;
  while (o + 4 <= drained.length) {
    const length = view.getUint32(o, true);
    if (o + 4 + length > drained.length) return;
    yield drained.subarray(o + 4, o + 4 + length);
    o += 4 + ((length + 3) & ~3);
  }
}
