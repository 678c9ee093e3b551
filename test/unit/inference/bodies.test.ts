import { findBodies, measureBody, quadraticFit, splitMerged } from '../../../src/inference/bodies';

/** A foreground map with axis-aligned boxes [r0, r1) × [c0, c1). */
function mask(rows: number, cols: number, boxes: Array<[number, number, number, number]>): Float32Array {
  const fg = new Float32Array(rows * cols);
  for (const [r0, r1, c0, c1] of boxes) for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) fg[r * cols + c] = 1;
  return fg;
}

describe('vertebral bodies from the probability map', () => {
  it('quadratic height profile: exact on a biconcave (parabolic) profile, ignores a notched column', () => {
    const prof = Array.from({ length: 11 }, (_, k) => ({ a: k - 5, h: 20 - 6 * (1 - ((k - 5) / 6) ** 2) }));
    prof[2] = { a: -3, h: 3 };
    const f = quadraticFit(prof, 17)!;
    expect(f[0]).toBeCloseTo(14, 5);
    expect(f[0] + f[1] * 6 + f[2] * 36).toBeCloseTo(20, 5);
  });

  it('measures a wedge body: anterior (small columns) shorter than posterior, at the walls', () => {
    const rows = 80;
    const cols = 60;
    const fg = new Float32Array(rows * cols);
    // Body 30 px deep (cols 15–44); bottom endplate flat at row 50; top endplate from row 26 (posterior)
    // to row 34 (anterior): Hp = 24, Ha = 16.
    for (let c = 15; c < 45; c++) {
      const top = 34 - ((c - 15) / 29) * 8;
      for (let r = Math.ceil(top); r < 50; r++) fg[r * cols + c] = 1;
    }
    const { components, labels } = findBodies(fg, null, rows, cols, { spacing: 1, validRows: [0, rows - 1] });
    expect(components).toHaveLength(1);
    const m = measureBody(fg, labels, components[0]!, rows, cols, 1, [-1, 0]);
    expect(Math.abs(m.heightsMm.anterior - 16)).toBeLessThan(1);
    expect(Math.abs(m.heightsMm.posterior - 24)).toBeLessThan(1);
    expect(m.depthMm).toBeGreaterThan(27);
  });

  it('splits two bodies joined across a thin disc at the waist', () => {
    const rows = 140;
    const cols = 40;
    // Three normal bodies, and one component made of two bodies bridged by a 4 px wide neck.
    const fg = mask(rows, cols, [
      [2, 22, 10, 30],
      [27, 47, 10, 30],
      [52, 72, 10, 30],
      [72, 75, 18, 22],
      [75, 95, 10, 30],
    ]);
    const valid: [number, number] = [0, rows - 1];
    const found = findBodies(fg, null, rows, cols, { spacing: 1, validRows: valid });
    expect(found.components).toHaveLength(3);
    const split = splitMerged(found.components, found.labels, fg, null, cols, valid);
    expect(split).toHaveLength(4);
    [12, 37, 62, 85].forEach((row, i) => expect(Math.abs(split[i]!.centroid[0] - row)).toBeLessThan(1.5));
  });
});
