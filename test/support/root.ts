/** Tests that need root (network namespaces, iptables, raw sockets) are skipped, with the reason, when run without it. */
export const isRoot = process.getuid?.() === 0;

/** Test options for `it(name, needsRoot('for ...'), fn)` / `describe(name, needsRoot(...), fn)`. */
export function needsRoot(why = 'for network namespaces'): { skip: string | false } {
  return { skip: isRoot ? false : `needs root ${why}` };
}
