/**
 * Post-process, findings: the graded vertebrae → the CONTRACT's `vertebrae` and `fractures` (rounded as the
 * JSON states them), and what the key image draws. S1 anchors the count and is drawn on the key image; the
 * findings list T1–L5 (CLINICAL.md).
 */
import type { VertebraFinding } from '../../domain/findings';
import type { Vec3 } from '../../imaging/volume';
import type { BodyComponent } from '../bodies';
import type { GradedVertebra } from './grades';

export interface Findings {
  /** T1–L5, top to bottom. */
  vertebrae: VertebraFinding[];
  /** The vertebrae graded 1 or more. */
  fractures: VertebraFinding[];
  /** Every labelled body (S1 too) with its finding, for the key image. */
  outlines: Array<{ comp: BodyComponent; finding: VertebraFinding }>;
}

const { max, min, round } = Math;
const r1 = (n: number): number => round(n * 10) / 10;
const r2 = (n: number): number => round(n * 100) / 100;

export function collectFindings(graded: GradedVertebra[]): Findings {
  const vertebrae: VertebraFinding[] = [];
  const outlines: Findings['outlines'] = [];
  for (const v of graded) {
    const { component, measurement: m, centerMm } = v.body;
    const finding: VertebraFinding = {
      level: v.level,
      centerMm: centerMm.map(r1) as Vec3,
      grade: v.grade,
      morphology: v.morphology,
      heightLossPercent: v.heightLossPercent,
      heightsMm: { anterior: r1(m.heightsMm.anterior), middle: r1(m.heightsMm.middle), posterior: r1(m.heightsMm.posterior) },
      confidence: r2(min(1, max(0, v.confidence))),
      flags: v.flags,
      gradingNotes: v.gradingNotes,
    };
    if (v.level !== 'S1') vertebrae.push(finding);
    outlines.push({ comp: component, finding });
  }
  return { vertebrae, fractures: vertebrae.filter((f) => f.grade >= 1), outlines };
}
