/**
 * The BTF reader behind the tracer's field offsets: this machine's /sys/kernel/btf/vmlinux read by parseBtf and
 * fieldLayout against pahole's view of the same structs (`pahole -C STRUCT`, dwarves), every field the tracer reads
 * and a few harder ones (members inside anonymous unions and structs, a named struct_group member, an array, a
 * bitfield that has no byte address); layoutFromBtf on hand-made BTF (the exact layout, and the report of what a
 * kernel lacks); hostile input (empty, truncated, wrong magic, lengths past the end, unknown kinds, a type cut in
 * the middle, types that refer to themselves) as error values or undefined, never exceptions; a fuzz loop over
 * mutations of the real BTF's first 64 KiB.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fieldLayout, parseBtf, type Btf } from '../../src/trace/btf.js';
import { FIELDS, layoutFromBtf, readKernelLayout, VMLINUX_BTF } from '../../src/trace/kernel-layout.js';
import { prng } from '../support/prng.js';

const HAVE_BTF = existsSync(VMLINUX_BTF);
const HAVE_PAHOLE = (() => {
  try {
    execFileSync('pahole', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

// ---- pahole as the oracle ----

interface PaholeMember {
  readonly offset: number;
  readonly size: number;
  /** The member's type as pahole writes it ("possible_net_t", "struct ns_common", "unsigned char *"). */
  readonly type: string;
  readonly bitfield: boolean;
}

const paholeCache = new Map<string, Map<string, PaholeMember>>();

/**
 * The members of a struct as pahole prints it: members of anonymous unions and structs belong to the struct (pahole
 * prints their absolute offsets), members of a named inline struct are `name.member`. First occurrence wins.
 */
function paholeStruct(name: string): Map<string, PaholeMember> {
  const cached = paholeCache.get(name);
  if (cached !== undefined) return cached;
  const text = execFileSync('pahole', ['-C', name, VMLINUX_BTF], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const stack: [string, PaholeMember][][] = [];
  let result = new Map<string, PaholeMember>();
  for (const line of text.split('\n')) {
    if (/\{\s*$/.test(line)) {
      stack.push([]);
      continue;
    }
    const close = /^\s*\}\s*(\w+)?\s*;\s*\/\*\s*(\d+)\s+(\d+)\s*\*\//.exec(line);
    if (close !== null) {
      const inner = stack.pop()!;
      const parent = stack[stack.length - 1]!;
      if (close[1] === undefined) parent.push(...inner);
      else {
        parent.push([close[1], { offset: Number(close[2]), size: Number(close[3]), type: '(inline)', bitfield: false }]);
        parent.push(...inner.map(([n, m]): [string, PaholeMember] => [`${close[1]}.${n}`, m]));
      }
      continue;
    }
    if (/^\s*\}/.test(line)) {
      result = new Map();
      for (const [n, m] of stack.pop() ?? []) if (!result.has(n)) result.set(n, m);
      continue;
    }
    const m = /^\s*(.+?)\s*\b(\w+)((?:\[\d+\])*)(:\d+)?;\s*\/\*\s*(\d+)(:\s*\d+)?\s+(\d+)\s*\*\//.exec(line);
    if (m !== null && stack.length > 0) {
      stack[stack.length - 1]!.push([m[2]!, { offset: Number(m[5]), size: Number(m[7]), type: m[1]!.trim(), bitfield: m[4] !== undefined }]);
    }
  }
  paholeCache.set(name, result);
  return result;
}

/** A dotted path through pahole's output: a member whose type pahole did not expand is looked up with pahole -C. */
function paholeField(struct: string, path: string): { offset: number; size: number } | 'bitfield' | undefined {
  const members = paholeStruct(struct);
  const parts = path.split('.');
  for (let i = parts.length; i >= 1; i--) {
    const m = members.get(parts.slice(0, i).join('.'));
    if (m === undefined) continue;
    if (i === parts.length) return m.bitfield ? 'bitfield' : { offset: m.offset, size: m.size };
    const type = m.type.replace(/^(struct|union)\s+/, '');
    const rest = paholeField(type, parts.slice(i).join('.'));
    if (rest === undefined || rest === 'bitfield') return rest;
    return { offset: m.offset + rest.offset, size: rest.size };
  }
  return undefined;
}

let realBtf: Btf | undefined;
function kernelBtf(): Btf {
  if (realBtf === undefined) {
    const parsed = parseBtf(readFileSync(VMLINUX_BTF));
    assert.ok(parsed.ok, 'this kernel\'s BTF parses');
    realBtf = parsed.value;
  }
  return realBtf;
}

describe('BTF: this kernel\'s field offsets agree with pahole', { skip: !HAVE_BTF || !HAVE_PAHOLE ? 'needs /sys/kernel/btf/vmlinux and pahole (dwarves)' : false }, () => {
  it('every field the tracer reads (kernel-layout.ts FIELDS): offset and size', () => {
    for (const [key, [struct, path]] of Object.entries(FIELDS)) {
      const ours = fieldLayout(kernelBtf(), struct, path);
      const theirs = paholeField(struct, path);
      assert.ok(ours !== undefined && theirs !== undefined && theirs !== 'bitfield', `${key}: ${struct}.${path} found by both`);
      assert.deepEqual({ offset: ours.offset, size: ours.size }, theirs, `${key}: ${struct}.${path}`);
    }
  });

  it('members inside anonymous unions and structs, a named struct_group member, an array, a whole embedded struct', () => {
    const cases: [string, string][] = [
      ['sk_buff', 'next'],
      ['sk_buff', 'dev_scratch'],
      ['sk_buff', 'tstamp'],
      ['sk_buff', 'cb'],
      ['sk_buff', 'protocol'],
      ['sk_buff', 'headers'],
      ['sk_buff', 'headers.mark'],
      ['sk_buff', 'headers.network_header'],
      ['sk_buff', 'truesize'],
      ['sock', '__sk_common'],
      ['sock', '__sk_common.skc_family'],
      ['sock_common', 'skc_net.net'],
      ['net_device', 'name'],
      ['net', 'ns'],
      ['net', 'ifindex'],
    ];
    for (const [struct, path] of cases) {
      const ours = fieldLayout(kernelBtf(), struct, path);
      const theirs = paholeField(struct, path);
      assert.ok(ours !== undefined && theirs !== undefined && theirs !== 'bitfield', `${struct}.${path} found by both`);
      assert.deepEqual({ offset: ours.offset, size: ours.size }, theirs, `${struct}.${path}`);
    }
  });

  it('a bitfield, a missing field, a missing struct and a path through a non-struct are undefined', () => {
    assert.equal(paholeField('sk_buff', 'pkt_type'), 'bitfield', 'pahole: pkt_type is a bitfield');
    assert.equal(fieldLayout(kernelBtf(), 'sk_buff', 'pkt_type'), undefined);
    assert.equal(fieldLayout(kernelBtf(), 'sk_buff', 'no_such_field'), undefined);
    assert.equal(fieldLayout(kernelBtf(), 'no_such_struct', 'len'), undefined);
    assert.equal(fieldLayout(kernelBtf(), 'sk_buff', 'len.x'), undefined, 'len is an int');
    assert.equal(fieldLayout(kernelBtf(), 'sk_buff', ''), undefined);
  });

  it('layoutFromBtf on this kernel gives every field, the same offsets as readKernelLayout', () => {
    const r = layoutFromBtf(kernelBtf());
    assert.ok('layout' in r, 'nothing missing');
    assert.deepEqual(readKernelLayout(), r.layout);
    for (const [key, [struct, path]] of Object.entries(FIELDS)) {
      assert.equal(r.layout[key as keyof typeof r.layout], fieldLayout(kernelBtf(), struct, path)!.offset, key);
    }
  });
});

// ---- hand-made BTF ----

const KIND = { INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, TYPEDEF: 8 } as const;

/** Writes little-endian BTF: a 24-byte header, the types, the strings. */
class BtfBuilder {
  private readonly strings: number[] = [0];
  private readonly words: number[] = [];
  private count = 0;

  str(s: string): number {
    if (s === '') return 0;
    const off = this.strings.length;
    for (const c of s) this.strings.push(c.charCodeAt(0));
    this.strings.push(0);
    return off;
  }

  type(name: string, kind: number, vlen: number, sizeOrType: number, data: number[] = [], kindFlag = false): number {
    this.words.push(this.str(name), ((kindFlag ? 1 : 0) << 31) | (kind << 24) | vlen, sizeOrType, ...data);
    return ++this.count;
  }

  int(name: string, size: number): number {
    return this.type(name, KIND.INT, 0, size, [size * 8]);
  }

  ptr(to = 0): number {
    return this.type('', KIND.PTR, 0, to);
  }

  array(elem: number, n: number, index: number): number {
    return this.type('', KIND.ARRAY, 0, 0, [elem, index, n]);
  }

  typedef(name: string, to: number): number {
    return this.type(name, KIND.TYPEDEF, 0, to);
  }

  /** Members: [name, type id, byte offset] or [name, type id, bit offset, bitfield size] (kind_flag set). */
  struct(name: string, size: number, members: readonly (readonly [string, number, number, number?])[], kind: number = KIND.STRUCT): number {
    const flag = members.some((m) => m[3] !== undefined);
    const data = members.flatMap(([n, t, off, bits]) => [this.str(n), t, flag ? ((bits ?? 0) << 24) | (bits === undefined ? off * 8 : off) : off * 8]);
    return this.type(name, kind, members.length, size, data, flag);
  }

  build(): Uint8Array {
    const typeLen = this.words.length * 4;
    const out = new Uint8Array(24 + typeLen + this.strings.length);
    const v = new DataView(out.buffer);
    v.setUint16(0, 0xeb9f, true);
    v.setUint8(2, 1);
    v.setUint32(4, 24, true);
    v.setUint32(8, 0, true);
    v.setUint32(12, typeLen, true);
    v.setUint32(16, typeLen, true);
    v.setUint32(20, this.strings.length, true);
    this.words.forEach((w, i) => v.setUint32(24 + 4 * i, w >>> 0, true));
    out.set(this.strings, 24 + typeLen);
    return out;
  }
}

interface KernelShape {
  readonly markSize?: number;
  readonly withNetworkHeader?: boolean;
  readonly mtuBitfield?: boolean;
}

/** A small kernel with the structs the tracer reads, at offsets of our choosing. */
function handMadeKernel(shape: KernelShape = {}): Uint8Array {
  const b = new BtfBuilder();
  const u8 = b.int('unsigned char', 1);
  const u16 = b.int('u16', 2);
  const u32 = b.int('unsigned int', 4);
  const i32 = b.int('int', 4);
  const voidp = b.ptr();
  const name = b.array(u8, 16, u32);
  const ns = b.struct('ns_common', 32, [['stashed', voidp, 0], ['inum', u32, 24]]);
  b.struct('net', 200, [['passive', u32, 0], ['ns', ns, 152]]);
  const pnet = b.typedef('possible_net_t', b.struct('', 8, [['net', voidp, 0]]));
  const constPnet = b.type('', 10, 0, pnet); // const possible_net_t: resolved through the qualifier
  const mark = shape.markSize === 2 ? u16 : u32;
  const skbMembers: [string, number, number, number?][] = [
    ['', b.struct('', 24, [['next', voidp, 0], ['prev', voidp, 8], ['', b.struct('', 8, [['dev', voidp, 0], ['dev_scratch', voidp, 0]], KIND.UNION), 16]], KIND.UNION), 0],
    ['sk', voidp, 24],
    ['len', u32, 112],
    ['mark', mark, 164],
    ['head', voidp, 192],
    ['data', voidp, 200],
  ];
  if (shape.withNetworkHeader !== false) skbMembers.push(['network_header', u16, 180]);
  b.struct('sk_buff', 232, skbMembers);
  b.struct('net_device', 1024, [
    ['mtu', u32, shape.mtuBitfield === true ? 56 * 8 : 56, shape.mtuBitfield === true ? 12 : undefined],
    ['ifindex', i32, shape.mtuBitfield === true ? 224 * 8 : 224, shape.mtuBitfield === true ? 0 : undefined],
    ['nd_net', constPnet, shape.mtuBitfield === true ? 264 * 8 : 264, shape.mtuBitfield === true ? 0 : undefined],
    ['name', name, shape.mtuBitfield === true ? 280 * 8 : 280, shape.mtuBitfield === true ? 0 : undefined],
  ]);
  const common = b.struct('sock_common', 136, [['skc_family', u16, 16], ['skc_net', pnet, 48]]);
  b.struct('sock', 700, [['__sk_common', common, 0]]);
  return b.build();
}

function parsed(bytes: Uint8Array): Btf {
  const r = parseBtf(bytes);
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.error));
  return r.value;
}

describe('BTF: layoutFromBtf on hand-made BTF', () => {
  it('gives exactly the offsets the structs were written with, through anonymous unions, typedefs and const', () => {
    assert.deepEqual(layoutFromBtf(parsed(handMadeKernel())), {
      layout: {
        skbDev: 16, skbSk: 24, skbLen: 112, skbMark: 164, skbNetworkHeader: 180, skbHead: 192, skbData: 200,
        devNet: 264, devName: 280, devIfindex: 224, devMtu: 56, netInum: 176, sockNet: 48,
      },
    });
  });

  it('reports a field of the wrong size, a field the kernel lacks and a bitfield, naming struct and path', () => {
    assert.deepEqual(layoutFromBtf(parsed(handMadeKernel({ markSize: 2 }))), { missing: ['sk_buff.mark (2 bytes, expected 4)'] });
    assert.deepEqual(layoutFromBtf(parsed(handMadeKernel({ withNetworkHeader: false }))), { missing: ['sk_buff.network_header'] });
    assert.deepEqual(layoutFromBtf(parsed(handMadeKernel({ mtuBitfield: true }))), { missing: ['net_device.mtu'] });
    const empty = new BtfBuilder();
    empty.int('int', 4);
    const r = layoutFromBtf(parsed(empty.build()));
    assert.ok('missing' in r);
    assert.equal(r.missing.length, Object.keys(FIELDS).length, 'no struct at all: every field is missing');
  });

  it('readKernelLayout throws an Error naming the file and what is wrong', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtuscope-btf-'));
    try {
      assert.throws(() => readKernelLayout(join(dir, 'none')), /cannot read the kernel's BTF .*CONFIG_DEBUG_INFO_BTF/);
      writeFileSync(join(dir, 'garbage'), 'not btf at all, not btf at all');
      assert.throws(() => readKernelLayout(join(dir, 'garbage')), /garbage: .*magic/);
      writeFileSync(join(dir, 'short'), handMadeKernel({ withNetworkHeader: false }));
      assert.throws(() => readKernelLayout(join(dir, 'short')), /short: this kernel lacks fields the tracer reads: sk_buff.network_header/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('BTF: hostile input is an error value with field and offset, never an exception', () => {
  const good = handMadeKernel();
  const withU32 = (offset: number, value: number, bytes = good): Uint8Array => {
    const copy = bytes.slice();
    new DataView(copy.buffer).setUint32(offset, value >>> 0, true);
    return copy;
  };
  const failure = (bytes: Uint8Array): { protocol: string; field: string; offset: number; reason: string } => {
    const r = parseBtf(bytes);
    assert.ok(!r.ok, 'refused');
    return r.error;
  };

  it('empty, and shorter than the header', () => {
    assert.deepEqual([failure(new Uint8Array(0)).field, failure(new Uint8Array(0)).offset], ['header', 0]);
    assert.match(failure(good.subarray(0, 23)).reason, /23 bytes, shorter than the 24-byte header/);
  });

  it('wrong magic, and big-endian BTF', () => {
    const wrong = good.slice();
    wrong[0] = 0x7f;
    assert.equal(failure(wrong).field, 'magic');
    assert.match(failure(wrong).reason, /is not 0xeb9f/);
    const be = good.slice();
    be[0] = 0xeb;
    be[1] = 0x9f;
    assert.match(failure(be).reason, /big-endian/);
  });

  it('header, type and string lengths past the end', () => {
    assert.deepEqual({ ...failure(withU32(4, 10)), reason: '' }, { protocol: 'btf', field: 'hdr_len', offset: 4, reason: '' });
    assert.equal(failure(withU32(4, good.length + 1)).field, 'hdr_len');
    assert.equal(failure(withU32(12, 0xffffffff)).field, 'type_len');
    assert.equal(failure(withU32(12, 0xffffffff)).offset, 12);
    assert.equal(failure(withU32(8, 0xfffffff0)).field, 'type_len', 'a type section starting past the end');
    assert.equal(failure(withU32(20, good.length)).field, 'str_len');
    assert.equal(failure(withU32(16, 0xffffffff)).field, 'str_len');
    assert.equal(failure(good.subarray(0, good.length - 1)).field, 'str_len', 'one byte cut off the end');
  });

  it('an unknown kind names the byte offset of its info word and the type id', () => {
    const e = failure(withU32(24 + 4, 31 << 24));
    assert.deepEqual([e.field, e.offset], ['kind', 28]);
    assert.match(e.reason, /unknown type kind 31 \(type id 1\)/);
    assert.equal(failure(withU32(24 + 4, 0)).field, 'kind', 'kind 0 (BTF_KIND_UNKN) is no type');
  });

  it('a type section cut in the middle of a type header or of its data', () => {
    const typeLen = new DataView(good.buffer).getUint32(12, true);
    const midHeader = withU32(12, 6);
    assert.deepEqual([failure(midHeader).field, failure(midHeader).offset], ['type', 24]);
    assert.match(failure(midHeader).reason, /type header runs past/);
    const midData = withU32(12, 14); // the INT's 12-byte header and half of its 4-byte data
    assert.match(failure(midData).reason, /type id 1 runs past the type section/);
    // Types 1-4 are INTs (16 bytes each), type 5 the pointer: its info word at 24 + 64 + 4 now says STRUCT of 65535 members.
    const vlenTooBig = failure(withU32(24 + 64 + 4, (KIND.STRUCT << 24) | 0xffff));
    assert.deepEqual([vlenTooBig.field, vlenTooBig.offset], ['type', 24 + 64]);
    assert.match(vlenTooBig.reason, /type id 5 runs past the type section/);
    assert.ok(typeLen > 24 + 64);
  });

  it('names past the string section and types that refer to themselves are undefined, not a hang or a stack overflow', () => {
    const b = new BtfBuilder();
    const u32 = b.int('u32', 4);
    // Type 2: an array of itself; type 3: a struct with an anonymous member of its own type; 4-5: a typedef loop.
    b.array(2, 4, u32);
    b.struct('loop', 8, [['', 3, 0], ['a', 2, 0]]);
    b.typedef('t1', 5);
    b.typedef('t2', 4);
    b.struct('holder', 8, [['x', 4, 0], ['y', u32, 4]]);
    // Type 7: two anonymous members of its own type; 8-47: each type two anonymous members of the one before (2^40 paths).
    b.struct('fork', 8, [['', 7, 0], ['', 7, 0]]);
    let prev = u32;
    for (let i = 0; i < 40; i++) prev = b.struct(`diamond${i}`, 8, [['', prev, 0], ['', prev, 0]]);
    const btf = parsed(b.build());
    const started = performance.now();
    assert.equal(fieldLayout(btf, 'fork', 'x'), undefined);
    assert.equal(fieldLayout(btf, 'diamond39', 'x'), undefined);
    assert.ok(performance.now() - started < 1000, `looked up in ${(performance.now() - started).toFixed(0)} ms`);
    assert.equal(fieldLayout(btf, 'loop', 'a'), undefined);
    assert.equal(fieldLayout(btf, 'loop', 'nothing'), undefined);
    assert.equal(fieldLayout(btf, 'holder', 'x'), undefined);
    assert.deepEqual(fieldLayout(btf, 'holder', 'y'), { offset: 4, size: 4, type: u32 });
    const farName = withU32(24, 0xfffffff0);
    assert.equal(parsed(farName).nameOf(1), '', 'a name offset past the strings is the empty name');
  });

  it('a fuzz loop over 3,000 mutations of the real BTF\'s first 64 KiB: no exception from parseBtf, fieldLayout or layoutFromBtf', { skip: !HAVE_BTF ? 'no /sys/kernel/btf/vmlinux' : false }, () => {
    const real = readFileSync(VMLINUX_BTF);
    const btf = kernelBtf();
    // The types up to the last whole type before 48 KiB, then the start of the string section: a valid 64 KiB BTF.
    const view = new DataView(real.buffer, real.byteOffset, real.byteLength);
    const hdr = view.getUint32(4, true);
    const typesStart = hdr + view.getUint32(8, true);
    let cut = 0;
    for (const t of btf.types) if (t !== undefined && t.data - typesStart < 48 * 1024) cut = t.data - 12 - typesStart;
    const base = new Uint8Array(64 * 1024);
    base.set(real.subarray(0, hdr));
    base.set(real.subarray(typesStart, typesStart + cut), hdr);
    base.set(real.subarray(btf.strings, btf.strings + base.length - hdr - cut), hdr + cut);
    const bv = new DataView(base.buffer);
    bv.setUint32(8, 0, true);
    bv.setUint32(12, cut, true);
    bv.setUint32(16, cut, true);
    bv.setUint32(20, base.length - hdr - cut, true);
    const start = parseBtf(base);
    assert.ok(start.ok, 'the cut BTF parses');
    const names = [...start.value.structs.keys()].slice(0, 40);
    assert.ok(names.length >= 10, `structs in the first 48 KiB of types: ${names.length}`);
    // Most mutations leave the info words (kind and member count) alone, so that the types still parse and the
    // lookups walk the mutated references, offsets and names; the rest hit anything, header included.
    const infoWords = new Set(start.value.types.flatMap((t) => (t === undefined ? [] : [t.data - 8])));
    const random = prng(16);
    let parsedCount = 0;
    for (let run = 0; run < 3000; run++) {
      const bytes = random() < 0.05 ? base.subarray(0, Math.floor(random() * base.length)) : base.slice();
      const n = 1 + Math.floor(random() * 4);
      for (let k = 0; k < n && bytes.length >= 4; k++) {
        let at = Math.floor(random() * (bytes.length - 3));
        if (random() < 0.8) {
          at = hdr + 4 * Math.floor(random() * (cut / 4));
          if (infoWords.has(at) || at + 4 > bytes.length) continue;
        }
        if (random() < 0.5) bytes[at] = Math.floor(random() * 256);
        else new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, Math.floor(random() * 2 ** 32), true);
      }
      const r = parseBtf(bytes);
      if (!r.ok) {
        assert.ok(r.error.offset >= 0 && r.error.field.length > 0);
        continue;
      }
      parsedCount++;
      layoutFromBtf(r.value);
      for (const s of names.slice(0, 10)) {
        for (const path of ['next', 'list.next', 'a.b.c', 'len']) fieldLayout(r.value, s, path);
      }
    }
    assert.ok(parsedCount > 100, `some mutations still parse and are walked (${parsedCount})`);
  });
});
