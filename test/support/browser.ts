/**
 * Headless Chromium (Debian's /usr/bin/chromium driven by playwright-core) running inside a network namespace, so
 * that a page's requests leave from a lab node like those of a real client; and a reader of the checker page's
 * result elements.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { CheckerTest } from '../../src/checker/test-result.js';
import type { IpFamilyName } from '../../src/packet/ip-family.js';
import { errorMessage } from '../../src/util/error-message.js';

export const DEBIAN_CHROMIUM = '/usr/bin/chromium';
/** The binary Debian's launcher script execs; the launcher can exist before it while apt still unpacks. */
const DEBIAN_CHROMIUM_BINARY = '/usr/lib/chromium/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // A proxy from the environment would take the lab's traffic elsewhere.
  '--no-proxy-server',
];
const LAUNCH_TIMEOUT_MS = 60_000;
const CLOSE_TIMEOUT_MS = 10_000;
const EXIT_GRACE_MS = 5_000;

export interface BrowserSession {
  readonly page: Page;
  readonly context: BrowserContext;
  /** The session's fresh profile (inside tempDir). */
  readonly userDataDir: string;
  /**
   * Profile, HOME and wrapper script: every process of the session has this path on its command line (the crash
   * handlers only through their database below HOME).
   */
  readonly tempDir: string;
  /** Uncaught exceptions of the page's scripts, in order. */
  readonly pageErrors: readonly string[];
  /** Closes the browser, kills (by PID) any process of the session that outlives it, removes the temp dirs. */
  close(): Promise<void>;
}

export interface OpenBrowserOptions {
  /** Default /usr/bin/chromium. */
  readonly chromiumPath?: string;
  /** How long to wait for Chromium to appear (apt may still be installing it); default 5 minutes. */
  readonly waitForChromiumMs?: number;
}

function cmdlineOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') return undefined; // Dead, only not reaped yet.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

/** Live processes whose command line contains `needle`. */
export function livePidsWith(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    if (cmdlineOf(Number(entry))?.includes(needle) === true) pids.push(Number(entry));
  }
  return pids;
}

async function waitForFiles(paths: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const missing = paths.filter((p) => !existsSync(p));
    if (missing.length === 0) return;
    if (Date.now() > deadline) throw new Error(`Chromium not installed: ${missing.join(', ')} still missing after ${timeoutMs} ms`);
    await delay(1000);
  }
}

function quoteForShell(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

class Session implements BrowserSession {
  readonly pageErrors: string[] = [];
  private closing: Promise<void> | undefined;

  constructor(
    readonly context: BrowserContext,
    readonly page: Page,
    readonly userDataDir: string,
    readonly tempDir: string,
    private readonly pidFile: string,
    private readonly forgetExitCleanUp: () => void,
  ) {
    page.on('pageerror', (err) => this.pageErrors.push(err.message));
  }

  close(): Promise<void> {
    this.closing ??= closeSession(this.context, this.tempDir, this.pidFile).finally(this.forgetExitCleanUp);
    return this.closing;
  }
}

/**
 * For a test process that ends without close() (a failed assertion in a `before`, process.exit): kill what is left
 * of the session and remove its temp dir, synchronously as an exit handler must.
 */
function cleanUpOnExit(tempDir: string, pidFile: string): () => void {
  const cleanUp = (): void => {
    for (const pid of sessionPids(tempDir, pidFile)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
    rmSync(tempDir, { recursive: true, force: true });
  };
  process.once('exit', cleanUp);
  return () => process.off('exit', cleanUp);
}

/** The session's processes: the browser (the wrapper's PID, which exec kept) and all that name the temp dir. */
function sessionPids(tempDir: string, pidFile: string): number[] {
  const pids = new Set(livePidsWith(tempDir));
  try {
    const browserPid = Number(readFileSync(pidFile, 'utf8').trim());
    // Only if it is still ours: a PID can be reused once the browser is gone.
    if (browserPid > 0 && cmdlineOf(browserPid)?.includes(tempDir) === true) pids.add(browserPid);
  } catch {
    // The wrapper never ran.
  }
  return [...pids];
}

async function untilGone(tempDir: string, pidFile: string, ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = sessionPids(tempDir, pidFile);
    if (left.length === 0 || Date.now() > deadline) return left;
    await delay(100);
  }
}

async function closeSession(context: BrowserContext | undefined, tempDir: string, pidFile: string): Promise<void> {
  try {
    if (context !== undefined) {
      const timer = new AbortController();
      await Promise.race([context.close(), delay(CLOSE_TIMEOUT_MS, undefined, { signal: timer.signal }).catch(() => undefined)]).finally(() => timer.abort());
    }
  } catch {
    // A browser that crashed is closed enough; its processes are dealt with below.
  }
  let left = await untilGone(tempDir, pidFile, EXIT_GRACE_MS);
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  if (left.length > 0) left = await untilGone(tempDir, pidFile, EXIT_GRACE_MS);
  rmSync(tempDir, { recursive: true, force: true });
  if (left.length > 0) throw new Error(`Chromium processes ${left.join(' ')} of ${tempDir} survived SIGKILL`);
}

/**
 * Starts headless Chromium inside network namespace `namespace` (by a wrapper script that `ip netns exec`s it, so
 * playwright's pipe to the browser survives) with a fresh profile and HOME in a temp dir. Always close() the session.
 */
export async function openBrowserInNamespace(namespace: string, options: OpenBrowserOptions = {}): Promise<BrowserSession> {
  if (!/^[A-Za-z0-9_.-]+$/.test(namespace)) throw new RangeError(`not a namespace name: ${JSON.stringify(namespace)}`);
  const chromiumPath = options.chromiumPath ?? DEBIAN_CHROMIUM;
  await waitForFiles(chromiumPath === DEBIAN_CHROMIUM ? [DEBIAN_CHROMIUM, DEBIAN_CHROMIUM_BINARY] : [chromiumPath], options.waitForChromiumMs ?? 300_000);

  const tempDir = mkdtempSync(join(tmpdir(), 'mtuscope-browser-'));
  const userDataDir = join(tempDir, 'profile');
  const home = join(tempDir, 'home');
  const pidFile = join(tempDir, 'browser.pid');
  const wrapper = join(tempDir, 'chromium-in-netns');
  writeFileSync(
    wrapper,
    `#!/bin/sh\necho $$ > ${quoteForShell(pidFile)}\nexec ip netns exec ${quoteForShell(namespace)} ${quoteForShell(chromiumPath)} "$@"\n`,
    { mode: 0o755 },
  );
  const forgetExitCleanUp = cleanUpOnExit(tempDir, pidFile);
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: wrapper,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: LAUNCH_TIMEOUT_MS,
      // Chromium and Debian's launcher write below HOME and the XDG dirs; keep that inside the temp dir.
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_CACHE_HOME: join(home, '.cache') },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    return new Session(context, page, userDataDir, tempDir, pidFile, forgetExitCleanUp);
  } catch (err) {
    await closeSession(context, tempDir, pidFile).catch(() => undefined);
    forgetExitCleanUp();
    throw new Error(`Chromium in network namespace ${namespace} did not start: ${errorMessage(err)}`, { cause: err });
  }
}

export interface VerdictQuery {
  readonly family: IpFamilyName;
  readonly test: CheckerTest;
  /** The result element's data-target (index of the page's target); needed when several targets share a family. */
  readonly target?: number;
}

export interface ShownVerdict {
  /** data-state: idle, queued, running, done or error. */
  readonly state: string;
  /** data-verdict, set once the state is done. */
  readonly verdict: string | null;
  /** What the element shows: status, explanation, advice, evidence. */
  readonly text: string;
}

/** The key of a query in waitForVerdicts' answer: `ipv4/icmp`, or `ipv4/icmp#2` with a target. */
export function verdictKey(query: VerdictQuery): string {
  return `${query.family}/${query.test}${query.target === undefined ? '' : `#${query.target}`}`;
}

const FINAL_STATES = new Set(['done', 'error']);

async function readResult(page: Page, query: VerdictQuery): Promise<ShownVerdict | undefined> {
  const selector = `.result[data-family="${query.family}"][data-test="${query.test}"]${query.target === undefined ? '' : `[data-target="${query.target}"]`}`;
  const found = page.locator(selector);
  const count = await found.count();
  if (count === 0) return undefined;
  if (count > 1) throw new Error(`${count} result elements match ${verdictKey(query)}: give the target`);
  const [state, verdict, text] = await Promise.all([found.getAttribute('data-state'), found.getAttribute('data-verdict'), found.innerText()]);
  return { state: state ?? '', verdict, text };
}

/**
 * Waits until every queried result element of the checker page is done or failed and returns what they show, keyed
 * by verdictKey(); throws with the states seen last if that takes longer than `timeoutMs`.
 */
export async function waitForVerdicts(page: Page, expected: readonly VerdictQuery[], timeoutMs: number): Promise<Record<string, ShownVerdict>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen: Record<string, ShownVerdict> = {};
    const pending: string[] = [];
    for (const query of expected) {
      const shown = await readResult(page, query);
      if (shown !== undefined) seen[verdictKey(query)] = shown;
      if (shown === undefined || !FINAL_STATES.has(shown.state)) pending.push(`${verdictKey(query)}: ${shown === undefined ? 'no such element' : `${shown.state} (${shown.text.split('\n')[0] ?? ''})`}`);
    }
    if (pending.length === 0) return seen;
    if (Date.now() > deadline) throw new Error(`checker page: no verdict after ${timeoutMs} ms for ${pending.join('; ')}`);
    await delay(250);
  }
}
