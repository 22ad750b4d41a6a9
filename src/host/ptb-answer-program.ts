/**
 * native/bpf's ptb_answer programs on this host: loaded, attached to the ingress (the answer) and egress (the SYN-ACKs'
 * sequence numbers) of every Ethernet interface of the network namespace through tcx links that belong to this
 * process (the kernel detaches them and frees the maps when it ends, however it ends: nothing is left behind), their
 * maps written with the bytes the caller lays out (src/engine/kernel-answer-layout.ts). Needs a kernel with tcx (6.6),
 * CAP_BPF and CAP_NET_ADMIN; where any of that is missing, opening fails with the reason.
 */
import { arrayKey, BpfObject, type NetworkInterface } from './bpf-object.js';

const OBJECT = 'ptb_answer';
/** Egress first: a test is recognised at ingress only after its SYN-ACK was seen leaving. */
const ATTACHMENTS = [
  { program: 'note_server_isn', egress: true },
  { program: 'answer_packet_too_big', egress: false },
] as const;

export class PtbAnswerProgram {
  private constructor(private readonly object: BpfObject) {}

  /**
   * Loads the programs with their settings and attaches them to every Ethernet interface; throws with the reason when it
   * cannot answer anywhere. `onSkipped` hears of each interface it could not attach to.
   */
  static open(settings: Uint8Array, onSkipped: (name: string, reason: string) => void): PtbAnswerProgram {
    const object = BpfObject.open(OBJECT);
    try {
      object.set('settings', arrayKey(0), settings, "the program's settings");
      object.attachToEthernet(ATTACHMENTS, onSkipped);
      return new PtbAnswerProgram(object);
    } catch (err) {
      object.close();
      throw err;
    }
  }

  /** Where it answers. */
  get interfaces(): readonly NetworkInterface[] {
    return this.object.interfaces;
  }

  /** A connection the program may find a test on: its first data segment has sequence number `clientIsn` + 1. */
  expect(key: Uint8Array, clientIsn: number): boolean {
    // struct opening: the client's ISN; the server's, not seen yet.
    const opening = new Uint32Array([clientIsn >>> 0, 0, 0]);
    try {
      return this.object.update('openings', key, new Uint8Array(opening.buffer)) === 0;
    } catch {
      return false;
    }
  }

  /** Removes a connection from the program's tables, if there. */
  forget(key: Uint8Array): void {
    this.object.remove('tests', key);
    this.object.remove('openings', key);
  }

  /** A test connection's value, or undefined when it is not in the table. */
  lookup(key: Uint8Array): Uint8Array | undefined {
    return this.object.lookup('tests', key);
  }

  /** The program's counters since it was loaded, by the names of its enum outcome (`names`, in its order). */
  outcomes<Name extends string>(names: readonly Name[]): Record<Name, number> {
    return this.object.counters('outcomes', names);
  }

  close(): void {
    this.object.close();
  }
}
