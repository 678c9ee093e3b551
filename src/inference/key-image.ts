/**
 * The key image: the curved sagittal reformat (bone window) with every vertebra labelled on its anterior
 * side and each fractured level outlined in the colour of its Genant grade with "G1"–"G3" beside the label.
 */
import { PNG } from 'pngjs';
import type { VertebraFinding } from '../domain/findings';
import type { BodyComponent } from './bodies';
import type { SagittalSlab } from './reformat';

const { floor, max, min, round } = Math;

// 5×7 glyphs for the characters the labels need.
const GLYPHS: Record<string, string[]> = {
  '0': ['01110', '10001', '10011', '10101', '11001', '10001', '01110'],
  '1': ['00100', '01100', '00100', '00100', '00100', '00100', '01110'],
  '2': ['01110', '10001', '00001', '00010', '00100', '01000', '11111'],
  '3': ['11110', '00001', '00001', '01110', '00001', '00001', '11110'],
  '4': ['00010', '00110', '01010', '10010', '11111', '00010', '00010'],
  '5': ['11111', '10000', '11110', '00001', '00001', '10001', '01110'],
  '6': ['00110', '01000', '10000', '11110', '10001', '10001', '01110'],
  '7': ['11111', '00001', '00010', '00100', '01000', '01000', '01000'],
  '8': ['01110', '10001', '10001', '01110', '10001', '10001', '01110'],
  '9': ['01110', '10001', '10001', '01111', '00001', '00010', '01100'],
  T: ['11111', '00100', '00100', '00100', '00100', '00100', '00100'],
  L: ['10000', '10000', '10000', '10000', '10000', '10000', '11111'],
  S: ['01111', '10000', '10000', '01110', '00001', '00001', '11110'],
  G: ['01110', '10001', '10000', '10111', '10001', '10001', '01110'],
  '?': ['01110', '10001', '00001', '00010', '00100', '00000', '00100'],
  ' ': ['00000', '00000', '00000', '00000', '00000', '00000', '00000'],
};

const GRADE_COLOURS: Record<number, [number, number, number]> = { 1: [255, 220, 0], 2: [255, 140, 0], 3: [255, 40, 40] };
const LABEL_COLOUR: [number, number, number] = [90, 220, 255];

/** Renders the key image; `scale` integer upsampling of the 1 mm reformat (default 2). */
export function renderKeyImage(
  slab: SagittalSlab,
  labels: Int32Array,
  items: Array<{ comp: BodyComponent; finding: VertebraFinding }>,
  opts: { scale?: number; window?: { center: number; width: number } } = {},
): Buffer {
  const s = opts.scale ?? 2;
  const w = opts.window ?? { center: 400, width: 1800 };
  const { rows, cols } = slab;
  const centre = floor(slab.channels / 2) * rows * cols;
  const W = cols * s;
  const H = rows * s;
  const png = new PNG({ width: W, height: H });
  const lo = w.center - w.width / 2;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const v = slab.data[centre + floor(y / s) * cols + floor(x / s)] as number;
      const g = max(0, min(255, round(((v - lo) / w.width) * 255)));
      const o = (y * W + x) * 4;
      png.data[o] = g;
      png.data[o + 1] = g;
      png.data[o + 2] = g;
      png.data[o + 3] = 255;
    }
  }
  const put = (x: number, y: number, c: [number, number, number]): void => {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    const o = (y * W + x) * 4;
    png.data[o] = c[0];
    png.data[o + 1] = c[1];
    png.data[o + 2] = c[2];
  };
  const text = (str: string, x0: number, y0: number, c: [number, number, number], px: number): void => {
    let x = x0;
    for (const ch of str) {
      const gl = GLYPHS[ch] ?? GLYPHS['?'];
      gl?.forEach((row, gy) => {
        for (let gx = 0; gx < 5; gx++) {
          if (row[gx] !== '1') continue;
          for (let dy = 0; dy < px; dy++) for (let dx = 0; dx < px; dx++) put(x + gx * px + dx, y0 + gy * px + dy, c);
        }
      });
      x += 6 * px;
    }
  };
  for (const { comp, finding } of items) {
    const fractured = finding.grade >= 1;
    const colour = fractured ? (GRADE_COLOURS[finding.grade] as [number, number, number]) : LABEL_COLOUR;
    // Outline: component pixels with a neighbour outside the component (thick for fractures).
    for (let r = comp.rowRange[0]; r <= comp.rowRange[1]; r++) {
      for (let c = comp.colRange[0]; c <= comp.colRange[1]; c++) {
        const i = r * cols + c;
        if (labels[i] !== comp.id) continue;
        const edge = r === 0 || c === 0 || r === rows - 1 || c === cols - 1 || labels[i - 1] !== comp.id || labels[i + 1] !== comp.id || labels[i - cols] !== comp.id || labels[i + cols] !== comp.id;
        if (!edge || (!fractured && (r + c) % 2 === 1)) continue;
        for (let dy = 0; dy < s; dy++) for (let dx = 0; dx < s; dx++) put(c * s + dx, r * s + dy, colour);
      }
    }
    const label = fractured ? `${finding.level} G${finding.grade}` : finding.level;
    const px = max(1, s);
    const tx = max(0, comp.colRange[0] * s - label.length * 6 * px - 4);
    const ty = max(0, round(comp.centroid[0] * s) - 3 * px);
    text(label, tx, ty, colour, px);
  }
  return PNG.sync.write(png);
}
