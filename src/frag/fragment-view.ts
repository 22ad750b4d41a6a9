import { u16, u32 } from '../packet/bytes.js';
import { sum16, sumVerifies } from '../packet/checksum.js';
import { IpProtocol } from '../packet/ip-protocol.js';
import { KeyWords } from './datagram-key.js';
import type { FragCause } from './frag-event.js';

export const enum ParseStatus {
  /** Not a fragment (or not IP at all in a way we can name): the caller passes it on. */
  NotFragment,
  Fragment,
  /** IPv6 offset 0 with M=0 (RFC 6946). */
  Atomic,
  /** A fragment, but unusable: `cause` and `reason` say why; key fields are filled. */
  Bad,
  /** Too broken to key: no event can name it. */
  Unparsable,
}

const MAX_UNFRAGMENTABLE_HEADERS = 32;

/**
 * The fields of one fragment, parsed in place. One instance is reused for every push so that the hot path
 * allocates nothing; every field is rewritten by parse() before use.
 */
export class FragmentView extends KeyWords {
  /** In bytes, within the fragmentable part. */
  offset = 0;
  more = false;
  /** Where this fragment's data lies in the packet. */
  dataStart = 0;
  dataEnd = 0;
  /**
   * Bytes that precede the data: the IPv4 header, or the IPv6 header plus the per-fragment extension headers
   * (without the Fragment header). For the offset-0 fragment this becomes the reassembled datagram's header.
   */
  headerLength = 0;
  /** IPv6: offset of the next-header field that names the Fragment header (6, or an extension header's first byte). */
  nextHeaderField = 0;
  /** IPv6: where the Fragment header starts. */
  fragmentHeaderAt = 0;
  cause: FragCause = 'malformed';
  reason = '';

  /** Bytes of data the fragment carries. */
  get dataLength(): number {
    return this.dataEnd - this.dataStart;
  }

  /** Where the fragment's data ends within the fragmentable part. */
  get end(): number {
    return this.offset + this.dataEnd - this.dataStart;
  }

  parse(b: Uint8Array): ParseStatus {
    if (b.length < 1) return this.unparsable('empty buffer');
    const version = b[0]! >> 4;
    if (version === 4) return this.parse4(b);
    if (version === 6) return this.parse6(b);
    return this.unparsable(`ip.version at offset 0: version ${version} is neither 4 nor 6`);
  }

  private parse4(b: Uint8Array): ParseStatus {
    this.family = 4;
    if (b.length < 20) return this.unparsable(`ipv4.header at offset 0: needs 20 bytes, buffer has ${b.length}`);
    const hl = (b[0]! & 0x0f) * 4;
    if (hl < 20) return this.unparsable(`ipv4.ihl at offset 0: header length ${hl} is smaller than 20`);
    const word = u16(b, 6);
    this.more = (word & 0x2000) !== 0;
    this.offset = (word & 0x1fff) * 8;
    if (!this.more && this.offset === 0) return ParseStatus.NotFragment;
    this.s0 = u32(b, 12);
    this.d0 = u32(b, 16);
    this.s1 = this.s2 = this.s3 = this.d1 = this.d2 = this.d3 = 0;
    this.ident = u16(b, 4);
    this.protocol = b[9]!;
    this.headerLength = hl;
    const total = u16(b, 2);
    if (hl > b.length) return this.bad('truncated', `ipv4.ihl at offset 0: header length ${hl} runs past the buffer of ${b.length} bytes`);
    if (total < hl) return this.bad('malformed', `ipv4.total_length at offset 2: ${total} is smaller than the header length ${hl}`);
    if (total > b.length) return this.bad('truncated', `ipv4.total_length at offset 2: ${total} bytes claimed, buffer holds ${b.length}`);
    if (!sumVerifies(sum16(b, 0, hl))) return this.bad('checksum', 'ipv4.checksum at offset 10: header checksum does not verify');
    this.dataStart = hl;
    this.dataEnd = total;
    return ParseStatus.Fragment;
  }

  private parse6(b: Uint8Array): ParseStatus {
    this.family = 6;
    if (b.length < 40) return this.unparsable(`ipv6.header at offset 0: needs 40 bytes, buffer has ${b.length}`);
    // RFC 8200 section 4.5: the per-fragment headers are hop-by-hop, destination options (before a routing
    // header) and routing; the Fragment header follows them.
    const end = 40 + u16(b, 4);
    const present = Math.min(end, b.length);
    let nh = b[6]!;
    let field = 6;
    let o = 40;
    for (let n = 0; nh === IpProtocol.HopByHop || nh === IpProtocol.Ipv6Route || nh === IpProtocol.Ipv6Opts; n++) {
      if (n >= MAX_UNFRAGMENTABLE_HEADERS) return this.unparsable(`ipv6.chain at offset ${o}: more than ${MAX_UNFRAGMENTABLE_HEADERS} extension headers`);
      if (o + 2 > present) return this.unparsable(`ipv6.ext at offset ${o}: extension header ${nh} runs past the ${o + 2 > end ? 'payload length' : 'buffer'}`);
      const len = (b[o + 1]! + 1) * 8;
      if (o + len > present) return this.unparsable(`ipv6.ext.length at offset ${o + 1}: extension header of ${len} bytes runs past the ${o + len > end ? 'payload length' : 'buffer'}`);
      field = o;
      nh = b[o]!;
      o += len;
    }
    if (nh !== IpProtocol.Ipv6Frag) return ParseStatus.NotFragment;
    if (o + 8 > present) return this.unparsable(`ipv6.fragment at offset ${o}: the Fragment header runs past the ${o + 8 > end ? 'payload length' : 'buffer'}`);
    this.s0 = u32(b, 8);
    this.s1 = u32(b, 12);
    this.s2 = u32(b, 16);
    this.s3 = u32(b, 20);
    this.d0 = u32(b, 24);
    this.d1 = u32(b, 28);
    this.d2 = u32(b, 32);
    this.d3 = u32(b, 36);
    this.protocol = b[o]!;
    const word = u16(b, o + 2);
    this.offset = word & 0xfff8;
    this.more = (word & 1) !== 0;
    this.ident = u32(b, o + 4);
    this.nextHeaderField = field;
    this.fragmentHeaderAt = o;
    this.headerLength = o;
    this.dataStart = o + 8;
    this.dataEnd = end;
    if (end > b.length) return this.bad('truncated', `ipv6.payload_length at offset 4: ${end - 40} bytes claimed, buffer holds ${b.length - 40}`);
    if (this.offset === 0 && !this.more) return ParseStatus.Atomic;
    return ParseStatus.Fragment;
  }

  /**
   * RFC 7112: the first fragment must hold the whole header chain, up to and including the upper-layer header.
   * How much of the upper-layer header that means follows Linux (ipv6frag_thdr_truncated): TCP 20, UDP 8,
   * ICMPv6 8, No Next Header nothing, anything else (ESP included) at least one byte. Returns a reason or ''.
   */
  headerChainProblem(b: Uint8Array): string {
    let nh = this.protocol;
    let o = this.dataStart;
    const end = this.dataEnd;
    for (let n = 0; ; n++) {
      let len: number;
      if (nh === IpProtocol.HopByHop || nh === IpProtocol.Ipv6Route || nh === IpProtocol.Ipv6Opts) {
        if (o + 2 > end) return `extension header ${nh} at offset ${o} is cut off by the end of the first fragment`;
        len = (b[o + 1]! + 1) * 8;
      } else if (nh === IpProtocol.Ah) {
        if (o + 2 > end) return `authentication header at offset ${o} is cut off by the end of the first fragment`;
        len = (b[o + 1]! + 2) * 4;
      } else if (nh === IpProtocol.Ipv6Frag) {
        len = 8;
      } else {
        break;
      }
      if (n >= MAX_UNFRAGMENTABLE_HEADERS) return `more than ${MAX_UNFRAGMENTABLE_HEADERS} extension headers`;
      if (o + len > end) return `extension header ${nh} of ${len} bytes at offset ${o} is cut off by the end of the first fragment`;
      nh = b[o]!;
      o += len;
    }
    const need = nh === IpProtocol.Tcp ? 20 : nh === IpProtocol.Udp ? 8 : nh === IpProtocol.Icmpv6 ? 8 : nh === IpProtocol.Ipv6NoNext ? 0 : 1;
    if (o + need > end) return `the upper-layer header (protocol ${nh}, ${need} bytes at offset ${o}) is cut off by the end of the first fragment`;
    return '';
  }

  private bad(cause: FragCause, reason: string): ParseStatus {
    this.cause = cause;
    this.reason = reason;
    return ParseStatus.Bad;
  }

  private unparsable(reason: string): ParseStatus {
    this.cause = 'malformed';
    this.reason = reason;
    return ParseStatus.Unparsable;
  }
}

/** RFC 6946: an atomic fragment is the whole packet; return it without its Fragment header. */
export function stripAtomicFragmentHeader(b: Uint8Array, f: FragmentView): Uint8Array {
  const out = new Uint8Array(f.dataEnd - 8);
  out.set(b.subarray(0, f.fragmentHeaderAt), 0);
  out.set(b.subarray(f.dataStart, f.dataEnd), f.fragmentHeaderAt);
  out[f.nextHeaderField] = f.protocol;
  const plen = f.dataEnd - 8 - 40;
  out[4] = plen >>> 8;
  out[5] = plen & 0xff;
  return out;
}
