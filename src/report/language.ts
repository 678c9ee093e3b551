/** English/French detection from function words and accents; cheap enough to run on every report. */
import type { Language } from './types';

const FR_WORDS = new Set([
  'le', 'la', 'les', 'des', 'du', 'de', 'et', 'un', 'une', 'est', 'sont', 'pas', 'sans', 'avec', 'au', 'aux', 'sur', 'dans',
  'pour', 'ou', 'mais', 'en', 'il', 'elle', 'ce', 'cette', 'qui', 'que', 'tassement', 'tassements', 'vertebre', 'vertebral',
  'vertebrale', 'vertebraux', 'hauteur', 'examen', 'absence', 'aucun', 'aucune', 'niveau', 'rachis', 'lombaire', 'dorsale',
  'conclusion', 'resultats', 'anterieur', 'precedent', 'ancien', 'connu', 'signe', 'lesion', 'os',
]);
const EN_WORDS = new Set([
  'the', 'of', 'and', 'is', 'are', 'no', 'with', 'without', 'there', 'at', 'in', 'on', 'for', 'or', 'but', 'to', 'a', 'an',
  'this', 'that', 'which', 'was', 'were', 'be', 'been', 'has', 'have', 'not', 'seen', 'noted', 'height', 'loss', 'compression',
  'vertebral', 'body', 'bodies', 'spine', 'findings', 'impression', 'prior', 'unchanged', 'stable', 'new', 'old', 'mild',
]);

/**
 * Counts French vs English markers in (at most) the first 4,000 characters of folded text; accented
 * letters in the original count for French. Ties and empty text give `en`.
 */
export function detectLanguage(original: string, folded: string): Language {
  const sample = folded.slice(0, 3000);
  let fr = 0;
  let en = 0;
  const re = /[a-z]+/g;
  let m: RegExpExecArray | null;
  let words = 0;
  while ((m = re.exec(sample)) !== null) {
    const w = m[0];
    // Clear enough: stop early (reports are long, the first lines decide).
    if (++words > 40 && Math.abs(fr - en) >= 10) break;
    if (FR_WORDS.has(w)) fr++;
    else if (EN_WORDS.has(w)) en++;
    // Typical endings break ties on short, telegraphic lines ("Pincement discal L5-S1").
    else if (w.length > 4 && /(?:ique|iques|ement|ements|eux|euse|ale|ales|aux|ee|ees|eur)$/.test(w)) fr += 0.5;
    else if (w.length > 4 && /(?:ing|ed|ness|ity|ic|ous|ally|ly)$/.test(w)) en += 0.5;
  }
  const accents = original.slice(0, 4000).match(/[éèêàçùâîôûœ]/gi);
  fr += accents ? Math.min(accents.length, 20) * 0.5 : 0;
  // "d'", "l'" elisions are French.
  const elisions = sample.match(/\b[dlnqs]'[a-z]/g);
  fr += elisions ? elisions.length : 0;
  return fr > en ? 'fr' : 'en';
}
