import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** The answer to every request after the first on a connection. */
export const LATER_REQUEST_REFUSAL =
  'one request per connection: this server answers only the first request of a connection (a test is read from its ' +
  "connection's packets), and this one came later on the same connection; send each request on a new connection";

/** The answer of the latest request of each connection. */
type LatestAnswer = WeakMap<Socket, ServerResponse>;

/**
 * Only the first request of an HTTP connection is served: a test is one request on a connection of its own (the
 * engine reads it from the connection's first data segment), and requests a client pipelines behind it must never be
 * stored or counted as tests of their own. They are answered, in order, with a refusal. Every answer closes the
 * connection unless another request is already waiting behind it, so the connection closes after the answer to the
 * last request that arrived.
 */
export class ConnectionRequests {
  private readonly latest: LatestAnswer = new WeakMap();

  /**
   * Notes a request. The first of its connection: true, the caller serves it. A later one: false, and `refuse` writes
   * its answer once the answer before it has gone out (only then is it known whether yet another request waits).
   */
  arrive(req: IncomingMessage, res: ServerResponse, refuse: (res: ServerResponse) => void): boolean {
    res.shouldKeepAlive = false;
    const previous = this.latest.get(req.socket);
    this.latest.set(req.socket, res);
    if (previous === undefined) return true;
    req.resume();
    // The first answer, not begun yet, can still leave the connection open for this one.
    if (!previous.headersSent) previous.shouldKeepAlive = true;
    const answer = (): void => {
      res.shouldKeepAlive = this.latest.get(req.socket) !== res;
      refuse(res);
    };
    if (previous.writableFinished) answer();
    else previous.once('finish', answer);
    return false;
  }
}
