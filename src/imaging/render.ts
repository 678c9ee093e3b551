/**
 * PNG renders of a volume for humans: sagittal through the spine and axial planes, windowed, with the
 * pixel aspect corrected (slices are often thicker than pixels are wide).
 */
import { writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { axialPlane, sagittalPlane, toCanonicalLps, type Volume } from './volume';
// Module-local aliases: global lookups are slow inside vm contexts (jest), and these run per voxel.
const { floor, max, min, round } = Math;

export interface CtWindow {
  center: number;
  width: number;
}

export const WINDOWS = {
  bone: { center: 400, width: 1800 },
  softTissue: { center: 40, width: 400 },
  lung: { center: -600, width: 1500 },
} as const satisfies Record<string, CtWindow>;

export interface Plane {
  hu: Int16Array;
  rows: number;
  cols: number;
  rowSpacing: number;
  colSpacing: number;
}

/** Windowed 8-bit greyscale PNG of a plane, resampled (linear along rows) to square display pixels. */
export function planeToPng(p: Plane, w: CtWindow): Buffer {
  const px = min(p.rowSpacing, p.colSpacing);
  const outCols = max(1, round((p.cols * p.colSpacing) / px));
  const outRows = max(1, round((p.rows * p.rowSpacing) / px));
  const png = new PNG({ width: outCols, height: outRows, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  const lo = w.center - w.width / 2;
  const buf = Buffer.alloc(outCols * outRows * 4);
  for (let r = 0; r < outRows; r++) {
    const fr = min(p.rows - 1, max(0, ((r + 0.5) * px) / p.rowSpacing - 0.5));
    const r0 = floor(fr);
    const r1 = min(p.rows - 1, r0 + 1);
    const tr = fr - r0;
    for (let c = 0; c < outCols; c++) {
      const fc = min(p.cols - 1, max(0, ((c + 0.5) * px) / p.colSpacing - 0.5));
      const c0 = floor(fc);
      const c1 = min(p.cols - 1, c0 + 1);
      const tc = fc - c0;
      const v00 = p.hu[r0 * p.cols + c0] as number;
      const v01 = p.hu[r0 * p.cols + c1] as number;
      const v10 = p.hu[r1 * p.cols + c0] as number;
      const v11 = p.hu[r1 * p.cols + c1] as number;
      const v = (v00 * (1 - tc) + v01 * tc) * (1 - tr) + (v10 * (1 - tc) + v11 * tc) * tr;
      const g = max(0, min(255, round(((v - lo) / w.width) * 255)));
      const o = (r * outCols + c) * 4;
      buf[o] = g;
      buf[o + 1] = g;
      buf[o + 2] = g;
      buf[o + 3] = 255;
    }
  }
  png.data = buf;
  return PNG.sync.write(png, { colorType: 0 });
}

/**
 * Writes `<prefix>-sagittal-bone.png`, `<prefix>-sagittal-soft.png` at patient x = `sagittalXMm` (default
 * the volume's middle) and bone/soft axial PNGs at each z in `axialZMm`. Returns the paths written.
 */
export function renderVolumePngs(v: Volume, prefix: string, opts: { sagittalXMm?: number; axialZMm?: number[] } = {}): string[] {
  const canon = toCanonicalLps(v);
  const written: string[] = [];
  const midX = canon.origin[0] + ((canon.dims[0] - 1) * canon.spacing[0]) / 2;
  const sag = sagittalPlane(canon, opts.sagittalXMm ?? midX);
  for (const [name, w] of [['bone', WINDOWS.bone], ['soft', WINDOWS.softTissue]] as const) {
    const path = `${prefix}-sagittal-${name}.png`;
    writeFileSync(path, planeToPng(sag, w));
    written.push(path);
  }
  for (const z of opts.axialZMm ?? []) {
    const ax = axialPlane(canon, z);
    for (const [name, w] of [['bone', WINDOWS.bone], ['soft', WINDOWS.softTissue]] as const) {
      const path = `${prefix}-axial-z${round(z)}-${name}.png`;
      writeFileSync(path, planeToPng(ax, w));
      written.push(path);
    }
  }
  return written;
}
