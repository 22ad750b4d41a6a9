/**
 * Labs known only from the registry, i.e. built by another process (`lab up`): finding them by name or id, and tearing
 * them down the same way a lab's own process would.
 */
import { deleteNamespaces, killPids, pidsInNamespaces } from './namespaces.js';
import { findLabs, isLive, removeRecord, type LabRecord } from './registry.js';

export class LabLookupError extends Error {
  override readonly name = 'LabLookupError';
}

/** The one live lab called `nameOrId` (a name or an id); throws LabLookupError naming what is wrong otherwise. */
export function resolveLab(nameOrId: string): LabRecord {
  const found = findLabs(nameOrId).filter(isLive);
  const [first, second] = found;
  if (first === undefined) throw new LabLookupError(`no lab named "${nameOrId}" is up (see "mtuscope lab list")`);
  if (second !== undefined) {
    throw new LabLookupError(`several labs are named "${nameOrId}" (ids ${found.map((r) => r.id).join(', ')}); give the id instead`);
  }
  return first;
}

/** Kills whatever runs inside, deletes the namespaces and the registry entry. */
export async function tearDownRecordedLab(record: LabRecord): Promise<void> {
  killPids(pidsInNamespaces(record.namespaces));
  const left = await deleteNamespaces(record.namespaces);
  if (left.length > 0) throw new Error(`lab ${record.name}: could not delete namespaces ${left.join(' ')}`);
  removeRecord(record.id);
}
