/**
 * Removes what labs whose process died without tearing down (SIGKILL, a crash, a power cut of the test runner) left
 * behind: their namespaces (with the processes still inside them, and so their veths, tunnels and rules), their
 * registry entries, the tracefs holds (`mtt-<pid>-<n>`) of dead tracers, and the `mtl-*` drop-trace instances of
 * earlier versions. Labs of live owners and `lab up` labs are left alone. A dead tracer's bpftrace needs nothing: it
 * got the parent-death signal and its probes went with it (src/trace/bpftrace-tracer.ts).
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { removeStaleTracefsHolds } from '../trace/tracefs.js';
import { removeLegacyDropTraces } from './legacy-drop-traces.js';
import { deleteNamespaces, killPids, labIdOf, listNamespaces, pidsInNamespaces } from './namespaces.js';
import { processAlive } from '../host/process-runner.js';
import { isLive, readRegistry, registryDir, removeRecord, type LabRecord } from './registry.js';

export interface GcReport {
  readonly namespaces: readonly string[];
  /** Ids of the registry entries removed. */
  readonly records: readonly string[];
  /** Processes killed inside the removed namespaces. */
  readonly processes: readonly number[];
  /** tracefs instances removed: holds of dead tracers (`mtt-*`) and drop traces of earlier versions (`mtl-*`). */
  readonly traces: readonly string[];
  /** Namespaces that could not be deleted. */
  readonly failed: readonly string[];
}

function stillThere(record: LabRecord, present: ReadonlySet<string>): boolean {
  return record.namespaces.some((n) => present.has(n));
}

function removeStaleTempFiles(): void {
  let files: string[];
  try {
    files = readdirSync(registryDir());
  } catch {
    return;
  }
  for (const f of files) {
    const pid = /^\.[0-9a-f]+\.(\d+)\.tmp$/.exec(f)?.[1];
    if (pid !== undefined && !processAlive(Number(pid))) rmSync(join(registryDir(), f), { force: true });
  }
}

export async function gcLabs(): Promise<GcReport> {
  // Namespaces first, registry second: a lab writes its entry before its first namespace, so every lab namespace
  // seen here has its entry in the registry read afterwards (a lab being built right now is not mistaken for debris).
  const namespaces = listNamespaces().filter((n) => labIdOf(n) !== undefined);
  const present = new Set(namespaces);
  const { records, broken } = readRegistry();
  const liveIds = new Set<string>();
  const staleRecords: string[] = [...broken];
  for (const r of records) {
    // A `lab up` lab whose namespaces someone deleted by hand is gone too.
    const live = r.ownerPid === null ? stillThere(r, present) : isLive(r);
    if (live) liveIds.add(r.id);
    else staleRecords.push(r.id);
  }
  const stale = namespaces.filter((n) => !liveIds.has(labIdOf(n) ?? ''));
  const processes = pidsInNamespaces(stale);
  killPids(processes);
  const failed = await deleteNamespaces(stale);
  for (const id of staleRecords) removeRecord(id);
  removeStaleTempFiles();
  const legacy = removeLegacyDropTraces((instance) => {
    const id = labIdOf(instance);
    return id !== undefined && !liveIds.has(id);
  });
  // Last: it unmounts tracefs if we mounted it and nothing is left in it.
  const traces = [...legacy, ...removeStaleTracefsHolds()];
  return { namespaces: stale.filter((n) => !failed.includes(n)), records: staleRecords, processes, traces, failed };
}
