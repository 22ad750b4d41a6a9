/**
 * The tracefs instances `instances/mtl-<lab id>` that earlier versions of the lab made for their machine-wide
 * skb:kfree_skb trace (lab runs now use the tracer of src/trace, which holds `mtt-<pid>-<n>`, see tracefs.ts). A run
 * of such a version that was killed left its instance behind, with the event still enabled; `lab gc` removes them.
 */
import { existsSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TRACEFS_DIR } from '../trace/tracefs.js';
import { LAB_PREFIX } from './namespaces.js';

/** The `mtl-*` instances in tracefs, or none when tracefs is not mounted. */
export function listLegacyDropTraces(): string[] {
  try {
    return readdirSync(join(TRACEFS_DIR, 'instances')).filter((n) => n.startsWith(LAB_PREFIX));
  } catch {
    return [];
  }
}

/** Removes the `mtl-*` instances for which `isStale(name)` says their lab is gone; returns those removed. */
export function removeLegacyDropTraces(isStale: (instance: string) => boolean): string[] {
  const removed: string[] = [];
  for (const name of listLegacyDropTraces()) {
    if (!isStale(name)) continue;
    const dir = join(TRACEFS_DIR, 'instances', name);
    try {
      writeFileSync(join(dir, 'events', 'skb', 'kfree_skb', 'enable'), '0');
    } catch {
      // Never enabled, or gone meanwhile.
    }
    try {
      rmdirSync(dir);
    } catch {
      // Gone meanwhile, or busy (someone reads its trace_pipe): left for the next gc.
    }
    if (!existsSync(dir)) removed.push(name);
  }
  return removed;
}
