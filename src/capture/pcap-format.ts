/** Layout facts of the classic libpcap file format (draft-ietf-opsawg-pcap). */

/** Magic as read in the writer's byte order: microsecond timestamps. */
export const PCAP_MAGIC_US = 0xa1b2c3d4;
/** Magic as read in the writer's byte order: nanosecond timestamps. */
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** Alexey Kuznetzov's modified pcap: longer record headers, not supported. */
export const PCAP_MAGIC_MODIFIED = 0xa1b2cd34;

export const PCAP_FILE_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;

/** The header's network field: link type in the low 16 bits, FCS information above. */
export const PCAP_LINKTYPE_MASK = 0xffff;
