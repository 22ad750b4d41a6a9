const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function hex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!];
  return s;
}

/** Byte fields that hold payload, possibly large, are given as their byte count; other byte fields as hex. */
export function bytesJson(b: Uint8Array, key: string): string {
  return key === 'data' || key === 'quoted' ? String(b.length) : `"${hex(b)}"`;
}

/**
 * Any decoded value as JSON, with bytesJson for byte fields and bigints as strings; undefined fields
 * are left out. Object keys are our own identifiers and need no escaping; string values are escaped.
 */
export function jsonValue(value: unknown, key = ''): string | undefined {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return `"${value}"`;
    case 'object': {
      if (value === null) return 'null';
      if (value instanceof Uint8Array) return bytesJson(value, key);
      if (Array.isArray(value)) {
        let s = '[';
        for (let i = 0; i < value.length; i++) s += (i ? ',' : '') + (jsonValue(value[i]) ?? 'null');
        return s + ']';
      }
      let s = '{';
      let first = true;
      for (const k of Object.keys(value)) {
        const v = jsonValue((value as Record<string, unknown>)[k], k);
        if (v === undefined) continue;
        s += `${first ? '' : ','}"${k}":${v}`;
        first = false;
      }
      return s + '}';
    }
    default:
      return undefined;
  }
}
