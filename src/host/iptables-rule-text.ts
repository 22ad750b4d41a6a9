/**
 * The words of an iptables rule as `iptables -S` prints them and `iptables-restore` reads them: whitespace-separated,
 * with double quotes around words that contain spaces (comments) and a backslash before a quote or backslash inside
 * them. Reading a listed rule and writing it back must give the same rule, or `-D` would miss it.
 */

export function splitRuleLine(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === ' ' || line[i] === '\t') {
      i++;
      continue;
    }
    let word = '';
    let quoted = false;
    for (; i < line.length; i++) {
      const c = line[i] as string;
      if (quoted && c === '\\' && i + 1 < line.length) word += line[++i];
      else if (c === '"') quoted = !quoted;
      else if (!quoted && (c === ' ' || c === '\t')) break;
      else word += c;
    }
    words.push(word);
  }
  return words;
}

export function quoteRuleWord(word: string): string {
  return /^[^\s"\\']+$/.test(word) ? word : `"${word.replace(/["\\]/g, '\\$&')}"`;
}

export function joinRuleWords(words: readonly string[]): string {
  return words.map(quoteRuleWord).join(' ');
}
