/**
 * The lab registry: one JSON file per lab, written before the lab's first namespace exists, so that whatever a lab
 * leaves behind when its process dies can be traced to it (and to whether its owner still lives) by `lab gc`.
 *
 * A lab started by `mtuscope lab up` outlives the command and has no owner (null) once built; every other lab is owned
 * by the process that built it and is stale as soon as that process is gone.
 */
import { linkSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../host/process-runner.js';
import type { PlannedLab } from './plan.js';

export const DEFAULT_REGISTRY_DIR = '/run/mtuscope/labs';

export interface LabRecord {
  readonly id: string;
  readonly name: string;
  readonly namespaces: readonly string[];
  readonly ownerPid: number | null;
  /** ISO 8601. */
  readonly created: string;
  readonly plan: PlannedLab;
}

export function registryDir(): string {
  const fromEnv = process.env['MTUSCOPE_LAB_DIR'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_REGISTRY_DIR;
}

function recordPath(id: string): string {
  return join(registryDir(), `${id}.json`);
}

function writeTemp(record: LabRecord): string {
  const dir = registryDir();
  const tmp = join(dir, `.${record.id}.${process.pid}.tmp`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') throw err;
    // Said in words: a bare "EACCES: permission denied, mkdir '/run/mtuscope'" leaves a user guessing what it was for.
    throw new Error(`cannot write the lab registry in ${dir} (${code}): labs are registered there so that "lab gc" can find what they leave behind; run as root`, {
      cause: err,
    });
  }
  return tmp;
}

/**
 * Registers a new lab; false if its id is taken already (another process picked the same random id just now).
 * Write-then-link: a reader (gc, list) never sees half a file, and the link fails rather than overwrites.
 */
export function claimRecord(record: LabRecord): boolean {
  const tmp = writeTemp(record);
  try {
    linkSync(tmp, recordPath(record.id));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Replaces a lab's entry (e.g. when a `lab up` lab is built and loses its owner). */
export function writeRecord(record: LabRecord): void {
  renameSync(writeTemp(record), recordPath(record.id));
}

export function removeRecord(id: string): void {
  rmSync(recordPath(id), { force: true });
}

function isRecord(value: unknown): value is LabRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v['id'] === 'string' &&
    typeof v['name'] === 'string' &&
    Array.isArray(v['namespaces']) &&
    (v['ownerPid'] === null || typeof v['ownerPid'] === 'number') &&
    typeof v['created'] === 'string' &&
    typeof v['plan'] === 'object'
  );
}

/** Every readable record; unreadable files are reported by their id in `broken` so gc can remove them. */
export function readRegistry(): { records: LabRecord[]; broken: string[] } {
  let files: string[];
  try {
    files = readdirSync(registryDir());
  } catch {
    return { records: [], broken: [] };
  }
  const records: LabRecord[] = [];
  const broken: string[] = [];
  for (const file of files.sort()) {
    if (!file.endsWith('.json') || file.startsWith('.')) continue;
    try {
      const value: unknown = JSON.parse(readFileSync(join(registryDir(), file), 'utf8'));
      if (isRecord(value)) records.push(value);
      else broken.push(file.slice(0, -'.json'.length));
    } catch {
      broken.push(file.slice(0, -'.json'.length));
    }
  }
  return { records, broken };
}

/** A lab counts as live while it has no owner (`lab up`) or its owner still runs. */
export function isLive(record: LabRecord): boolean {
  return record.ownerPid === null || processAlive(record.ownerPid);
}

/** Labs matching a name or an id. */
export function findLabs(nameOrId: string): LabRecord[] {
  return readRegistry().records.filter((r) => r.id === nameOrId || r.name === nameOrId);
}
