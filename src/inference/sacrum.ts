/**
 * Sacral test for one vertebra: the sacrum is the vertebra whose body is flanked by its alae, bone
 * running sideways from the body to the sacroiliac joints, where every lumbar body has the psoas beside
 * it (the transverse processes leave from the pedicles, behind the body). The network sees a thin
 * sagittal slab and cannot see the alae; this test gives the sacrum anchor a second, anatomical witness
 * (see labelling.ts).
 *
 * Each 1 mm lateral position 3–20 mm beyond the body's side is bone when, at some AP position within
 * ±40% of the body's depth, the median HU over the body's height (−30% to +35% about its centre) is
 * above 95 HU: an ala is a band that runs the body's height, even the thin osteoporotic one of the
 * fixture CT (6–9 mm at 110–180 HU); the psoas (~50 HU) is not, and a median over height ignores noise
 * and a vessel crossing. A body is sacral when at least 70% of the positions are bone on both sides.
 * Not a test to trust alone: on 100 held-out phantoms per contrast phase (bench:detection,
 * `sacralAlaeFraction`, the weaker side) S1 reaches ≥ 0.61, but ribs beside thoracic bodies reach 1.0 and
 * enhanced vessels or kidneys beside L1–L2 0.67 (portal-venous); the real CT gives S1 1.0, L1–L5 0. So
 * labelling.ts lets it move the model's S1 only next to a body the model calls partly S1, and only
 * below the last rib-bearing vertebra.
 */
import { huNearest, type Vec3, type Volume } from '../imaging/volume';
import { bodyHalfWidthMm } from './bodies';

export interface SacralTest {
  sacral: boolean | null;
  /** Fraction of the lateral positions on the left and right that are bone. */
  left: number;
  right: number;
}

/** Above this a lateral position's band counts as bone. */
const BONE_HU = 95;
/** Fraction of the lateral positions that must be bone, on each side. */
const MIN_FRACTION = 0.7;

/** `center` is the body centre (LPS mm), `heightMm` its height and `depthMm` its AP depth (width taken as 1.45 × depth). Null when the positions leave the volume. */
export function sacralTest(v: Volume, center: Vec3, heightMm: number, depthMm: number): SacralTest {
  const halfW = bodyHalfWidthMm(depthMm);
  const fractions: number[] = [];
  let outside = 0;
  let total = 0;
  for (const sign of [1, -1]) {
    let bone = 0;
    let positions = 0;
    for (let l = halfW + 3; l <= halfW + 20; l++) {
      // Per AP position the median over height (noise and a vessel crossing do not make a band), then the
      // densest AP position: an ala is a band that runs the body's height somewhere across its depth.
      let densest = -Infinity;
      for (let y = -0.4 * depthMm; y <= 0.4 * depthMm; y++) {
        const hu: number[] = [];
        for (let z = -0.3 * heightMm; z <= 0.35 * heightMm; z++) {
          const value = huNearest(v, [center[0] + sign * l, center[1] + y, center[2] + z]);
          total++;
          if (value === null) outside++;
          else hu.push(value);
        }
        if (hu.length === 0) continue;
        hu.sort((a, b) => a - b);
        densest = Math.max(densest, hu[hu.length >> 1] as number);
      }
      if (densest === -Infinity) continue;
      positions++;
      if (densest > BONE_HU) bone++;
    }
    fractions.push(positions ? bone / positions : 0);
  }
  const [left, right] = fractions as [number, number];
  return { sacral: outside / Math.max(1, total) > 0.2 ? null : left >= MIN_FRACTION && right >= MIN_FRACTION, left, right };
}
