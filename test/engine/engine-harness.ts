/**
 * A PacketEngine with everything around it faked: queued packets that record the verdict they get, a sink that
 * records what the engine sends, and a clock the test moves by hand. Plus a client/server pair of TCP endpoints
 * that speak through it with real packet bytes.
 */
import { DEFAULT_ENGINE_SETTINGS, type EngineSettings } from '../../src/engine/engine-settings.js';
import { PacketEngine } from '../../src/engine/packet-engine.js';
import type { QueuedPacket, QueueHook } from '../../src/host/packet-queue.js';
import type { TrackedConnection } from '../../src/engine/tracked-connection.js';
import type { KernelAnswer } from '../../src/engine/kernel-answer.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import type { TcpOption } from '../../src/packet/tcp-options.js';
import { ACK, ascii, PSH, SYN, tcpPacket } from './engine-packets.js';

export type Decision = { readonly kind: 'accept' } | { readonly kind: 'drop' } | { readonly kind: 'replace'; readonly bytes: Uint8Array };

export class FakePacket implements QueuedPacket {
  readonly decisions: Decision[] = [];

  constructor(
    readonly hook: QueueHook,
    readonly bytes: Uint8Array,
    readonly mark = 0,
  ) {}

  accept(): void {
    this.decisions.push({ kind: 'accept' });
  }
  acceptMarked(): void {
    throw new Error('the checker engine never sets a mark on a queued packet');
  }
  replace(bytes: Uint8Array): void {
    this.decisions.push({ kind: 'replace', bytes });
  }
  drop(): void {
    this.decisions.push({ kind: 'drop' });
  }

  /** The one decision the engine made; throws unless there was exactly one. */
  get decision(): Decision['kind'] {
    if (this.decisions.length !== 1) throw new Error(`decided ${this.decisions.length} times: ${this.decisions.map((d) => d.kind).join(', ')}`);
    return this.decisions[0]!.kind;
  }
}

export interface SentPacket {
  readonly family: IpFamily;
  readonly packet: Uint8Array;
  readonly destination: string;
}

export const SERVER_PORT = 8080;
export const SERVER4 = '10.0.0.1';
export const SERVER6 = 'fd00::1';

export class EngineHarness {
  now = 1_000;
  readonly sent: SentPacket[] = [];
  readonly engine: PacketEngine;

  /** The clients whose path MTU the engine had the kernel forget, in order. */
  readonly forgotten: string[] = [];

  constructor(overrides: Partial<EngineSettings> = {}, sink: { readonly failSends?: boolean } = {}, kernelAnswer?: KernelAnswer) {
    const settings: EngineSettings = { ...DEFAULT_ENGINE_SETTINGS, port: SERVER_PORT, ...overrides };
    this.engine = new PacketEngine(
      settings,
      (family, packet, destination) => {
        this.sent.push({ family, packet: packet.slice(), destination });
        return sink.failSends === true ? Promise.reject(new Error('EPERM (test)')) : Promise.resolve();
      },
      () => this.now,
      (_family, clientAddress) => {
        this.forgotten.push(clientAddress);
      },
      kernelAnswer,
    );
  }

  handle(hook: QueueHook, bytes: Uint8Array, mark = 0): FakePacket {
    const p = new FakePacket(hook, bytes, mark);
    this.engine.handle(p);
    return p;
  }

  /** What was sent since the last call. */
  takeSent(): SentPacket[] {
    return this.sent.splice(0);
  }

  connect(options: ConnectionOptions = {}): TestConnection {
    return new TestConnection(this, options);
  }
}

export interface ConnectionOptions {
  readonly family?: IpFamily;
  readonly client?: string;
  readonly clientPort?: number;
  readonly clientIsn?: number;
  readonly serverIsn?: number;
  readonly mss?: number;
}

let nextPort = 40_000;

/**
 * One client connection to the service, as both ends would send it. Offsets are stream offsets (0 is the first data
 * byte); the sequence numbers are ISN + 1 + offset, wrapping at 2^32.
 */
export class TestConnection {
  readonly family: IpFamily;
  readonly client: string;
  readonly server: string;
  readonly clientPort: number;
  readonly clientIsn: number;
  readonly serverIsn: number;
  readonly mss: number | undefined;

  constructor(
    private readonly h: EngineHarness,
    o: ConnectionOptions,
  ) {
    this.family = o.family ?? 4;
    this.client = o.client ?? (this.family === 4 ? '10.0.0.2' : 'fd00::2');
    this.server = this.family === 4 ? SERVER4 : SERVER6;
    this.clientPort = o.clientPort ?? nextPort++;
    this.clientIsn = o.clientIsn ?? 0x1000_0000;
    this.serverIsn = o.serverIsn ?? 0x7000_0000;
    this.mss = o.mss;
  }

  get endpoints(): { family: IpFamily; clientAddress: string; clientPort: number; serverAddress: string; serverPort: number } {
    return { family: this.family, clientAddress: this.client, clientPort: this.clientPort, serverAddress: this.server, serverPort: SERVER_PORT };
  }

  get tracked(): TrackedConnection | undefined {
    return this.h.engine.connection(this.endpoints);
  }

  syn(): FakePacket {
    const options: TcpOption[] = this.mss === undefined ? [] : [{ kind: 'mss', value: this.mss }];
    return this.h.handle('input', tcpPacket({ ...this.fromClient(), seq: this.clientIsn, flags: SYN, options }));
  }

  synAck(): FakePacket {
    return this.h.handle('output', tcpPacket({ ...this.fromServer(), seq: this.serverIsn, ack: this.clientIsn + 1, flags: SYN | ACK, options: [{ kind: 'mss', value: 1460 }] }));
  }

  /** The client's ACK of `serverOffset` bytes of the server's data (0 completes the handshake). */
  ack(serverOffset = 0, clientOffset = 0): FakePacket {
    return this.h.handle('input', tcpPacket({ ...this.fromClient(), seq: this.clientIsn + 1 + clientOffset, ack: this.serverIsn + 1 + serverOffset, flags: ACK }));
  }

  handshake(): this {
    for (const p of [this.syn(), this.synAck(), this.ack()]) if (p.decision !== 'accept') throw new Error('handshake packet not accepted');
    return this;
  }

  /** Client data at stream offset `offset` (`mark`: the firewall mark it reaches the queue with). */
  clientData(offset: number, payload: Uint8Array, extra: { dontFragment?: boolean; ack?: number; mark?: number } = {}): FakePacket {
    return this.h.handle(
      'input',
      tcpPacket({
        ...this.fromClient(),
        seq: this.clientIsn + 1 + offset,
        ack: extra.ack ?? this.serverIsn + 1,
        flags: ACK | PSH,
        payload,
        ...(extra.dontFragment === undefined ? {} : { dontFragment: extra.dontFragment }),
      }),
      extra.mark,
    );
  }

  /** The request line (and a few headers) as the first client data segment; returns its length. */
  request(line: string): number {
    const bytes = ascii(`${line}\r\nHost: test\r\n\r\n`);
    const p = this.clientData(0, bytes);
    if (p.decision !== 'accept') throw new Error('request segment not accepted');
    return bytes.length;
  }

  /** Server data at stream offset `offset`, as the server's stack queues it on OUTPUT. */
  serverData(offset: number, payload: Uint8Array, clientOffset = 0): FakePacket {
    return this.h.handle('output', tcpPacket({ ...this.fromServer(), seq: this.serverIsn + 1 + offset, ack: this.clientIsn + 1 + clientOffset, flags: ACK | PSH, payload }));
  }

  /** The server's data packet bytes (for comparing with what the engine made of them). */
  serverPacket(offset: number, payload: Uint8Array, clientOffset = 0): Uint8Array {
    return tcpPacket({ ...this.fromServer(), seq: this.serverIsn + 1 + offset, ack: this.clientIsn + 1 + clientOffset, flags: ACK | PSH, payload });
  }

  private fromClient(): { src: string; dst: string; srcPort: number; dstPort: number } {
    return { src: this.client, dst: this.server, srcPort: this.clientPort, dstPort: SERVER_PORT };
  }

  private fromServer(): { src: string; dst: string; srcPort: number; dstPort: number } {
    return { src: this.server, dst: this.client, srcPort: SERVER_PORT, dstPort: this.clientPort };
  }
}
