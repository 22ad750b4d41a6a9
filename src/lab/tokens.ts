/**
 * Values that end up in line-oriented input to other programs (`ip -batch`, iptables-restore) must stay one token:
 * a space or newline in an interface name from a topology file would otherwise smuggle in another command.
 */
const TOKEN = /^[A-Za-z0-9_.:/@%][A-Za-z0-9_.:/@%-]*$/;

export function shellSafeToken(value: string, what: string): string {
  if (!TOKEN.test(value)) throw new Error(`${what} "${value}" may only contain letters, digits and _.:/@%- (not starting with -)`);
  return value;
}
