/**
 * Post-process, levels: which vertebra each body is. Ribs and sacral alae are looked for beside each whole
 * body in the volume (../ribs.ts, ../sacrum.ts), then the bodies are counted up from the sacrum and down
 * from the last and the first rib-bearing vertebrae (../labelling.ts).
 */
import type { Volume } from '../../imaging/volume';
import { assignLevels, type LabelResult } from '../labelling';
import { ribTest, type RibTest } from '../ribs';
import { sacralTest, type SacralTest } from '../sacrum';
import type { VertebralBodies } from './bodies';

/** The labelling, with the anatomical tests behind it (per body, in the bodies' order). */
export interface LevelAssignment extends LabelResult {
  /** The rib test beside the body (null: not tested, the body is cut by the edge of the scan). */
  ribs: Array<RibTest | null>;
  /** Sacral alae beside the body (null: not tested, cut by the edge of the scan). */
  sacral: Array<SacralTest | null>;
}

export function labelLevels(volume: Volume, found: VertebralBodies): LevelAssignment {
  const { bodies } = found;
  const ribs = bodies.map(({ component: c, measurement: m, centerMm }) => (c.touchesEdge ? null : ribTest(volume, centerMm, m.heightsMm.posterior, m.depthMm)));
  const sacral = bodies.map(({ component: c, measurement: m, centerMm }) =>
    c.touchesEdge ? null : sacralTest(volume, centerMm, m.heightsMm.posterior, m.depthMm),
  );
  const labelled = assignLevels(
    bodies.map(({ component: c, measurement: m, centerMm }, i) => ({
      z: centerMm[2],
      s1Fraction: found.s1Class ? c.s1Fraction : null,
      sacral: sacral[i]?.sacral ?? null,
      ribBearing: ribs[i]?.ribBearing ?? null,
      ribFree: ribs[i]?.ribFree ?? null,
      posteriorMm: c.touchesEdge ? null : m.heightsMm.posterior,
    })),
  );
  return { ...labelled, ribs, sacral };
}
