import { isIP } from 'node:net';
import { CheckerServer } from '../checker/checker-server.js';
import { ResultsStore } from '../checker/results-store.js';
import { parseServeOptions, SERVE_HELP, ServeOptionError, type ServeOptions } from '../checker/serve-options.js';
import { missingEngineCapabilities } from '../host/capabilities.js';
import { EngineProcess } from '../engine/engine-client.js';
import { DEFAULT_ENGINE_SETTINGS, type EngineSettings } from '../engine/packet-engine.js';
import { UsageError } from './command.js';

export { SERVE_HELP };

function log(line: string): void {
  process.stderr.write(`mtuscope serve: ${line}\n`);
}

export function engineSettings(o: ServeOptions): EngineSettings {
  return {
    ...DEFAULT_ENGINE_SETTINGS,
    port: o.port,
    icmpMtu: o.icmpMtu,
    maxFragment: o.fragmentSize,
    icmpWindowMs: o.windowMs,
    fragWindowMs: o.fragWindowMs,
    fragMaxRetransmissions: o.fragRetransmissions,
    icmpRate: o.icmpRate,
    fragmentRate: o.fragmentRate,
  };
}

function urlOf(address: string, port: number): string {
  return isIP(address) === 6 ? `http://[${address}]:${port}` : `http://${address}:${port}`;
}

/** `mtuscope serve`: runs until SIGINT or SIGTERM, then removes its rules and exits 0. */
export async function runServe(argv: readonly string[]): Promise<number> {
  let options: ServeOptions | undefined;
  try {
    options = parseServeOptions(argv);
  } catch (err) {
    if (err instanceof ServeOptionError) throw new UsageError(`serve: ${err.message}`);
    throw err;
  }
  if (options === undefined) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const missing = missingEngineCapabilities();
  if (missing.length > 0) {
    log(
      `needs root, or the capabilities CAP_NET_ADMIN and CAP_NET_RAW, to install its NFQUEUE rules and send raw packets; ` +
        `this process lacks ${missing.join(' and ')}. Run it as root (sudo) or grant them (e.g. setcap cap_net_admin,cap_net_raw+ep on node).`,
    );
    return 1;
  }
  const store = ResultsStore.open(options.storePath, { truncateClientAddress: options.truncateAddresses });
  const families = [...new Set(options.listen.map((a) => (isIP(a) === 6 ? 6 : 4)))];
  const engine = await EngineProcess.start(engineSettings(options), { queueNum: options.queueNum, mark: options.mark, families }, log).catch(
    (err: unknown) => {
      store.close();
      throw err;
    },
  );
  if (engine.replacedStaleRules) log(`replaced the firewall rules a previous run for port ${options.port} left behind`);
  const server = new CheckerServer({ options, engine, store, log });
  let listening: string[];
  try {
    listening = await server.listen();
  } catch (err) {
    await engine.stop();
    store.close();
    throw err;
  }
  log(`listening on ${listening.map((a) => urlOf(a, options.port)).join(' ')} (results in ${options.storePath})`);
  // The engine runs in a process of its own (engine-process.ts) so that packets never wait behind HTTP work; if it
  // dies the service cannot test anything and stops too.
  let signalled = false;
  const ended = await Promise.race([
    new Promise<string>((resolve) => {
      for (const s of ['SIGINT', 'SIGTERM'] as const) {
        process.once(s, () => {
          signalled = true;
          resolve(s);
        });
      }
    }),
    engine.exit.then((how) => `the packet engine (pid ${engine.pid}) ${how}`),
  ]);
  log(`${ended}: stopping`);
  await server.close();
  await engine.stop();
  store.close();
  // Ctrl-C reaches the engine too (same process group), which may then end first: that is no failure.
  if (!signalled) return 1;
  return 0;
}
