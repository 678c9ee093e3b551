/**
 * How the reference `spine_report` reads its heights: measures the red height lines drawn in its report
 * image (`spine_report.nii.gz`, an RGB NIfTI of the rendered page) — each line's length, its angle, and
 * how far each end stops short of the green outline of the vertebral-body mask it is drawn in. JSON out.
 *
 *   npx tsx bench/spine-report-lines.ts [--px-per-mm 3.78]
 *
 * The image shows 3 mm voxels as blocks of ~11.3 px, hence the default 3.78 px/mm; with it each line's
 * length equals the height printed beside its vertebra in the same image.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';

const { values } = parseArgs({ options: { 'px-per-mm': { type: 'string', default: '3.78' } } });
const pxPerMm = Number(values['px-per-mm']);
const path = join(__dirname, '..', '..', 'shared', 'fixtures', 'imaging', 'totalsegmentator', 'spine_report', 'example_ct_report', 'spine_report.nii.gz');
const b = gunzipSync(readFileSync(path));
const [w, h] = [b.readInt16LE(42), b.readInt16LE(44)];
if (b.readInt16LE(70) !== 128) throw new Error('expected an RGB24 NIfTI');
const off = b.readFloatLE(108);
const rgb = (x: number, y: number): [number, number, number] => {
  const o = off + (y * w + x) * 3;
  return [b[o]!, b[o + 1]!, b[o + 2]!];
};
const isRed = (x: number, y: number): boolean => {
  const [r, g, bl] = rgb(x, y);
  return r > 200 && g < 60 && bl < 60;
};
// The outline is green; outside the mask the panel is black.
const stops = (x: number, y: number): boolean => {
  const [r, g, bl] = rgb(x, y);
  return (g > 100 && r < 80 && bl < 80) || r + g + bl < 30;
};

// Red components in the image panel (right half of the page), 8-connected, larger than 30 px.
const seen = new Uint8Array(w * h);
const lines: Array<Record<string, number>> = [];
for (let y0 = 0; y0 < h; y0++) {
  for (let x0 = 600; x0 < w; x0++) {
    if (seen[y0 * w + x0] || !isRed(x0, y0)) continue;
    const pts: Array<[number, number]> = [];
    const stack: Array<[number, number]> = [[x0, y0]];
    seen[y0 * w + x0] = 1;
    while (stack.length) {
      const [x, y] = stack.pop()!;
      pts.push([x, y]);
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          const yy = y + dy;
          if (xx < 600 || yy < 0 || xx >= w || yy >= h || seen[yy * w + xx] || !isRed(xx, yy)) continue;
          seen[yy * w + xx] = 1;
          stack.push([xx, yy]);
        }
    }
    if (pts.length <= 30) continue;
    // Principal axis of the component: its direction and extent.
    const cx = pts.reduce((s, p) => s + p[0], 0) / pts.length;
    const cy = pts.reduce((s, p) => s + p[1], 0) / pts.length;
    let sxx = 0;
    let sxy = 0;
    let syy = 0;
    for (const [x, y] of pts) {
      sxx += (x - cx) ** 2;
      sxy += (x - cx) * (y - cy);
      syy += (y - cy) ** 2;
    }
    const angle = 0.5 * Math.atan2(2 * sxy, sxx - syy);
    const d: [number, number] = [Math.cos(angle), Math.sin(angle)];
    const ts = pts.map(([x, y]) => (x - cx) * d[0] + (y - cy) * d[1]);
    const t0 = Math.min(...ts);
    const t1 = Math.max(...ts);
    const gap = (t: number, sign: number): number => {
      for (let k = 0; k < 60; k += 0.5) {
        const x = Math.round(cx + d[0] * (t + sign * k));
        const y = Math.round(cy + d[1] * (t + sign * k));
        if (stops(x, y)) return k;
      }
      return NaN;
    };
    const g0 = gap(t0, -1);
    const g1 = gap(t1, 1);
    const r2 = (n: number): number => Math.round(n * 100) / 100;
    lines.push({ x: Math.round(cx), y: Math.round(cy), degreesFromHorizontal: Math.round((angle * 180) / Math.PI), lengthMm: r2((t1 - t0) / pxPerMm), gapsToOutlineMm0: r2(g0 / pxPerMm), gapsToOutlineMm1: r2(g1 / pxPerMm) });
  }
}
lines.sort((a, b) => Math.floor(a.y! / 100) - Math.floor(b.y! / 100) || a.x! - b.x!);
const gaps = lines.flatMap((l) => [l.gapsToOutlineMm0!, l.gapsToOutlineMm1!]);
console.log(
  JSON.stringify(
    {
      bench: 'spine-report-lines',
      image: path,
      pxPerMm,
      lines,
      meanGapPerEndMm: Math.round((gaps.reduce((a, b) => a + b, 0) / gaps.length) * 100) / 100,
    },
    null,
    2,
  ),
);
