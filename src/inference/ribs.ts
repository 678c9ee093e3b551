/**
 * Rib-bearing test for one vertebra: a rib leaves the costovertebral joint beside the upper half of the
 * body and runs laterally and backwards. Lumbar transverse processes stop ~22 mm beyond the body's side,
 * so bone 28–50 mm beyond it, level with the body's upper half and 8–60 mm behind its centre (clear of
 * the iliac wings beside L5), is a rib: phantom ribs give 1,000–2,900 mm³ there, the floating T12 rib
 * passing below it < 160 mm³ at L1, so 400 mm³ decides. Bone means above 250 HU: contrast-enhanced
 * kidneys (~155 HU portal-venous) with 25 HU of noise put up to 280 mm³ above 200 HU into the L1–L3
 * windows and at most 21 mm³ above 250, while phantom ribs lose < 10%.
 */
import { lpsToVoxel, type Vec3, type Volume } from '../imaging/volume';

const { round } = Math;

export interface RibTest {
  ribBearing: boolean | null;
  /** Bone volume (mm³) found in the left and right windows. */
  leftMm3: number;
  rightMm3: number;
}

/**
 * `center` is the body centre (LPS mm), `heightMm` its posterior height and `depthMm` its AP depth (the
 * width is taken as 1.45 × depth, the adult ratio). Null when the windows leave the volume.
 */
export function ribTest(v: Volume, center: Vec3, heightMm: number, depthMm: number, opts: { boneHu?: number; minMm3?: number } = {}): RibTest {
  const bone = opts.boneHu ?? 250;
  const minMm3 = opts.minMm3 ?? 400;
  const halfW = 0.725 * depthMm;
  const step = 1;
  const [nx, ny, nz] = v.dims;
  const vol = [0, 0];
  let outside = 0;
  let total = 0;
  for (const [side, sign] of [[0, 1], [1, -1]] as const) {
    for (let lat = halfW + 28; lat <= halfW + 50; lat += step) {
      for (let dy = 8; dy <= 60; dy += step) {
        for (let dz = -10; dz <= 0.3 * heightMm + 6; dz += step) {
          const f = lpsToVoxel(v, [center[0] + sign * lat, center[1] + dy, center[2] + dz]);
          const i = round(f[0]);
          const j = round(f[1]);
          const k = round(f[2]);
          total++;
          if (i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz) {
            outside++;
            continue;
          }
          if ((v.data[i + j * nx + k * nx * ny] as number) > bone) vol[side] = (vol[side] as number) + step ** 3;
        }
      }
    }
  }
  const [left, right] = vol as [number, number];
  if (outside > 0.2 * total) return { ribBearing: null, leftMm3: left, rightMm3: right };
  return { ribBearing: left >= minMm3 || right >= minMm3, leftMm3: left, rightMm3: right };
}
