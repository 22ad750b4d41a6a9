import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** The answer to every request after the first on a connection. */
export const LATER_REQUEST_REFUSAL =
  'one request per connection: this server answers only the first request of a connection (a test is read from its ' +
  "connection's packets), and this one came later on the same connection; send each request on a new connection";

/**
 * Requests a connection may bring before it is closed outright: each waits in memory for its refusal, and a client
 * could pipeline thousands of tiny ones in a single write.
 */
export const MAX_REQUESTS_PER_CONNECTION = 16;

interface ConnectionState {
  requests: number;
  /** The answer of the latest request. */
  latest: ServerResponse;
}

/**
 * Only the first request of an HTTP connection is served: a test is one request on a connection of its own (the
 * engine reads it from the connection's first data segment), and requests a client pipelines behind it must never be
 * stored or counted as tests of their own. They are answered, in order, with a refusal. The first answer closes the
 * connection unless another request is already waiting behind it; a refusal never does, because more pipelined
 * requests may still be on their way (a test's upload is re-sent in smaller packets, so the requests behind it arrive
 * late): the server's keep-alive timeout closes the connection once the client has sent nothing for a while.
 */
export class ConnectionRequests {
  private readonly states = new WeakMap<Socket, ConnectionState>();

  /**
   * Notes a request. The first of its connection: true, the caller serves it. A later one: false, and `refuse` writes
   * its answer once the answer before it has gone out (only then is it known whether yet another request waits).
   * Past MAX_REQUESTS_PER_CONNECTION the connection is closed, unanswered.
   */
  arrive(req: IncomingMessage, res: ServerResponse, refuse: (res: ServerResponse) => void): boolean {
    res.shouldKeepAlive = false;
    const state = this.states.get(req.socket);
    if (state === undefined) {
      this.states.set(req.socket, { requests: 1, latest: res });
      return true;
    }
    const previous = state.latest;
    state.latest = res;
    if (++state.requests > MAX_REQUESTS_PER_CONNECTION) {
      req.socket.destroy();
      return false;
    }
    req.resume();
    // The first answer, not begun yet, can still leave the connection open for this one.
    if (!previous.headersSent) previous.shouldKeepAlive = true;
    const answer = (): void => {
      res.shouldKeepAlive = true;
      refuse(res);
    };
    if (previous.writableFinished) answer();
    else previous.once('finish', answer);
    return false;
  }
}
