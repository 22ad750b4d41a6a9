/**
 * Network namespaces by inode, the number the tracer sees (`dev->nd_net.net->ns.inum`), and by name, as iproute2
 * names them (bind mounts under /run/netns).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const NETNS_DIR = '/run/netns';

/** Named namespaces: inode to name. The root namespace (the one of pid 1) is called "root". */
export function namespacesByInode(): Map<number, string> {
  const out = new Map<number, string>();
  try {
    out.set(statSync('/proc/1/ns/net').ino, 'root');
  } catch {
    // Not visible (a container): left unnamed.
  }
  let names: string[];
  try {
    names = readdirSync(NETNS_DIR);
  } catch {
    return out;
  }
  for (const name of names) {
    try {
      out.set(statSync(join(NETNS_DIR, name)).ino, name);
    } catch {
      // Deleted meanwhile.
    }
  }
  return out;
}

/** The inode of a named namespace, or undefined when there is none of that name. */
export function namespaceInode(name: string): number | undefined {
  if (name === '' || name.includes('/') || name === '.' || name === '..') return undefined;
  try {
    return statSync(join(NETNS_DIR, name)).ino;
  } catch {
    return undefined;
  }
}
