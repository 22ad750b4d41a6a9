/**
 * The kernel's BTF (BPF Type Format, /sys/kernel/btf/vmlinux): where the fields the tracer reads sit in this
 * kernel's structs (sk_buff, net_device, net, sock).
 *
 * Why we read it ourselves: a bpftrace program that casts to `struct sk_buff *` makes bpftrace parse the kernel's
 * type definitions with clang at every start, about a second on this kind of machine, most of the tracer's start-up
 * time. With the offsets computed here the program reads plain addresses and compiles in a fraction of that.
 *
 * Layout of the format (kernel Documentation/bpf/btf.rst): a header, then a type section and a string section; each
 * type is 12 bytes (name offset, info: vlen, kind, kind_flag; size or type) followed by data whose size depends on
 * its kind. Type ids count from 1 in order. Malformed input is an error value naming the field and byte offset.
 */
import { fail, ok, type Decoded } from '../packet/result.js';

const MAGIC = 0xeb9f;
const HEADER_MIN = 24;

const KIND = {
  INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9, CONST: 10, RESTRICT: 11,
  FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19,
} as const;

interface BtfType {
  readonly nameOff: number;
  readonly kind: number;
  readonly kindFlag: boolean;
  readonly vlen: number;
  /** size for INT, STRUCT, UNION, ENUM, DATASEC, FLOAT; the referenced type id otherwise. */
  readonly sizeOrType: number;
  /** Byte offset of the kind-specific data in the buffer. */
  readonly data: number;
}

export interface Btf {
  readonly types: readonly (BtfType | undefined)[];
  nameOf(id: number): string;
  readonly view: DataView;
  readonly strings: number;
  readonly stringsEnd: number;
  /** Struct ids by name (the first complete definition). */
  readonly structs: ReadonlyMap<string, number>;
}

function extraSize(kind: number, vlen: number): number | undefined {
  switch (kind) {
    case KIND.INT:
    case KIND.VAR:
    case KIND.DECL_TAG:
      return 4;
    case KIND.ARRAY:
      return 12;
    case KIND.STRUCT:
    case KIND.UNION:
      return 12 * vlen;
    case KIND.ENUM:
    case KIND.FUNC_PROTO:
      return 8 * vlen;
    case KIND.DATASEC:
    case KIND.ENUM64:
      return 12 * vlen;
    case KIND.PTR:
    case KIND.FWD:
    case KIND.TYPEDEF:
    case KIND.VOLATILE:
    case KIND.CONST:
    case KIND.RESTRICT:
    case KIND.FUNC:
    case KIND.FLOAT:
    case KIND.TYPE_TAG:
      return 0;
    default:
      return undefined;
  }
}

export function parseBtf(bytes: Uint8Array): Decoded<Btf> {
  if (bytes.length < HEADER_MIN) return fail('btf', 'header', 0, `${bytes.length} bytes, shorter than the ${HEADER_MIN}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // BTF is in the host's byte order; the magic says which.
  const le = view.getUint16(0, true) === MAGIC;
  if (!le && view.getUint16(0, false) !== MAGIC) return fail('btf', 'magic', 0, `0x${view.getUint16(0, true).toString(16)} is not 0xeb9f`);
  if (!le) return fail('btf', 'magic', 0, 'big-endian BTF is not supported');
  const hdrLen = view.getUint32(4, true);
  const typeOff = view.getUint32(8, true);
  const typeLen = view.getUint32(12, true);
  const strOff = view.getUint32(16, true);
  const strLen = view.getUint32(20, true);
  if (hdrLen < HEADER_MIN || hdrLen > bytes.length) return fail('btf', 'hdr_len', 4, `${hdrLen} is outside 24..${bytes.length}`);
  const typesStart = hdrLen + typeOff;
  const typesEnd = typesStart + typeLen;
  const strings = hdrLen + strOff;
  const stringsEnd = strings + strLen;
  if (typesEnd > bytes.length) return fail('btf', 'type_len', 12, `the type section ends at ${typesEnd}, past the ${bytes.length} bytes`);
  if (stringsEnd > bytes.length) return fail('btf', 'str_len', 20, `the string section ends at ${stringsEnd}, past the ${bytes.length} bytes`);
  const types: (BtfType | undefined)[] = [undefined];
  const structs = new Map<string, number>();
  const nameOf = (id: number): string => {
    const t = types[id];
    return t === undefined ? '' : stringAt(bytes, strings, stringsEnd, t.nameOff);
  };
  let at = typesStart;
  while (at < typesEnd) {
    if (at + 12 > typesEnd) return fail('btf', 'type', at, 'a type header runs past the type section');
    const info = view.getUint32(at + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const extra = extraSize(kind, vlen);
    if (extra === undefined) return fail('btf', 'kind', at + 4, `unknown type kind ${kind} (type id ${types.length})`);
    if (at + 12 + extra > typesEnd) return fail('btf', 'type', at, `type id ${types.length} runs past the type section`);
    const t: BtfType = { nameOff: view.getUint32(at, true), kind, kindFlag: (info >>> 31) === 1, vlen, sizeOrType: view.getUint32(at + 8, true), data: at + 12 };
    types.push(t);
    if (kind === KIND.STRUCT && vlen > 0) {
      const name = stringAt(bytes, strings, stringsEnd, t.nameOff);
      if (name !== '' && !structs.has(name)) structs.set(name, types.length - 1);
    }
    at += 12 + extra;
  }
  return ok({ types, nameOf, view, strings, stringsEnd, structs });
}

function stringAt(bytes: Uint8Array, start: number, end: number, offset: number): string {
  let i = start + offset;
  if (i >= end) return '';
  let s = '';
  while (i < end && bytes[i] !== 0) s += String.fromCharCode(bytes[i++]!);
  return s;
}

/** Follows typedefs and qualifiers to the type that has a size. */
function resolve(btf: Btf, id: number): { id: number; type: BtfType | undefined } {
  let cur = id;
  for (let i = 0; i < 32; i++) {
    const t = btf.types[cur];
    if (t === undefined) return { id: cur, type: undefined };
    if (t.kind === KIND.TYPEDEF || t.kind === KIND.VOLATILE || t.kind === KIND.CONST || t.kind === KIND.RESTRICT || t.kind === KIND.TYPE_TAG) {
      cur = t.sizeOrType;
      continue;
    }
    return { id: cur, type: t };
  }
  return { id: cur, type: undefined };
}

/** How deep arrays of arrays and anonymous members inside anonymous members go before the type is taken for a loop. */
const MAX_DEPTH = 32;
/**
 * How many struct and union members one field lookup may visit: hostile BTF can make anonymous members branch into
 * the same types again and again (exponential work within MAX_DEPTH); sk_buff's lookups visit a few hundred.
 */
const MAX_VISITS = 100_000;

function sizeOf(btf: Btf, id: number, depth = 0): number | undefined {
  const { type } = resolve(btf, id);
  if (depth > MAX_DEPTH) return undefined;
  if (type === undefined) return undefined;
  switch (type.kind) {
    case KIND.INT:
    case KIND.STRUCT:
    case KIND.UNION:
    case KIND.ENUM:
    case KIND.ENUM64:
    case KIND.FLOAT:
      return type.sizeOrType;
    case KIND.PTR:
      return 8;
    case KIND.ARRAY: {
      const elem = btf.view.getUint32(type.data, true);
      const n = btf.view.getUint32(type.data + 8, true);
      const s = sizeOf(btf, elem, depth + 1);
      return s === undefined ? undefined : s * n;
    }
    default:
      return undefined;
  }
}

export interface FieldLayout {
  /** Byte offset from the start of the outermost struct. */
  readonly offset: number;
  readonly size: number;
  /** The type id of the field, for going on into it. */
  readonly type: number;
}

/** A member of a struct or union by name, looking through anonymous members (unions, struct_group). */
function member(btf: Btf, id: number, name: string, base: number, budget: { visits: number }, depth = 0): FieldLayout | undefined {
  const { type } = resolve(btf, id);
  if (depth > MAX_DEPTH || type === undefined || (type.kind !== KIND.STRUCT && type.kind !== KIND.UNION)) return undefined;
  for (let i = 0; i < type.vlen; i++) {
    if (--budget.visits < 0) return undefined;
    const at = type.data + 12 * i;
    const nameOff = btf.view.getUint32(at, true);
    const memberType = btf.view.getUint32(at + 4, true);
    const raw = btf.view.getUint32(at + 8, true);
    const bitOffset = type.kindFlag ? raw & 0xffffff : raw;
    const bitfieldSize = type.kindFlag ? raw >>> 24 : 0;
    const memberName = stringAt(new Uint8Array(btf.view.buffer, btf.view.byteOffset, btf.view.byteLength), btf.strings, btf.stringsEnd, nameOff);
    if (memberName === name) {
      // A bitfield has no byte address of its own: the tracer never reads one.
      if (bitfieldSize !== 0 || bitOffset % 8 !== 0) return undefined;
      const size = sizeOf(btf, memberType);
      return size === undefined ? undefined : { offset: base + bitOffset / 8, size, type: memberType };
    }
    if (memberName === '' && bitOffset % 8 === 0) {
      const inner = member(btf, memberType, name, base + bitOffset / 8, budget, depth + 1);
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}

/**
 * The layout of `struct NAME`'s field at a dotted path of embedded members, e.g. ("net_device", "nd_net.net") or
 * ("sock", "__sk_common.skc_net.net"). Undefined when the kernel has no such field (or it is a bitfield).
 */
export function fieldLayout(btf: Btf, struct: string, path: string): FieldLayout | undefined {
  const id = btf.structs.get(struct);
  if (id === undefined) return undefined;
  let cur: FieldLayout = { offset: 0, size: 0, type: id };
  for (const part of path.split('.')) {
    // An empty name would match the first anonymous member.
    if (part === '') return undefined;
    const next = member(btf, cur.type, part, cur.offset, { visits: MAX_VISITS });
    if (next === undefined) return undefined;
    cur = next;
  }
  return cur;
}
