import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Removes `path` if a signal ends the process. The lab's own handlers (installed by startLab, so called before this
 * one) tear the lab down; whichever handler runs last re-raises the signal.
 */
export function removeOnSignal(path: string): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    rmSync(path, { recursive: true, force: true });
    for (const s of SIGNALS) process.off(s, handler);
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  for (const s of SIGNALS) process.on(s, handler);
  return () => {
    for (const s of SIGNALS) process.off(s, handler);
  };
}

/**
 * Runs `use` with a new temporary directory (`prefix` plus random letters under the system's temp dir), which is
 * removed when `use` ends, however it ends, and if a signal ends the process first.
 */
export async function withScratchDir<T>(prefix: string, use: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const forget = removeOnSignal(dir);
  try {
    return await use(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    forget();
  }
}
