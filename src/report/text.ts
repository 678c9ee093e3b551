/**
 * Text normalisation that keeps offsets: every function here returns a string of the SAME length as its
 * input, so a match found in the folded text has the same offsets in the original report.
 */

const FOLD: Record<string, string> = {
  à: 'a', á: 'a', â: 'a', ã: 'a', ä: 'a', å: 'a', æ: 'a',
  ç: 'c', è: 'e', é: 'e', ê: 'e', ë: 'e', ì: 'i', í: 'i', î: 'i', ï: 'i',
  ñ: 'n', ò: 'o', ó: 'o', ô: 'o', õ: 'o', ö: 'o', ø: 'o', œ: 'o',
  ù: 'u', ú: 'u', û: 'u', ü: 'u', ý: 'y', ÿ: 'y',
  '’': "'", '‘': "'", 'ʼ': "'", '`': "'", '´': "'",
  '–': '-', '—': '-', '‐': '-', '‑': '-', '−': '-',
  '\u00a0': ' ', '\u202f': ' ', '\u2009': ' ', '\t': ' ', '\f': ' ', '\v': ' ',
};

function foldChar(ch: string): string {
  const code = ch.charCodeAt(0);
  if (code === 13) return '\n';
  if (code < 32) return ' ';
  const lower = ch.toLowerCase();
  const r = FOLD[lower] ?? (lower.length === 1 ? lower : ch);
  // Anything we cannot map to exactly one character (surrogates, some capitals) becomes a space.
  return r.length === 1 ? r : ' ';
}

/**
 * Lower-cases, strips French/Latin accents, unifies apostrophes and dashes, and blanks control
 * characters (binary junk becomes spaces). Same length as the input.
 */
export function foldText(text: string): string {
  const lower = text.toLowerCase();
  if (lower.length === text.length) {
    // Fast path: only characters outside printable ASCII need a look-up.
    return lower.replace(/[^\x20-\x7e\n]/g, foldChar);
  }
  let out = '';
  for (let i = 0; i < text.length; i++) out += foldChar(text[i] as string);
  return out;
}

function isWordChar(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 48 && code <= 57) || (code >= 0xdf && code <= 0xff);
}

/**
 * Prefix counts of word starts: `wordsBetween(a, b)` is the number of words beginning in [a, b).
 * Lets scope windows be measured in words in O(1).
 */
export class WordIndex {
  private readonly prefix: Int32Array;

  constructor(folded: string) {
    const n = folded.length;
    this.prefix = new Int32Array(n + 1);
    let count = 0;
    let prevWord = false;
    for (let i = 0; i < n; i++) {
      const w = isWordChar(folded.charCodeAt(i));
      if (w && !prevWord) count++;
      this.prefix[i + 1] = count;
      prevWord = w;
    }
  }

  wordsBetween(a: number, b: number): number {
    if (b <= a) return 0;
    return (this.prefix[b] ?? 0) - (this.prefix[a] ?? 0);
  }
}

/** Simple word tokens of a (short) folded substring. */
export function tokens(s: string): string[] {
  return s.match(/[a-z0-9\u00df-\u00ff]+/g) ?? [];
}
