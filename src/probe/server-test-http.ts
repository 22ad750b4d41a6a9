/**
 * The server test's HTTP client: one GET of the URL over one fresh connection to one address of its host (http or
 * https), reporting the moment the connection's handshake completed (so the test starts watching it only then) and
 * how the download went. The body is counted and discarded. For https the certificate is not verified: nothing of
 * the content is used, only the server's TCP behaviour is measured, and a test of a site with a broken or private
 * certificate must still run. The test ends the download itself (`cut`) once its verdict is settled.
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
  let settle: (o: HttpOutcome) => void = () => undefined;
  const done = new Promise<HttpOutcome>((resolve) => {
    settle = resolve;
  });
  const finish = (error: string | undefined): void => settle({ status, bytes, error: cutShort ? undefined : error, cutShort });
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
    res.on('error', (err) => finish(errorMessage(err)));
    res.on('aborted', () => finish('the server ended the connection before the end of the answer'));
  });
  const timer = setTimeout(() => {
    req.destroy(new Error(`no end of the answer within ${timeoutMs / 1000} s`));
  }, timeoutMs);
  void done.finally(() => clearTimeout(timer));
  req.on('socket', (socket: Socket) => {
    // For https this is the TLS socket; its 'connect' is the TCP handshake's completion, before the TLS one.
    socket.once('connect', () => {
      if (socket.localAddress === undefined || socket.localPort === undefined || socket.remoteAddress === undefined || socket.remotePort === undefined) return;
      onConnected({ localAddress: socket.localAddress, localPort: socket.localPort, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort });
    });
  });
  req.on('error', (err) => finish(errorMessage(err)));
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
