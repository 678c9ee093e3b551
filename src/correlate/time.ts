/**
 * A date or date-time as milliseconds on a common clock, ignoring any zone: DICOM StudyDate/Time and HL7
 * OBR-7 are both the site's local time, so comparing wall-clock readings is what a window needs.
 */
export function localTimeMs(iso: string | null): number | null {
  if (!iso) return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?)?/.exec(iso);
  if (!m) return null;
  const [, y, mo, d, h, mi, s] = m;
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 12), Number(mi ?? 0), Number(s ?? 0));
}
