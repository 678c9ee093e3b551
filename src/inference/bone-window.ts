/**
 * Bone counted in boxes beside a vertebral body, one box on each side, in the patient's frame: the
 * landmark tests (ribs, sacral alae) ask what lies lateral to a body, which the sagittal reformat the
 * network sees does not show.
 */
import { lpsToVoxel, type Vec3, type Volume } from '../imaging/volume';

const { round } = Math;

export interface BoneWindow {
  /** Bone volume (mm³, 1 mm lattice) in the left (+x) and right box. */
  mm3: [number, number];
  /** Lattice points per box (mm³ of the box). */
  boxMm3: number;
  /** Fraction of the lattice points that fall outside the volume. */
  outside: number;
}

/**
 * Boxes `lat` mm beyond the body's side (its half-width `halfWidthMm` from the centre), `dy` mm along
 * posterior (LPS +y) and `dz` mm along superior from the body's `center`; bone means above `boneHu`.
 */
export function boneBesideBody(v: Volume, center: Vec3, halfWidthMm: number, lat: [number, number], dy: [number, number], dz: [number, number], boneHu: number): BoneWindow {
  const [nx, ny, nz] = v.dims;
  const mm3: [number, number] = [0, 0];
  let outside = 0;
  let total = 0;
  for (const [side, sign] of [[0, 1], [1, -1]] as const) {
    for (let l = halfWidthMm + lat[0]; l <= halfWidthMm + lat[1]; l++) {
      for (let y = dy[0]; y <= dy[1]; y++) {
        for (let z = dz[0]; z <= dz[1]; z++) {
          const f = lpsToVoxel(v, [center[0] + sign * l, center[1] + y, center[2] + z]);
          const i = round(f[0]);
          const j = round(f[1]);
          const k = round(f[2]);
          total++;
          if (i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz) outside++;
          else if ((v.data[i + j * nx + k * nx * ny] as number) > boneHu) mm3[side]++;
        }
      }
    }
  }
  return { mm3, boxMm3: total / 2, outside: outside / Math.max(1, total) };
}
