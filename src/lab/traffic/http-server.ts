/**
 * A small HTTP server inside a lab node, the far end of every curl transfer: it swallows request bodies (uploads) and
 * answers `?bytes=N` with N bytes (downloads). It listens on all addresses of both families, so anycast service
 * addresses on `lo` work too, and logs each connection and completed request, so a scenario can tell which of several
 * servers behind an ECMP router got which connection. Given a key and a certificate (PEM files) it speaks HTTPS
 * instead, and logs each failed TLS handshake.
 */
import { startListener, type LabNodes, type Listener } from './lab-nodes.js';

export const DEFAULT_HTTP_PORT = 8080;

const SERVER_SCRIPT = `
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const port = Number(process.argv[1]);
const [keyFile, certFile] = process.argv.slice(2);
const tls = keyFile === undefined ? undefined : { key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) };
const handler = (req, res) => {
  // Read now: once the client has cut the download short (the server test does), a TLS socket no longer knows it.
  const remotePort = req.socket.remotePort;
  let received = 0;
  req.on('data', (d) => { received += d.length; });
  req.on('end', () => {
    const url = new URL(req.url, 'http://x');
    const size = Number(url.searchParams.get('bytes') ?? '0');
    if (size > 0) {
      res.setHeader('content-length', String(size));
      res.end(Buffer.alloc(size, 0x61));
    } else {
      res.end('received ' + received + '\\n');
    }
    console.log('request ' + remotePort + ' ' + req.method + ' in=' + received + ' out=' + size);
  });
};
const server = tls === undefined ? http.createServer(handler) : https.createServer(tls, handler);
server.on('tlsClientError', (err, s) => console.log('tls-error ' + s.remotePort + ' ' + (err.code ?? err.message)));
server.on('connection', (s) => console.log('connection ' + s.remoteAddress + ' ' + s.remotePort));
server.listen(port, '::', () => console.log('ready'));
`;

/** A key and its certificate, PEM files readable inside the lab's nodes: the server then speaks HTTPS. */
export interface TlsFiles {
  readonly keyFile: string;
  readonly certFile: string;
}

export interface HttpConnectionLog {
  readonly remoteAddress: string;
  readonly remotePort: number;
}

export interface HttpServer extends Listener {
  readonly port: number;
  /** Connections accepted so far (IPv4 clients appear as ::ffff:a.b.c.d). */
  connections(): HttpConnectionLog[];
  /** Client ports whose request completed (body fully received and answer sent). */
  completedPorts(): number[];
  /** Client ports whose TLS handshake failed (HTTPS only). */
  tlsFailedPorts(): number[];
}

export async function startHttpServer(lab: LabNodes, node: string, port = DEFAULT_HTTP_PORT, tls?: TlsFiles): Promise<HttpServer> {
  const listener = await startListener(lab, node, SERVER_SCRIPT, port, tls === undefined ? [] : [tls.keyFile, tls.certFile]);
  const lines = (kind: string): string[][] =>
    listener.process.stdout
      .split('\n')
      .filter((l) => l.startsWith(`${kind} `))
      .map((l) => l.split(' '));
  return {
    ...listener,
    port,
    connections: () => lines('connection').map(([, address, p]) => ({ remoteAddress: address ?? '', remotePort: Number(p) })),
    completedPorts: () => lines('request').map(([, p]) => Number(p)),
    tlsFailedPorts: () => lines('tls-error').map(([, p]) => Number(p)),
  };
}
