/** Capture link types (LINKTYPE_* of pcap and pcapng) that the frame decoder understands. */
export const LinkType = {
  Null: 0,
  Ethernet: 1,
  Raw: 101,
  Loop: 108,
  LinuxSll: 113,
  Ipv4: 228,
  Ipv6: 229,
  LinuxSll2: 276,
} as const;

const NAMES: ReadonlyMap<number, string> = new Map([
  [LinkType.Null, 'null'],
  [LinkType.Ethernet, 'ethernet'],
  [LinkType.Raw, 'raw'],
  [LinkType.Loop, 'loop'],
  [LinkType.LinuxSll, 'linux-sll'],
  [LinkType.Ipv4, 'ipv4'],
  [LinkType.Ipv6, 'ipv6'],
  [LinkType.LinuxSll2, 'linux-sll2'],
]);

export function linkTypeName(linkType: number): string {
  return NAMES.get(linkType) ?? `linktype-${linkType}`;
}
