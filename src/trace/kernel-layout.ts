/**
 * This kernel's field offsets for the tracer program, read from its BTF (/sys/kernel/btf/vmlinux) with btf.ts.
 */
import { readFileSync } from 'node:fs';
import { fieldLayout, parseBtf, type Btf } from './btf.js';
import type { KernelLayout } from './tracer-program.js';
import { formatDecodeError } from '../packet/result.js';

export const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';

/** Each field the program reads: struct, dotted path, and the sizes the program's loads assume. */
export const FIELDS: Readonly<Record<keyof KernelLayout, readonly [string, string, readonly number[]]>> = {
  skbDev: ['sk_buff', 'dev', [8]],
  skbSk: ['sk_buff', 'sk', [8]],
  skbLen: ['sk_buff', 'len', [4]],
  skbMark: ['sk_buff', 'mark', [4]],
  skbNetworkHeader: ['sk_buff', 'network_header', [2]],
  skbHead: ['sk_buff', 'head', [8]],
  skbData: ['sk_buff', 'data', [8]],
  devNet: ['net_device', 'nd_net.net', [8]],
  devName: ['net_device', 'name', [16]],
  devIfindex: ['net_device', 'ifindex', [4]],
  devMtu: ['net_device', 'mtu', [4]],
  netInum: ['net', 'ns.inum', [4]],
  sockNet: ['sock', '__sk_common.skc_net.net', [8]],
};

/** The layout from parsed BTF, or the list of fields this kernel does not have as expected. */
export function layoutFromBtf(btf: Btf): { layout: KernelLayout } | { missing: string[] } {
  const out: Partial<Record<keyof KernelLayout, number>> = {};
  const missing: string[] = [];
  for (const [key, [struct, path, sizes]] of Object.entries(FIELDS) as [keyof KernelLayout, (typeof FIELDS)[keyof KernelLayout]][]) {
    const f = fieldLayout(btf, struct, path);
    if (f === undefined || !sizes.includes(f.size)) missing.push(`${struct}.${path}${f === undefined ? '' : ` (${f.size} bytes, expected ${sizes.join(' or ')})`}`);
    else out[key] = f.offset;
  }
  return missing.length > 0 ? { missing } : { layout: out as KernelLayout };
}

/** The kernel does not change under a running process: its BTF (5 MB here, ~0.1 s to read) is read once per path. */
const layouts = new Map<string, KernelLayout>();

/** Reads this kernel's BTF (once); throws an Error saying what is missing. */
export function readKernelLayout(path = VMLINUX_BTF): KernelLayout {
  const known = layouts.get(path);
  if (known !== undefined) return known;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read the kernel's BTF (${path}): ${(err as Error).message}; the kernel needs CONFIG_DEBUG_INFO_BTF`, { cause: err });
  }
  const parsed = parseBtf(bytes);
  if (!parsed.ok) throw new Error(`${path}: ${formatDecodeError(parsed.error)}`);
  const r = layoutFromBtf(parsed.value);
  if ('missing' in r) throw new Error(`${path}: this kernel lacks fields the tracer reads: ${r.missing.join(', ')}`);
  layouts.set(path, r.layout);
  return r.layout;
}
