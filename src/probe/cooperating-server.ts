/**
 * The article's four scenarios against a cooperating `mtuscope serve` (docs/probe.md): the UDP responder's cookie
 * exchange, then scenario 2 (fragmented datagrams toward the server, built here and sent through a raw socket from the
 * source port of this run's UDP socket, so that the server's acknowledgements come back to it) and scenario 4 over UDP
 * (replies of DNS-like sizes), then whether a Packet Too Big from the target reaches this host (a ptb-request: the
 * server sends one quoting the request, then a ptb-sent control over UDP; the ICMP comes in through raw sockets), then
 * the checker's HTTP tests /icmp, /download and /frag. The findings come from the pure functions of
 * cooperating-server-verdict.ts; this file only sends, waits and counts.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { formatIp, parseIpText } from '../packet/address.js';
import type { IpFamily } from '../packet/ip-family.js';
import { decodeResponderMessage, emitResponderMessage, RESPONDER_SIZES, type ResponderMessage } from '../packet/responder-message.js';
import { errorMessage } from '../util/error-message.js';
import { runHttpTest } from './checker-http.js';
import {
  type CheckerHttpTest,
  fragmentsFromTargetFinding,
  fragmentsToTargetFinding,
  type HttpTestOutcome,
  httpTestFinding,
  noServerFinding,
  type ProbeOutcome,
  ptbFromTargetFinding,
  type PtbFromTarget,
  type PtbFromTargetOutcome,
  type ReplyOutcome,
} from './cooperating-server-verdict.js';
import type { ProbeFinding } from './probe-finding.js';
import { ProbeTransport } from './probe-transport.js';
import { routeFacts } from './route-facts.js';
import { matchEchoedPtb } from './ptb-echo-match.js';
import { DEFAULT_FRAGMENT_COUNTS, DEFAULT_FRAGMENT_SIZE, DEFAULT_REPLY_SIZES, probePackets, probePlan, replyIpSize } from './udp-probe-plan.js';

export interface CooperatingServerTarget {
  readonly address: string;
  readonly family: IpFamily;
  /** The server's port: UDP for the responder, TCP for the HTTP tests. */
  readonly port: number;
}

export interface CooperatingServerOptions {
  /** UDP payload sizes of the replies asked for (scenario 4). */
  readonly replySizes?: readonly number[];
  /** Fragment counts of the probe datagrams (scenario 2). */
  readonly fragmentCounts?: readonly number[];
  /** The largest fragment of a probe datagram, IP header included; also the control's size. */
  readonly fragmentSize?: number;
  /** Sends of each hello, probe and request before it counts as lost (RFC 8899's MAX_PROBES is 3). */
  readonly tries?: number;
  /** Wait for answers after each round of sends. */
  readonly waitMs?: number;
  /** Run the HTTP tests (default true). */
  readonly http?: boolean;
  readonly httpTimeoutMs?: number;
  /** MTU of this host's link toward the target (default: read from the route): replies above it can only come as fragments. */
  readonly linkMtu?: number;
  /** Firewall mark of the crafted packets when a transport of our own is opened (default 0: none). */
  readonly mark?: number;
  /**
   * What the crafted fragments leave through and where ICMP comes in: the run's open ProbeTransport (shared, never
   * closed here); without one, a transport is opened on first use and closed when the UDP tests end.
   */
  readonly transport?: Pick<ProbeTransport, 'onPacket' | 'send'>;
  /** UDP payload of the ptb-request (88 at least): the Packet Too Big quotes at most this many bytes. */
  readonly ptbRequestSize?: number;
}

/** 128 bytes: the quote holds the rebuilt IP and UDP headers and the request's first 80 (IPv6) or 100 (IPv4) bytes. */
export const DEFAULT_PTB_REQUEST_SIZE = 128;

export interface CooperatingServerReport {
  readonly target: CooperatingServerTarget;
  /** The UDP responder answered the cookie exchange. */
  readonly answered: boolean;
  /** Why not, when it did not. */
  readonly reason?: string;
  readonly udp?: {
    /** This run's source address and port (the probes' and the cookie's). */
    readonly source: string;
    readonly sourcePort: number;
    readonly maxReplySize: number;
    readonly probes: readonly ProbeOutcome[];
    readonly replies: readonly ReplyOutcome[];
    /** The Packet Too Big the server sent on request, with the evidence. */
    readonly packetTooBig: PtbFromTargetOutcome;
  };
  /** Whether a Packet Too Big from the target reaches this host; `not-tested` without a server. */
  readonly ptbFromTarget: PtbFromTarget;
  /** Why not tested, or what was lost. */
  readonly ptbFromTargetReason?: string;
  readonly http: readonly HttpTestOutcome[];
  /** The HTTP tests were not run (an option, or the server's HTTP port did not answer). */
  readonly httpSkipped?: string;
  readonly findings: readonly ProbeFinding[];
}

const HTTP_TESTS: readonly CheckerHttpTest[] = ['icmp', 'download', 'frag'];

/** A session over one connected UDP socket: answers are dispatched by type and id. */
class ResponderSession {
  readonly nonce = new Uint8Array(randomBytes(8));
  private listeners = new Set<(m: ResponderMessage) => void>();

  private constructor(readonly socket: Socket) {
    socket.on('message', (bytes) => {
      const d = decodeResponderMessage(bytes);
      if (!d.ok || !equal(d.value.nonce, this.nonce)) return;
      for (const l of this.listeners) l(d.value);
    });
  }

  static async open(target: CooperatingServerTarget): Promise<ResponderSession> {
    const socket = createSocket(target.family === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(target.port, target.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', () => undefined);
    return new ResponderSession(socket);
  }

  on(listener: (m: ResponderMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  send(m: ResponderMessage): void {
    this.socket.send(emitResponderMessage(m));
  }

  close(): void {
    this.socket.close();
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Rounds of sends: each round sends every item not yet answered, then waits `waitMs` (less once all are answered);
 * at most `tries` rounds.
 */
async function rounds<T>(items: readonly T[], tries: number, waitMs: number, answered: (item: T) => boolean, send: (item: T) => void): Promise<void> {
  for (let round = 0; round < tries; round++) {
    const open = items.filter((i) => !answered(i));
    if (open.length === 0) return;
    for (const item of open) send(item);
    const until = performance.now() + waitMs;
    while (performance.now() < until && items.some((i) => !answered(i))) await sleep(20);
  }
}

/** Runs the cooperating-server tests against one address; never rejects for a silent or broken path (that is a finding). */
export async function runCooperatingServer(
  target: CooperatingServerTarget,
  options: CooperatingServerOptions = {},
  progress: (line: string) => void = () => undefined,
): Promise<CooperatingServerReport> {
  const tries = options.tries ?? 3;
  const waitMs = options.waitMs ?? 1000;
  const findings: ProbeFinding[] = [];
  let udp: CooperatingServerReport['udp'];
  let reason: string | undefined;

  progress(`UDP: cookie exchange with [${target.address}]:${target.port}`);
  const session = await ResponderSession.open(target);
  const transport = sharedOrOwnTransport(options);
  try {
    let cookie: Extract<ResponderMessage, { type: 'cookie' }> | undefined;
    let refusal: string | undefined;
    const off = session.on((m) => {
      if (m.type === 'cookie') cookie = m;
      else if (m.type === 'error' && cookie === undefined) refusal = `${m.code} (${m.detail})`;
    });
    await rounds([0], tries, waitMs, () => cookie !== undefined, () => session.send({ type: 'hello', nonce: session.nonce, padding: RESPONDER_SIZES.hello - 16 }));
    off();
    if (cookie === undefined) {
      reason = refusal === undefined ? `no answer to ${tries} hellos in ${Math.round((tries * waitMs) / 1000)} s` : `it answered the hello with the error ${refusal}`;
      findings.push(noServerFinding(target.port, reason));
    } else {
      const local = session.socket.address();
      udp = {
        source: local.address,
        sourcePort: local.port,
        maxReplySize: cookie.maxReplySize,
        probes: await scenario2(session, target, cookie.cookie, local.address, local.port, options, transport, tries, waitMs, progress),
        replies: await scenario4(session, target, cookie.cookie, cookie.maxReplySize, options, tries, waitMs, progress),
        // Last of the UDP tests: the Packet Too Big sets an error (EMSGSIZE) on the connected session socket, which the
        // next send or receive on it returns once.
        packetTooBig: await packetTooBigFromTarget(session, target, cookie.cookie, local.port, options, transport, tries, waitMs, progress),
      };
      findings.push(
        fragmentsToTargetFinding(target.family, udp.probes),
        fragmentsFromTargetFinding(target.family, udp.replies, true, options.linkMtu ?? (await routeFacts(target.address, target.family)).deviceMtu),
        ptbFromTargetFinding(target.family, target.address, udp.packetTooBig),
      );
    }
  } finally {
    session.close();
    transport.close();
  }

  const http: HttpTestOutcome[] = [];
  // A target that did not answer the hellos is most likely no checker at all, and a filtered HTTP port would hold the
  // run for the whole HTTP timeout: the HTTP tests need the responder's answer first.
  let httpSkipped: string | undefined =
    options.http === false ? 'not asked for' : udp === undefined ? 'no mtuscope server answered on UDP, so the HTTP tests were not tried' : undefined;
  if (httpSkipped === undefined) {
    for (const test of HTTP_TESTS) {
      progress(`HTTP: /${test} on [${target.address}]:${target.port}`);
      const outcome = await runHttpTest(target, test, options.httpTimeoutMs ?? 45_000);
      http.push(outcome);
      if (outcome.verdict === undefined && /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT/.test(outcome.error ?? '')) {
        httpSkipped = `the HTTP port did not answer (${outcome.error ?? ''})`;
        break;
      }
    }
    findings.push(...http.map((o) => httpTestFinding(target.family, o)));
  }
  const ptbReason = udp === undefined ? 'no cooperating server answered on UDP' : udp.packetTooBig.reason;
  return {
    target,
    answered: udp !== undefined,
    ...(reason === undefined ? {} : { reason }),
    ...(udp === undefined ? {} : { udp }),
    ptbFromTarget: udp?.packetTooBig.result ?? 'not-tested',
    ...(ptbReason === undefined ? {} : { ptbFromTargetReason: ptbReason }),
    http,
    ...(httpSkipped === undefined ? {} : { httpSkipped }),
    findings,
  };
}

async function scenario2(
  session: ResponderSession,
  target: CooperatingServerTarget,
  cookie: Uint8Array,
  source: string,
  sourcePort: number,
  options: CooperatingServerOptions,
  transport: { get(): Transport },
  tries: number,
  waitMs: number,
  progress: (line: string) => void,
): Promise<ProbeOutcome[]> {
  const plan = probePlan(target.family, options.fragmentSize ?? DEFAULT_FRAGMENT_SIZE, options.fragmentCounts ?? DEFAULT_FRAGMENT_COUNTS);
  progress(`UDP scenario 2: ${plan.length} datagrams toward the target (${plan.map((p) => `${p.ipSize} bytes in ${p.fragmentCount}`).join(', ')})`);
  const acks = new Map<number, number>();
  const off = session.on((m) => {
    if (m.type === 'probe-ack') acks.set(m.probeId, m.receivedLength);
  });
  let sendError: string | undefined;
  try {
    // The transport ignores the kernel's cached path MTU toward the target (lowered by an earlier /icmp test, say), which
    // would otherwise refragment the probes.
    const raw = transport.get();
    const endpoints = { family: target.family, source, sourcePort, destination: target.address, destinationPort: target.port };
    await rounds(plan, tries, waitMs, (p) => acks.has(p.probeId), (p) => {
      const ident = target.family === 4 ? randomInt(1, 0x10000) : randomInt(1, 0xffff_ffff);
      for (const packet of probePackets(p, endpoints, session.nonce, cookie, ident)) {
        try {
          raw.send(target.family, packet, target.address);
        } catch (err) {
          sendError = errorMessage(err);
        }
      }
    });
  } finally {
    off();
  }
  if (sendError !== undefined) progress(`UDP scenario 2: a send failed: ${sendError}`);
  return plan.map((p) => {
    const received = acks.get(p.probeId);
    return { ...p, acknowledged: received !== undefined, ...(received === undefined ? {} : { receivedLength: received }) };
  });
}

async function scenario4(
  session: ResponderSession,
  target: CooperatingServerTarget,
  cookie: Uint8Array,
  maxReplySize: number,
  options: CooperatingServerOptions,
  tries: number,
  waitMs: number,
  progress: (line: string) => void,
): Promise<ReplyOutcome[]> {
  const sizes = options.replySizes ?? DEFAULT_REPLY_SIZES;
  progress(`UDP scenario 4: replies of ${sizes.join(', ')} bytes from the target`);
  const arrived = new Set<number>();
  const refused = new Map<number, string>();
  const off = session.on((m) => {
    if (m.type === 'sized-reply' && sizes[m.requestId - 1] === m.replySize) arrived.add(m.requestId);
  });
  const ids = sizes.map((_, i) => i + 1);
  for (const id of ids) if (sizes[id - 1]! > maxReplySize) refused.set(id, `above the server's largest reply, ${maxReplySize} bytes`);
  // An error answers one request: its id is not in it, so requests go one at a time when the server refuses.
  const offErrors = session.on((m) => {
    if (m.type === 'error' && m.code !== 'bad-cookie') lastError = `${m.code} (${m.detail})`;
  });
  let lastError: string | undefined;
  try {
    await rounds(ids.filter((id) => !refused.has(id)), tries, waitMs, (id) => arrived.has(id), (id) =>
      session.send({ type: 'size-request', nonce: session.nonce, cookie, requestId: id, replySize: sizes[id - 1]!, padding: 0 }),
    );
  } finally {
    off();
    offErrors();
  }
  return ids.map((id) => {
    const replySize = sizes[id - 1]!;
    const why = refused.get(id) ?? (!arrived.has(id) && lastError !== undefined ? `the server answered a request with ${lastError}` : undefined);
    return { replySize, ipSize: replyIpSize(target.family, replySize), arrived: arrived.has(id), ...(why === undefined ? {} : { refused: why }) };
  });
}

const PTB_REQUEST_ID = 1;

type Transport = Pick<ProbeTransport, 'onPacket' | 'send'>;

/** The run's transport, or one of our own opened on first use (get() throws when it cannot be) and closed by close(). */
function sharedOrOwnTransport(options: CooperatingServerOptions): { get(): Transport; close(): void } {
  let own: ProbeTransport | undefined;
  return {
    get: () => options.transport ?? (own ??= ProbeTransport.open(options.mark === undefined ? {} : { mark: options.mark })),
    close: () => own?.close(),
  };
}

/**
 * Asks the server for a Packet Too Big toward this host (ptb-request, `tries` times until one arrives) and watches for
 * it among the ICMP messages from the server's address, and for the ptb-sent controls on the session socket.
 */
async function packetTooBigFromTarget(
  session: ResponderSession,
  target: CooperatingServerTarget,
  cookie: Uint8Array,
  localPort: number,
  options: CooperatingServerOptions,
  transport: { get(): Transport },
  tries: number,
  waitMs: number,
  progress: (line: string) => void,
): Promise<PtbFromTargetOutcome> {
  const requestSize = Math.max(RESPONDER_SIZES.ptbRequest, options.ptbRequestSize ?? DEFAULT_PTB_REQUEST_SIZE);
  progress(`UDP: a Packet Too Big from the target, on request (${requestSize}-byte request)`);
  let icmp: Transport;
  try {
    icmp = transport.get();
  } catch (err) {
    return { result: 'not-tested', reason: `this host cannot receive ICMP: ${errorMessage(err)}`, requestSize, requestsSent: 0, controlsArrived: 0 };
  }
  const bytes = parseIpText(target.address);
  const echo = { family: target.family, server: bytes === undefined ? target.address : formatIp(bytes), serverPort: target.port, clientPort: localPort, nonce: session.nonce };
  let arrived: { mtu: number; quotedLength: number; atMs: number } | undefined;
  let sent: Extract<ResponderMessage, { type: 'ptb-sent' }> | undefined;
  let controls = 0;
  let refusal: string | undefined;
  let requests = 0;
  const started = performance.now();
  const offIcmp = icmp.onPacket((p) => {
    const m = matchEchoedPtb(p, echo);
    if (m.ok && typeof m.value !== 'string' && m.value.requestId === PTB_REQUEST_ID) arrived ??= { mtu: m.value.mtu, quotedLength: m.value.quotedLength, atMs: p.receivedAtMs };
  });
  const offUdp = session.on((m) => {
    if (m.type === 'ptb-sent' && m.requestId === PTB_REQUEST_ID) {
      controls++;
      sent = m;
    } else if (m.type === 'error') refusal = `${m.code} (${m.detail})`;
  });
  try {
    await rounds([0], tries, waitMs, () => arrived !== undefined || refusal?.startsWith('ptb-unavailable') === true, () => {
      requests++;
      session.send({ type: 'ptb-request', nonce: session.nonce, cookie, requestId: PTB_REQUEST_ID, padding: requestSize - RESPONDER_SIZES.ptbRequest });
    });
  } finally {
    offIcmp();
    offUdp();
  }
  const said = sent === undefined ? {} : { reportedMtu: sent.reportedMtu, quotedLength: sent.quotedLength, packetSize: sent.packetSize };
  const base = { requestSize, requestsSent: requests, controlsArrived: controls, ...said };
  if (arrived !== undefined) return { ...base, result: 'arrived', reportedMtu: arrived.mtu, quotedLength: arrived.quotedLength, ms: Math.round((arrived.atMs - started) * 10) / 10 };
  if (controls > 0) return { ...base, result: 'lost', reason: `${requests} Packet Too Big sent by the server (it said so in ${controls} ptb-sent controls that arrived), none arrived` };
  return {
    ...base,
    result: 'not-tested',
    reason: refusal === undefined ? `no answer to ${requests} requests, neither the Packet Too Big nor its ptb-sent control` : `the server answered with the error ${refusal}`,
  };
}
