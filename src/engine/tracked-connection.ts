import type { DownloadProbe } from './download-probe.js';
import type { FragProbe } from './frag-probe.js';
import type { IcmpProbe } from './icmp-probe.js';
import type { TimelineRecorder } from './packet-timeline.js';
import type { IpFamily } from '../packet/ip-family.js';

/** What the client asked for, read from the request line of its first data segment. */
export type ConnectionMode = 'pending' | 'icmp' | 'frag' | 'download' | 'other';

export interface ConnectionEndpoints {
  readonly family: IpFamily;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly serverAddress: string;
  readonly serverPort: number;
}

export function connectionKey(e: ConnectionEndpoints): string {
  return `${e.clientAddress}|${e.clientPort}|${e.serverAddress}|${e.serverPort}`;
}

/** What the engine knows of a connection when it sees the client's SYN. */
export interface ConnectionOpening extends ConnectionEndpoints {
  readonly clientIsn: number;
  readonly clientMss: number | null;
  readonly openedAt: number;
}

/** One TCP connection to the service as the engine sees it from both directions. */
export class TrackedConnection implements ConnectionOpening {
  readonly key: string;
  readonly family: IpFamily;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly serverAddress: string;
  readonly serverPort: number;
  readonly clientIsn: number;
  readonly clientMss: number | null;
  readonly openedAt: number;
  serverIsn: number | undefined;
  /** The client acknowledged our SYN-ACK: only now may the engine send ICMP or fragments for this connection. */
  established = false;
  closed = false;
  mode: ConnectionMode = 'pending';
  lastSeenAt: number;
  /** End offset of the highest client data seen, for spotting retransmissions. */
  clientHigh = 0;
  clientRetransmissions = 0;
  largestClientPacket = 0;
  icmp: IcmpProbe | undefined;
  /** The kernel's counts for this connection as last read (kernel-answer.ts). */
  kernelAnswered = 0;
  kernelHeldBack = 0;
  /** The kernel's decided packets whose first segment the engine matched (or gave up on). */
  kernelDecisionsMatched = 0;
  frag: FragProbe | undefined;
  /** The start of a test's request (REQUEST_HEAD_BYTES at most), for answering it if the rest never arrives. */
  requestHead: string | undefined;
  download: DownloadProbe | undefined;
  /** What the engine saw and did, packet by packet, from the request of a test on (none for other connections). */
  timeline: TimelineRecorder | undefined;

  constructor(opening: ConnectionOpening) {
    this.family = opening.family;
    this.clientAddress = opening.clientAddress;
    this.clientPort = opening.clientPort;
    this.serverAddress = opening.serverAddress;
    this.serverPort = opening.serverPort;
    this.clientIsn = opening.clientIsn;
    this.clientMss = opening.clientMss;
    this.openedAt = opening.openedAt;
    this.key = connectionKey(opening);
    this.lastSeenAt = opening.openedAt;
  }
}

/** Enough for the request line and the usual headers of a test request. */
export const REQUEST_HEAD_BYTES = 1024;

/** The first bytes of a request as text (latin1: every byte stays one character). */
export function requestHeadText(firstBytes: Uint8Array): string {
  return Buffer.from(firstBytes.buffer, firstBytes.byteOffset, Math.min(firstBytes.byteLength, REQUEST_HEAD_BYTES)).toString('latin1');
}

const REQUEST_LINE = /^(?:GET|POST|PUT|HEAD) \/(icmp|frag|download)(?:[?# ]|$)/;

/** The test a request line asks for; anything else (the page, the API, a split request line) is left alone. */
export function modeOfRequest(firstBytes: Uint8Array): ConnectionMode {
  const text = Buffer.from(firstBytes.buffer, firstBytes.byteOffset, Math.min(firstBytes.byteLength, 64)).toString('latin1');
  const m = REQUEST_LINE.exec(text);
  if (m === null) return 'other';
  return m[1] as 'icmp' | 'frag' | 'download';
}
