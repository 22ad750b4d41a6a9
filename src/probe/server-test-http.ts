/**
 * The server test's HTTP client: one GET of the URL over one fresh connection to one address of its host (http or
 * https), reporting the moment the connection's handshake completed (so the test starts watching it only then) and
 * how the download went. The body is counted and discarded. For https the certificate is not verified: nothing of
 * the content is used, only the server's TCP behaviour is measured, and a test of a site with a broken or private
 * certificate must still run. The test ends the download itself (`cut`) once its verdict is settled.
 *
 * Checked in the lab (test/probe/server-test-lab.test.ts): on the TLS socket of `https.request` (agent false, so
 * `tls.connect`), 'connect' is the TCP handshake's completion, before the ClientHello's answer can arrive, so the
 * test watches the TLS handshake's packets too; a server with a big certificate sends its first flight in full-size
 * packets, and that flight is then what the verdict rests on.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { errorMessage } from '../util/error-message.js';
import type { HttpOutcome } from './server-test-report.js';

export interface DownloadTarget {
  readonly url: URL;
  /** The address to connect to, one of the URL host's. */
  readonly address: string;
  readonly port: number;
}

export interface ConnectedSocket {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

export interface RunningDownload {
  readonly done: Promise<HttpOutcome>;
  /** Ends the download now (the verdict is settled); `done` then resolves with cutShort. */
  cut(): void;
}

export function startDownload(target: DownloadTarget, onConnected: (socket: ConnectedSocket) => void, timeoutMs: number): RunningDownload {
  const { url } = target;
  const secure = url.protocol === 'https:';
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let status: number | undefined;
  let bytes = 0;
  let cutShort = false;
  let tlsDone = false;
  let settle: (o: HttpOutcome) => void = () => undefined;
  const done = new Promise<HttpOutcome>((resolve) => {
    settle = resolve;
  });
  const finish = (error: string | undefined): void => settle({ status, bytes, error: cutShort ? undefined : error, cutShort, tlsCompleted: secure ? tlsDone : undefined });
  const failed = (err: unknown): void => finish(downloadErrorWords(err, secure, tlsDone));
  const options: https.RequestOptions = {
    host: target.address,
    port: target.port,
    path: `${url.pathname}${url.search}`,
    method: 'GET',
    agent: false,
    headers: { host: url.host, 'user-agent': 'mtuscope-probe-server-test', accept: '*/*', connection: 'close' },
    ...(secure ? { rejectUnauthorized: false, ...(isIP(hostname) === 0 ? { servername: hostname } : {}) } : {}),
  };
  const req = (secure ? https : http).request(options, (res) => {
    status = res.statusCode;
    res.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    res.on('end', () => finish(undefined));
    res.on('error', failed);
    res.on('aborted', () => finish('the server ended the connection before the end of the answer'));
  });
  const timer = setTimeout(() => {
    req.destroy(new Error(`no end of the answer within ${timeoutMs / 1000} s`));
  }, timeoutMs);
  void done.finally(() => clearTimeout(timer));
  req.on('socket', (socket: Socket) => {
    // For https this is the TLS socket; its 'connect' is the TCP handshake's completion, before the TLS one.
    socket.once('secureConnect', () => {
      tlsDone = true;
    });
    socket.once('connect', () => {
      if (socket.localAddress === undefined || socket.localPort === undefined || socket.remoteAddress === undefined || socket.remotePort === undefined) return;
      onConnected({ localAddress: socket.localAddress, localPort: socket.localPort, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort });
    });
  });
  req.on('error', failed);
  req.on('close', () => finish('the connection closed before the answer ended'));
  req.end();
  return {
    done,
    cut: () => {
      cutShort = true;
      req.destroy();
      finish(undefined);
    },
  };
}

/** OpenSSL's reasons that have a plainer name. */
const TLS_REASON_WORDS: Readonly<Record<string, string>> = {
  // The first bytes back are not a TLS record: the port speaks something else, e.g. plain HTTP.
  'wrong version number': 'the answer is not TLS (wrong version number)',
};

/** OpenSSL's error string: `<thread>:error:<code>:<library>:<function>:<reason>:<file>:<line>:`. */
const OPENSSL_ERROR = /:error:[0-9A-Fa-f]+:[^:\n]*:[^:\n]*:([^:\n]+):/;

/** OpenSSL's reason for a failure: Node gives it as a property, or (a failed write: EPROTO) only inside the message. */
function openSslReason(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'reason' in err && typeof err.reason === 'string' && err.reason !== '') return err.reason;
  return OPENSSL_ERROR.exec(errorMessage(err))?.[1];
}

/**
 * Why a download failed, in one line: OpenSSL's reason rather than its whole error string (which carries its source
 * file and a newline), and "TLS handshake failed" for whatever ended an https connection before its handshake did.
 */
export function downloadErrorWords(err: unknown, secure: boolean, tlsCompleted: boolean | undefined): string {
  const reason = openSslReason(err);
  const words = reason === undefined ? errorMessage(err).replace(/\s+/g, ' ').trim() : (TLS_REASON_WORDS[reason] ?? reason);
  return secure && tlsCompleted !== true ? `TLS handshake failed: ${words}` : words;
}
