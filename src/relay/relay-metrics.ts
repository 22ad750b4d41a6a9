/**
 * `mtuscope relay --metrics ADDR:PORT`: the relay's counters in the Prometheus text format (prom-client), read from
 * the core at each scrape, so the figures are the same the final summary prints.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Registry } from 'prom-client';
import type { QueueKernelCounters } from '../host/queue-counters.js';
import type { RelayCounters } from './relay-core.js';

function collected(registry: Registry, name: string, help: string, labelNames: readonly string[], fill: (c: Counter) => void): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: Counter) {
      this.reset();
      fill(this);
    },
  });
}

export function relayRegistry(counters: RelayCounters, queue: () => QueueKernelCounters | undefined, overQueueLimit: () => number | undefined): Registry {
  const registry = new Registry();
  collected(registry, 'mtuscope_relay_messages_total', 'Packet Too Big messages taken from the netfilter queue.', [], (c) => c.inc(counters.queued));
  collected(registry, 'mtuscope_relay_envelopes_total', 'Envelopes received from peer relays (UDP).', [], (c) => c.inc(counters.envelopes));
  collected(registry, 'mtuscope_relay_relayed_total', 'Messages relayed, by method: owner (steered to the one next hop carrying the flow), broadcast (to every peer relay), fallback (owner not known: to every candidate).', ['method'], (c) => {
    for (const [method, n] of Object.entries(counters.relayed)) c.inc({ method }, n);
  });
  collected(registry, 'mtuscope_relay_fallback_total', 'Messages sent to every candidate because the owner of the flow was not known, by why.', ['reason'], (c) => {
    for (const [reason, n] of Object.entries(counters.fallback)) c.inc({ reason }, n);
  });
  collected(registry, 'mtuscope_relay_copies_total', 'Copies sent: fallback copies, envelopes to peers, peer messages handed to this host\'s kernel.', [], (c) => c.inc(counters.copies));
  collected(registry, 'mtuscope_relay_injected_total', 'Messages from peer relays handed to this host\'s kernel.', [], (c) => c.inc(counters.injected));
  collected(registry, 'mtuscope_relay_ignored_total', 'Messages left alone, by reason (validation, limits, loop marker, unknown sender).', ['reason'], (c) => {
    for (const [reason, n] of Object.entries(counters.ignored)) c.inc({ reason }, n ?? 0);
  });
  collected(registry, 'mtuscope_relay_queue_dropped_total', 'Packet Too Big messages the kernel dropped before the relay could read them, by why: queue-full (too many waiting for a verdict), socket-full (the relay\'s socket buffer).', ['reason'], (c) => {
    const q = queue();
    if (q === undefined) return;
    c.inc({ reason: 'queue-full' }, q.queueFull);
    c.inc({ reason: 'socket-full' }, q.socketFull);
  });
  collected(registry, 'mtuscope_relay_over_queue_limit_total', 'Packet Too Big messages the kernel-side rate limits kept from the relay\'s queue (forwarded or delivered as without the relay).', [], (c) => {
    const n = overQueueLimit();
    if (n !== undefined) c.inc(n);
  });
  collected(
    registry,
    'mtuscope_relay_kernel_total',
    'The kernel steering (owner mode, tc BPF) by counter: relayed_owner, relayed_owner_unknown and relayed_shared_interface (messages relayed there, also in mtuscope_relay_relayed_total), copies, limited (refused by its limits, reported through the queue), left_to_user_space (not judged there: to the queue), events_lost (relayed but not reported: ring buffer full), copies_failed, copies_forwarded (copies sent through the policy route, the next hop\'s link address not known yet).',
    ['counter'],
    (c) => {
      const k = counters.kernel;
      if (k === undefined) return;
      for (const [name, n] of Object.entries(k)) c.inc({ counter: name.replace(/[A-Z]/g, (x) => `_${x.toLowerCase()}`) }, n);
    },
  );
  return registry;
}

/** `refresh` runs before each scrape: counters kept elsewhere (the kernel steering's) are read then, not as of earlier. */
export function serveMetrics(registry: Registry, host: string, port: number, refresh: () => void = () => undefined): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the relay serves GET /metrics\n');
      return;
    }
    try {
      refresh();
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`);
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
