import { rmSync } from 'node:fs';

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
