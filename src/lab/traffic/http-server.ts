/**
 * A small HTTP server inside a lab node, the far end of every curl transfer: it swallows request bodies (uploads) and
 * answers `?bytes=N` with N bytes (downloads). It listens on all addresses of both families, so anycast service
 * addresses on `lo` work too, and logs each connection and completed request, so a scenario can tell which of several
 * servers behind an ECMP router got which connection.
 */
import type { LabProcess } from '../running-lab.js';
import type { LabNodes } from './lab-nodes.js';

export const DEFAULT_HTTP_PORT = 8080;

const SERVER_SCRIPT = `
const http = require('node:http');
const port = Number(process.argv[1]);
const server = http.createServer((req, res) => {
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
    console.log('request ' + req.socket.remotePort + ' ' + req.method + ' in=' + received + ' out=' + size);
  });
});
server.on('connection', (s) => console.log('connection ' + s.remoteAddress + ' ' + s.remotePort));
server.listen(port, '::', () => console.log('ready'));
`;

export interface HttpConnectionLog {
  readonly remoteAddress: string;
  readonly remotePort: number;
}

export interface HttpServer {
  readonly node: string;
  readonly port: number;
  readonly process: LabProcess;
  /** Connections accepted so far (IPv4 clients appear as ::ffff:a.b.c.d). */
  connections(): HttpConnectionLog[];
  /** Client ports whose request completed (body fully received and answer sent). */
  completedPorts(): number[];
  stop(): Promise<void>;
}

export async function startHttpServer(lab: LabNodes, node: string, port = DEFAULT_HTTP_PORT): Promise<HttpServer> {
  const proc = lab.spawn(node, ['node', '-e', SERVER_SCRIPT, String(port)]);
  await proc.waitForOutput(/^ready$/m, 10_000);
  const lines = (kind: string): string[][] =>
    proc.stdout
      .split('\n')
      .filter((l) => l.startsWith(`${kind} `))
      .map((l) => l.split(' '));
  return {
    node,
    port,
    process: proc,
    connections: () => lines('connection').map(([, address, p]) => ({ remoteAddress: address ?? '', remotePort: Number(p) })),
    completedPorts: () => lines('request').map(([, p]) => Number(p)),
    stop: async () => {
      await proc.stop('SIGTERM', 1000);
    },
  };
}
