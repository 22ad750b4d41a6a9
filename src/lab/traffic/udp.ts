/**
 * UDP datagrams between lab nodes, sent by small node scripts: a sink that logs every datagram it receives, a sender
 * of datagrams of given sizes from several flows (source ports), and a responder that answers a query with a datagram
 * of the size asked for (as a DNS server answers a small question with a large answer).
 *
 * Datagrams larger than the path are fragmented by the sending kernel (without DF: Linux sets DF only on datagrams
 * that fit), so a large datagram crosses the network as fragments whatever routers in between do.
 */
import { familyOfAddress, type IpFamily } from '../../packet/ip-family.js';
import { startListener, type LabNodes, type Listener } from './lab-nodes.js';

export const DEFAULT_UDP_PORT = 9999;

const SINK_SCRIPT = `
const dgram = require('node:dgram');
const sock = dgram.createSocket({ type: 'udp6', ipv6Only: false });
sock.on('message', (m, r) => console.log('rx ' + m.length + ' ' + r.address + ' ' + r.port));
sock.bind(Number(process.argv[1]), '::', () => console.log('ready'));
`;

const RESPONDER_SCRIPT = `
const dgram = require('node:dgram');
const sock = dgram.createSocket({ type: 'udp6', ipv6Only: false });
sock.on('message', (m, r) => {
  const size = Math.min(65000, Math.max(1, Number(m.toString()) || 1));
  sock.send(Buffer.alloc(size, 0x63), r.port, r.address);
});
sock.bind(Number(process.argv[1]), '::', () => console.log('ready'));
`;

/** argv: address port flows sizes(csv) gapMs. One socket per flow; prints "flow <port>" for each. */
const SENDER_SCRIPT = `
const dgram = require('node:dgram');
const [address, port, flows, sizes, gap] = process.argv.slice(1);
const type = address.includes(':') ? 'udp6' : 'udp4';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  for (let f = 0; f < Number(flows); f++) {
    const sock = dgram.createSocket(type);
    await new Promise((r) => sock.bind(0, r));
    console.log('flow ' + sock.address().port);
    for (const size of sizes.split(',')) {
      await new Promise((r, j) => sock.send(Buffer.alloc(Number(size), 0x64), Number(port), address, (e) => (e ? j(e) : r())));
      await sleep(Number(gap));
    }
    sock.close();
  }
})().catch((e) => { console.error(String(e)); process.exit(1); });
`;

/**
 * argv: address port sizes(csv) timeoutMs retries. Prints "answer <size asked> <bytes received|-> <ms> <queries sent>";
 * an unanswered query is sent again, the same bytes, up to `retries` times (as a resolver does).
 */
const QUERY_SCRIPT = `
const dgram = require('node:dgram');
const [address, port, sizes, timeout, retries] = process.argv.slice(1);
const sock = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
const ask = (size) => new Promise((resolve) => {
  const timer = setTimeout(() => { sock.off('message', onMessage); resolve(-1); }, Number(timeout));
  const onMessage = (m) => { clearTimeout(timer); sock.off('message', onMessage); resolve(m.length); };
  sock.on('message', onMessage);
  sock.send(String(size), Number(port), address);
});
(async () => {
  for (const size of sizes.split(',')) {
    const start = Date.now();
    let got = -1;
    let sent = 0;
    while (got < 0 && sent <= Number(retries)) {
      sent++;
      got = await ask(size);
    }
    console.log('answer ' + size + ' ' + (got < 0 ? '-' : got) + ' ' + (Date.now() - start) + ' ' + sent);
  }
  sock.close();
})();
`;

export interface ReceivedDatagram {
  readonly size: number;
  readonly from: string;
  readonly port: number;
}

export interface UdpSink extends Listener {
  received(): ReceivedDatagram[];
}

/** A UDP server for this node's requests, listening on all addresses of both families. */
export async function startUdpSink(lab: LabNodes, node: string, port = DEFAULT_UDP_PORT): Promise<UdpSink> {
  const listener = await startListener(lab, node, SINK_SCRIPT, port);
  return {
    ...listener,
    received: () =>
      listener.process.stdout
        .split('\n')
        .filter((l) => l.startsWith('rx '))
        .map((l) => {
          const [, size, from, p] = l.split(' ');
          return { size: Number(size), from: (from ?? '').replace(/^::ffff:/, ''), port: Number(p) };
        }),
  };
}

/** A UDP server that answers a request "N" with N bytes, on all addresses of both families. */
export function startUdpResponder(lab: LabNodes, node: string, port = DEFAULT_UDP_PORT): Promise<Listener> {
  return startListener(lab, node, RESPONDER_SCRIPT, port);
}

export interface UdpSendRequest {
  readonly node: string;
  readonly address: string;
  readonly port?: number;
  /** Number of flows (sockets, hence source ports); each sends every size once. */
  readonly flows: number;
  readonly sizes: readonly number[];
  /** Pause between datagrams, ms (default 5), so the receiving side is never the bottleneck. */
  readonly gapMs?: number;
}

/** Sends and returns the source port of each flow. */
export async function sendUdpDatagrams(lab: LabNodes, request: UdpSendRequest): Promise<number[]> {
  const argv = [
    'node', '-e', SENDER_SCRIPT, request.address, String(request.port ?? DEFAULT_UDP_PORT),
    String(request.flows), request.sizes.join(','), String(request.gapMs ?? 5),
  ];
  const r = await lab.exec(request.node, argv, { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`sending UDP datagrams from ${request.node} failed: ${r.stderr.trim()}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('flow '))
    .map((l) => Number(l.slice(5)));
}

export interface UdpAnswer {
  readonly family: IpFamily;
  /** Size of answer asked for. */
  readonly size: number;
  readonly received: boolean;
  readonly bytes: number;
  readonly ms: number;
  /** Queries sent for it (1 + the retries it took). */
  readonly queries: number;
}

export interface UdpQueryRequest {
  readonly node: string;
  readonly address: string;
  readonly port?: number;
  readonly sizes: readonly number[];
  /** Wait per answer, ms (default 1000). */
  readonly timeoutMs?: number;
  /** Times an unanswered query is sent again, the same bytes from the same socket (default 0). */
  readonly retries?: number;
}

/** Asks a responder for answers of each size in turn; one socket, so one flow. */
export async function udpQueries(lab: LabNodes, request: UdpQueryRequest): Promise<UdpAnswer[]> {
  const timeout = request.timeoutMs ?? 1000;
  const retries = request.retries ?? 0;
  const argv = ['node', '-e', QUERY_SCRIPT, request.address, String(request.port ?? DEFAULT_UDP_PORT), request.sizes.join(','), String(timeout), String(retries)];
  const r = await lab.exec(request.node, argv, { timeoutMs: request.sizes.length * timeout * (retries + 1) + 10_000 });
  if (r.code !== 0) throw new Error(`UDP queries from ${request.node} failed: ${r.stderr.trim()}`);
  const family = familyOfAddress(request.address);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('answer '))
    .map((l) => {
      const [, size, bytes, ms, queries] = l.split(' ');
      return { family, size: Number(size), received: bytes !== '-', bytes: bytes === '-' ? 0 : Number(bytes), ms: Number(ms), queries: Number(queries) };
    });
}
