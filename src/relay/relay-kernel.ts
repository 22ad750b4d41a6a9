/**
 * `owner` mode's steering in the kernel (native/bpf/src/relay_steer.bpf.c) on this host: loaded with the relay's
 * settings, served prefixes and shared interfaces, attached to the ingress of every Ethernet interface, and read for
 * what it relayed (its ring buffer) and its counters. The relay's rules and policy routes (relay-rules.ts) must be in
 * place first: the program reads the connection marks their rules set and steers through their routes.
 */
import { randomBytes } from 'node:crypto';
import { arrayKey, BpfObject, ringRecords } from '../host/bpf-object.js';
import { parseIpText } from '../packet/address.js';
import { type Cidr, formatCidr } from '../packet/cidr.js';
import type { RelayPeer, SharedInterface } from './relay-core.js';
import {
  parseSteerEvent,
  peerSet,
  servedKey,
  SHARED_ENTRIES,
  STEER_COUNTERS,
  type SteerCounters,
  type SteerEvent,
  steerPeer,
  steerSettings,
  type SteerSettings,
} from './relay-kernel-layout.js';

const OBJECT = 'relay_steer';
const PROGRAM = 'steer_packet_too_big';

export class KernelSteering {
  private constructor(private readonly object: BpfObject) {}

  /** Throws with the reason when the program cannot be loaded or attached anywhere. */
  static open(
    settings: Omit<SteerSettings, 'seeds' | 'peers'>,
    peers: readonly RelayPeer[],
    served: readonly Cidr[],
    shared: readonly SharedInterface[],
    onSkipped: (name: string, reason: string) => void,
  ): KernelSteering {
    const seeds = new Uint32Array(randomBytes(8).buffer);
    const object = BpfObject.open(OBJECT);
    try {
      const ofFamily = (family: 4 | 6): number[] => peers.filter((p) => p.family === family).map((p) => p.index);
      object.set('settings', arrayKey(0), steerSettings({ ...settings, peers: { 4: ofFamily(4), 6: ofFamily(6) }, seeds: [seeds[0]!, seeds[1]!] }), 'the settings');
      for (const p of peers) {
        const address = parseIpText(p.address);
        if (address === undefined) throw new Error(`peer ${p.address} is not an address`);
        object.set('peers', arrayKey(p.index), steerPeer(p.family, address), `peer ${p.address}`);
      }
      for (const c of served) {
        object.set(c.family === 4 ? 'served4' : 'served6', servedKey(c), new Uint8Array([1]), `the served prefix ${formatCidr(c)}`);
      }
      for (const s of shared) {
        if (s.index >= SHARED_ENTRIES) throw new RangeError(`shared interface ${s.device} has index ${s.index}, beyond the kernel's table`);
        object.set('shared', arrayKey(s.index), peerSet(s.peers), `the peers behind ${s.device}`);
      }
      object.attachToEthernet([{ program: PROGRAM, egress: false }], onSkipped);
      return new KernelSteering(object);
    } catch (err) {
      object.close();
      throw err;
    }
  }

  get interfaces(): readonly string[] {
    return this.object.interfaces.map((i) => i.name);
  }

  /** The messages relayed since the last call. A record the program never writes is counted in `unreadable`. */
  drain(): { events: SteerEvent[]; unreadable: number } {
    const events: SteerEvent[] = [];
    let unreadable = 0;
    const drained = this.object.consume('events');
    if (drained === undefined) return { events, unreadable };
    for (const record of ringRecords(drained)) {
      const e = parseSteerEvent(record);
      if (e === undefined) unreadable++;
      else events.push(e);
    }
    return { events, unreadable };
  }

  counters(): SteerCounters {
    return this.object.counters('counters', STEER_COUNTERS);
  }

  close(): void {
    this.object.close();
  }
}
