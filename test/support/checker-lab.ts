/**
 * A lab for the checker service: clients behind one router in front of the server, with `mtuscope serve` running in
 * the server's namespace. The router's features (dropping ICMP or fragments, clamping the MSS) and each client's
 * sysctls make the failure under test.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab } from '../../src/lab/lab.js';
import type { CommandResult } from '../../src/host/process-runner.js';
import type { LabProcess, RunningLab } from '../../src/lab/running-lab.js';
import type { NodeSpec } from '../../src/lab/spec.js';
import type { TestResult } from '../../src/checker/test-result.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import { CLI } from './cli.js';

export const PORT = 8080;
/** The article's payload: 45 bytes x 180 = 8100 bytes. */
export const ARTICLE_PAYLOAD = 'packettoolongyaithuji6reeNab4XahChaeRah1diej4'.repeat(180);

export interface CheckerLabSpec {
  readonly name: string;
  readonly router?: Partial<NodeSpec>;
  readonly server?: Partial<NodeSpec>;
  readonly clients: readonly (Partial<NodeSpec> & {
    readonly name: string;
    /** The MTU of the router's end of this client's link (the client's end stays 1500): a smaller link toward it. */
    readonly routerSideMtu?: number;
  })[];
  /**
   * A second router ('core') between the router and the server, joined to the router by a link of this MTU: the
   * router then owns a smaller link toward the server, as r1 of examples/labs/pmtu-blackhole.yaml does (with
   * `router: { dropPacketTooBig: true }`, a real black hole on the client's side).
   */
  readonly bottleneckMtu?: number;
}

export interface CheckerLab {
  readonly lab: RunningLab;
  readonly server4: string;
  readonly server6: string;
  /** A temp dir for the store and payloads; removed by destroy(). */
  readonly dir: string;
  readonly payloadFile: string;
  /** Starts `mtuscope serve` on both server addresses; resolves when it listens. */
  serve(extraArgs?: readonly string[], storeName?: string): Promise<LabProcess>;
  /** Like serve(), with another program that takes serve's options and says "listening on" (a test harness). */
  serveWith(program: readonly string[], extraArgs?: readonly string[], storeName?: string): Promise<LabProcess>;
  url(family: IpFamily, path: string): string;
  /** curl from a client; never throws (see code/stdout/stderr). */
  curl(client: string, args: readonly string[], timeoutMs?: number): Promise<CommandResult>;
  /** POST the article's payload to /icmp?format=json and parse the result. */
  icmpJson(client: string, family: IpFamily, timeoutMs?: number): Promise<{ result: TestResult; ms: number }>;
  fragJson(client: string, family: IpFamily, timeoutMs?: number): Promise<{ result: TestResult; ms: number; padding: number }>;
  destroy(): Promise<void>;
}

export async function startCheckerLab(spec: CheckerLabSpec): Promise<CheckerLab> {
  const lab = await startLab({
    name: spec.name,
    nodes: [
      ...spec.clients.map(({ routerSideMtu: _mtu, ...c }) => ({ kind: 'host' as const, ...c })),
      { name: 'router', kind: 'router', ...spec.router },
      ...(spec.bottleneckMtu === undefined ? [] : [{ name: 'core', kind: 'router' as const }]),
      { name: 'server', kind: 'host', ...spec.server },
    ],
    links: [
      ...spec.clients.map((c, i) => ({
        endpoints: [{ node: c.name, ifname: 'eth1' }, { node: 'router', ifname: `eth${i + 2}`, ...(c.routerSideMtu === undefined ? {} : { mtu: c.routerSideMtu }) }] as const,
      })),
      ...(spec.bottleneckMtu === undefined
        ? [{ endpoints: [{ node: 'router', ifname: 'eth1' }, { node: 'server', ifname: 'eth1' }] as const }]
        : [
            { endpoints: [{ node: 'router', ifname: 'eth1' }, { node: 'core', ifname: 'eth1' }] as const, mtu: spec.bottleneckMtu },
            { endpoints: [{ node: 'core', ifname: 'eth2' }, { node: 'server', ifname: 'eth1' }] as const },
          ]),
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), 'mtuscope-checker-'));
  const payloadFile = join(dir, 'payload.bin');
  writeFileSync(payloadFile, ARTICLE_PAYLOAD);
  const server4 = lab.address('server', 4);
  const server6 = lab.address('server', 6);
  const url = (family: IpFamily, path: string): string => (family === 4 ? `http://${server4}:${PORT}${path}` : `http://[${server6}]:${PORT}${path}`);
  const curl = (client: string, args: readonly string[], timeoutMs = 60_000): Promise<CommandResult> =>
    lab.exec(client, ['curl', '-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), ...args], { timeoutMs: timeoutMs + 5000 });
  const parse = (r: CommandResult, what: string): TestResult => {
    try {
      return JSON.parse(r.stdout) as TestResult;
    } catch {
      throw new Error(`${what}: not JSON (curl exit ${r.code}): ${r.stdout.slice(0, 400)} ${r.stderr}`);
    }
  };
  const serveWith = async (program: readonly string[], extraArgs: readonly string[] = [], storeName = 'results.sqlite'): Promise<LabProcess> => {
    const p = lab.spawn('server', [...program, '--listen', server4, '--listen', server6, '--port', String(PORT), '--store', join(dir, storeName), ...extraArgs]);
    await p.waitForOutput(/listening on/, 20_000);
    return p;
  };
  return {
    lab,
    server4,
    server6,
    dir,
    payloadFile,
    serve: (extraArgs, storeName) => serveWith([process.execPath, CLI, 'serve'], extraArgs, storeName),
    serveWith,
    url,
    curl,
    async icmpJson(client, family, timeoutMs = 60_000) {
      const t = performance.now();
      const r = await curl(client, [url(family, '/icmp?format=json'), '--data-binary', `@${payloadFile}`], timeoutMs);
      return { result: parse(r, `/icmp IPv${family} from ${client}`), ms: performance.now() - t };
    },
    async fragJson(client, family, timeoutMs = 60_000) {
      const t = performance.now();
      const r = await curl(client, [url(family, '/frag?format=json')], timeoutMs);
      const parsed = parse(r, `/frag IPv${family} from ${client}`) as TestResult & { padding?: string };
      return { result: parsed, ms: performance.now() - t, padding: parsed.padding?.length ?? 0 };
    },
    async destroy() {
      try {
        await lab.destroy();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
