/** What `pahole -C NAME OBJECT` says of a compiled BPF object's BTF: a struct's members and size, or an enum's names. */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface PaholeType {
  readonly members: Map<string, { offset: number; size: number }>;
  readonly size: number;
  /** An enum's names, by value. */
  readonly enumerators: string[];
}

/** A compiled object of a native package: `build/NAME` in its folder. */
export function nativeObject(packageName: string, name: string): string {
  return join(dirname(createRequire(import.meta.url).resolve(`${packageName}/package.json`)), 'build', name);
}

export function pahole(object: string, name: string): PaholeType {
  const text = execFileSync('pahole', ['-C', name, object], { encoding: 'utf8' });
  const members = new Map<string, { offset: number; size: number }>();
  for (const m of text.matchAll(/^\s+\S.*?\s(\w+)(?:\[\d+\])?;\s+\/\*\s+(\d+)\s+(\d+)\s+\*\//gm)) members.set(m[1]!, { offset: Number(m[2]), size: Number(m[3]) });
  const size = Number(/\/\* size: (\d+)/.exec(text)?.[1] ?? NaN);
  const enumerators = [...text.matchAll(/^\s+(\w+)\s+= (\d+),$/gm)].sort((a, b) => Number(a[2]) - Number(b[2])).map((m) => m[1]!);
  return { members, size, enumerators };
}

/** Each offset of `layout` (a struct's fields by C name, and its size) against the object's BTF; the mismatches. */
export function layoutMismatches(object: string, struct: string, layout: Readonly<Record<string, number>>): string[] {
  const c = pahole(object, struct);
  const wrong: string[] = [];
  if (layout.size !== c.size) wrong.push(`${struct} size ${layout.size}, compiled ${c.size}`);
  for (const [field, offset] of Object.entries(layout)) {
    if (field === 'size') continue;
    if (offset !== c.members.get(field)?.offset) wrong.push(`${struct}.${field} at ${offset}, compiled at ${c.members.get(field)?.offset}`);
  }
  return wrong;
}

/**
 * The struct's members but padding, and the fields `layout` names (a struct the TypeScript side writes whole must have
 * no member it leaves alone): both sorted, to be compared.
 */
export function membersAndLayoutFields(object: string, struct: string, layout: Readonly<Record<string, number>>): [string[], string[]] {
  const members = [...pahole(object, struct).members.keys()].filter((f) => f !== 'pad').sort();
  return [members, Object.keys(layout).filter((f) => f !== 'size').sort()];
}
