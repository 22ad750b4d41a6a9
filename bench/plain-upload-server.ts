/**
 * The reference of bench/checker: a plain node:http server that reads an uploaded body and answers with a short
 * JSON verdict, on a port the packet engine does not handle. The same load against it and against the checker shows
 * what the checker's work (engine, verdict, results store) costs on top of node's own HTTP handling.
 *
 *   node dist/bench/plain-upload-server.js PORT     (listens on 0.0.0.0 and ::, prints "listening")
 */
import { createServer, type Server } from 'node:http';

function listen(host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      // Connection: close, like the checker, so both sides pay for one connection per request.
      res.writeHead(200, { 'Content-Type': 'application/json', Connection: 'close' });
      res.end(`${JSON.stringify({ verdict: 'received', bytes })}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, ipv6Only: host === '::' }, () => resolve(server));
  });
}

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write(`plain-upload-server: "${process.argv[2] ?? ''}" is not a port\n`);
  process.exit(2);
}
const servers = await Promise.all([listen('0.0.0.0', port), listen('::', port)]);
process.stdout.write('listening\n');
process.once('SIGTERM', () => {
  for (const s of servers) s.close();
  for (const s of servers) s.closeAllConnections();
});
