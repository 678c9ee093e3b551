/**
 * Rib-bearing test for one vertebra: a rib leaves the costovertebral joint beside the upper half of the
 * body and runs laterally and backwards. Lumbar transverse processes stop ~22 mm beyond the body's side,
 * so bone 28–50 mm beyond it, level with the body's upper half and 8–60 mm behind its centre (clear of
 * the iliac wings beside L5), is a rib: phantom ribs give 1,000–2,900 mm³ there, so 400 mm³ decides; the
 * floating 12th rib reaches L1's window too, which the rib-head window settles (see ribTest). Bone means
 * above 250 HU: contrast-enhanced kidneys (~155 HU portal-venous) with 25 HU of noise put up to 280 mm³
 * above 200 HU into the L1–L3 windows and at most 21 mm³ above 250, while phantom ribs lose < 10%.
 */
import { huNearest, type Vec3, type Volume } from '../imaging/volume';
import { bodyHalfWidthMm } from './bodies';

/** Bone above this HU counts (see above: clear of enhanced kidneys, most of a phantom rib kept). */
const BONE_HU = 250;
/** Bone volume (mm³) in a side's rib window that makes it a rib. */
const MIN_RIB_MM3 = 400;
/** Bone volume (mm³) in a side's rib-head window that puts the rib's head against this body. */
const MIN_HEAD_MM3 = 100;
/** At most this bone volume (mm³) in both rib windows: no rib there at all (see `ribFree`). */
const RIB_FREE_MM3 = 100;

export interface RibTest {
  ribBearing: boolean | null;
  /**
   * Next to no bone in either rib window (< RIB_FREE_MM3): a cervical or lumbar vertebra, not a thoracic one
   * whose rib the test missed (missed ribs left 1,000–1,500 mm³ there on the 8 mm real chest and on the
   * alternate phantom; C7 and L2–L5 hold 0–10). Null when not assessed.
   */
  ribFree: boolean | null;
  /** Bone volume (mm³) in the left and right rib windows. */
  leftMm3: number;
  rightMm3: number;
  /** Bone volume (mm³) in the left and right rib-head windows. */
  headLeftMm3: number;
  headRightMm3: number;
}

/**
 * `center` is the body centre (LPS mm), `heightMm` its posterior height and `depthMm` its AP depth (the
 * width is taken as 1.45 × depth, the adult ratio). A side carries a rib when both its windows hold bone:
 * the rib 28–50 mm beyond the body's side, and its head against the body — 0–15 mm beyond its side, from
 * 5 mm in front of its centre to 18 mm behind it (in front of the pedicles and transverse processes),
 * level with its upper half. The head window is what tells T12 from L1: the floating 12th rib descends
 * beside L1 (phantoms put up to 600 mm³ into L1's rib window, the real fixture CT 350 mm³) but its head
 * is a level higher, so L1's head window holds 0–24 mm³ against 380–1,230 mm³ at T10–T12. Null when
 * the rib windows leave the volume.
 */
export function ribTest(v: Volume, center: Vec3, heightMm: number, depthMm: number): RibTest {
  const halfW = bodyHalfWidthMm(depthMm);
  /** Bone volume (1 mm steps) per side in a window, and the fraction of it outside the volume. */
  const window = (lat: [number, number], dy: [number, number], dz: [number, number]): { mm3: [number, number]; outside: number } => {
    const mm3: [number, number] = [0, 0];
    let outside = 0;
    let total = 0;
    for (const [side, sign] of [[0, 1], [1, -1]] as const) {
      for (let l = halfW + lat[0]; l <= halfW + lat[1]; l++) {
        for (let y = dy[0]; y <= dy[1]; y++) {
          for (let z = dz[0]; z <= dz[1]; z++) {
            const hu = huNearest(v, [center[0] + sign * l, center[1] + y, center[2] + z]);
            total++;
            if (hu === null) outside++;
            else if (hu > BONE_HU) mm3[side]++;
          }
        }
      }
    }
    return { mm3, outside: outside / total };
  };
  const rib = window([28, 50], [8, 60], [-10, 0.3 * heightMm + 6]);
  const head = window([0, 15], [-5, 18], [-5, 0.5 * heightMm]);
  const [left, right] = rib.mm3;
  const [headLeft, headRight] = head.mm3;
  const result = { leftMm3: left, rightMm3: right, headLeftMm3: headLeft, headRightMm3: headRight };
  if (rib.outside > 0.2) return { ribBearing: null, ribFree: null, ...result };
  return {
    ribBearing: (left >= MIN_RIB_MM3 && headLeft >= MIN_HEAD_MM3) || (right >= MIN_RIB_MM3 && headRight >= MIN_HEAD_MM3),
    ribFree: left < RIB_FREE_MM3 && right < RIB_FREE_MM3,
    ...result,
  };
}
