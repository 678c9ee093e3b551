import { analyzeReport, type Language, type ReportAnalysis } from '../../../src/report';

/** "L1:present T12:absent thoracic:historical" summary of an analysis, in mention order. */
export function summary(text: string, language?: Language): string {
  const r = analyzeReport(text, language ? { language } : {});
  return r.mentions.map((m) => `${m.level ?? m.region}:${m.assertion}`).join(' ');
}

export function analyse(text: string, language?: Language): ReportAnalysis {
  return analyzeReport(text, language ? { language } : {});
}
