/** Layout facts of the pcapng format (draft-ietf-opsawg-pcapng). */

export const BLOCK_SHB = 0x0a0d0d0a;
export const BLOCK_IDB = 0x00000001;
export const BLOCK_OPB = 0x00000002;
export const BLOCK_SPB = 0x00000003;
export const BLOCK_NRB = 0x00000004;
export const BLOCK_ISB = 0x00000005;
export const BLOCK_EPB = 0x00000006;
export const BLOCK_DSB = 0x0000000a;
export const BLOCK_CUSTOM = 0x00000bad;
export const BLOCK_CUSTOM_NOCOPY = 0x40000bad;

/** Read little-endian; the other value means the section is big-endian. */
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
export const BYTE_ORDER_MAGIC_SWAPPED = 0x4d3c2b1a;

export const PCAPNG_VERSION_MAJOR = 1;
export const PCAPNG_VERSION_MINOR = 0;

/** Type, total length, trailing total length. */
export const BLOCK_OVERHEAD = 12;
export const SHB_MIN_LENGTH = 28;
export const IDB_MIN_LENGTH = 20;
export const EPB_MIN_LENGTH = 32;
export const OPB_MIN_LENGTH = 32;
export const SPB_MIN_LENGTH = 16;

export const OPT_ENDOFOPT = 0;
/** opt_comment: allowed in every block (a packet's comment in an Enhanced Packet Block). */
export const OPT_COMMENT = 1;
export const OPT_SHB_USERAPPL = 4;
export const OPT_IF_NAME = 2;
export const OPT_IF_TSRESOL = 9;
export const OPT_IF_TSOFFSET = 14;

export const DEFAULT_TSRESOL = 6;

export function pad4(n: number): number {
  return (n + 3) & ~3;
}

const NAMES: ReadonlyMap<number, string> = new Map([
  [BLOCK_SHB, 'Section Header Block'],
  [BLOCK_IDB, 'Interface Description Block'],
  [BLOCK_OPB, 'Packet Block'],
  [BLOCK_SPB, 'Simple Packet Block'],
  [BLOCK_NRB, 'Name Resolution Block'],
  [BLOCK_ISB, 'Interface Statistics Block'],
  [BLOCK_EPB, 'Enhanced Packet Block'],
  [BLOCK_DSB, 'Decryption Secrets Block'],
  [BLOCK_CUSTOM, 'Custom Block'],
  [BLOCK_CUSTOM_NOCOPY, 'Custom Block'],
]);

export function blockName(type: number): string {
  return `pcapng ${NAMES.get(type) ?? `block of type 0x${type.toString(16).padStart(8, '0')}`}`;
}

/** The minimum total length of a block of this type (the generic minimum for types we skip). */
export function minBlockLength(type: number): number {
  switch (type) {
    case BLOCK_SHB:
      return SHB_MIN_LENGTH;
    case BLOCK_IDB:
      return IDB_MIN_LENGTH;
    case BLOCK_EPB:
      return EPB_MIN_LENGTH;
    case BLOCK_OPB:
      return OPB_MIN_LENGTH;
    case BLOCK_SPB:
      return SPB_MIN_LENGTH;
    default:
      return BLOCK_OVERHEAD;
  }
}
