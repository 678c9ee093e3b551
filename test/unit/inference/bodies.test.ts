import { findBodies, measureBody, onTheColumn, quadraticFit, robustEndplateFit, splitMerged, withoutFragments, type BodyComponent } from '../../../src/inference/bodies';

/** A foreground map with axis-aligned boxes [r0, r1) × [c0, c1). */
function mask(rows: number, cols: number, boxes: Array<[number, number, number, number]>): Float32Array {
  const fg = new Float32Array(rows * cols);
  for (const [r0, r1, c0, c1] of boxes) for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) fg[r * cols + c] = 1;
  return fg;
}

describe('vertebral bodies from the probability map', () => {
  it('fits a quadratic exactly through points on one', () => {
    const pts = Array.from({ length: 7 }, (_, k) => ({ a: k - 3, y: 2 - 0.5 * (k - 3) + 0.25 * (k - 3) ** 2 }));
    const f = quadraticFit(pts)!;
    expect(f[0]).toBeCloseTo(2, 6);
    expect(f[1]).toBeCloseTo(-0.5, 6);
    expect(f[2]).toBeCloseTo(0.25, 6);
  });

  it('endplate fit: a cupped endplate survives columns that leak into the disc or run into a pedicle', () => {
    // Superior endplate 12 mm above the centre at the rims, 10 mm at the middle (cupped towards the body).
    const truth = (a: number): number => 10 + 2 * (a / 15) ** 2;
    const pts = Array.from({ length: 25 }, (_, k) => {
      const a = -15 + (30 * k) / 24;
      return { a, y: truth(a) };
    });
    // Eight columns (a third) run 6 mm further up: a leak over the posterior half.
    for (let k = 2; k < 10; k++) pts[k] = { a: pts[k]!.a, y: pts[k]!.y + 6 };
    const f = robustEndplateFit(pts, 1, 1)!;
    for (const a of [-15, 0, 15]) expect(Math.abs(f[0] + f[1] * a + f[2] * a * a - truth(a))).toBeLessThan(0.05);
  });

  it('endplate fit: a bulging fit is refused in favour of a line; too few columns give null', () => {
    const bulge = Array.from({ length: 11 }, (_, k) => ({ a: k - 5, y: 10 - 0.1 * (k - 5) ** 2 }));
    const f = robustEndplateFit(bulge, 1, 1)!;
    expect(f[2]).toBe(0);
    expect(robustEndplateFit(bulge.slice(0, 4), 1, 1)).toBeNull();
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

  it('reads a biconcave body at its rims: the central depression does not pull the wall heights down', () => {
    const rows = 80;
    const cols = 70;
    // A 30 mm deep body, 24 mm tall at its rims, both endplates depressed by a paraboloid that takes 50% of
    // the height at the centre (the phantom's biconcave shape), with partial-volume coverage at the edges.
    // 1.5–3.5 mm inside the walls the endplates already stand ~4 mm lower than at the rims.
    const fg = new Float32Array(rows * cols);
    const sub = 4;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        let inside = 0;
        for (let i = 0; i < sub; i++) {
          for (let j = 0; j < sub; j++) {
            const y = r + (i + 0.5) / sub - 40;
            const t = (c + (j + 0.5) / sub - 35) / 15;
            if (Math.abs(t) <= 1 && Math.abs(y) <= (24 - 12 * (1 - t * t)) / 2) inside++;
          }
        }
        fg[r * cols + c] = inside / sub ** 2;
      }
    }
    const { components, labels } = findBodies(fg, null, rows, cols, { spacing: 1, validRows: [0, rows - 1] });
    const m = measureBody(fg, labels, components[0]!, rows, cols, 1, [-1, 0]);
    expect(m.posteriorDirectMm).toBeLessThan(21);
    for (const h of [m.heightsMm.anterior, m.heightsMm.posterior]) expect(Math.abs(h - 24)).toBeLessThan(0.5);
    expect(Math.abs(m.heightsMm.middle - 12)).toBeLessThan(0.5);
  });

  it('reads the middle height past a leak into the disc under the centre of a tilted body', () => {
    const rows = 100;
    const cols = 100;
    const fg = new Float32Array(rows * cols);
    // A 24 mm tall, 30 mm deep body tilted 25° (a lordotic L5) centred at (50, 50), with the mask leaking
    // 5 mm into the disc under the middle third of its inferior endplate.
    const th = (25 * Math.PI) / 180;
    const up: [number, number] = [-Math.cos(th), Math.sin(th)];
    const ant = [-Math.sin(th), -Math.cos(th)];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const u = (r - 50) * up[0] + (c - 50) * up[1];
        const v = (r - 50) * ant[0]! + (c - 50) * ant[1]!;
        const body = Math.abs(u) <= 12 && Math.abs(v) <= 15;
        const leak = u < -12 && u >= -17 && Math.abs(v) <= 5;
        if (body || leak) fg[r * cols + c] = 1;
      }
    }
    const { components, labels } = findBodies(fg, null, rows, cols, { spacing: 1, validRows: [0, rows - 1] });
    const m = measureBody(fg, labels, components[0]!, rows, cols, 1, up);
    expect(Math.abs(m.heightsMm.middle - 24)).toBeLessThan(1);
    expect(Math.abs(m.depthMm - 30)).toBeLessThan(1.5);
    // The endplates are flat: 24 mm between them all across the body.
    for (const h of m.profileMm) expect(Math.abs(h - 24)).toBeLessThan(1);
  });

  it('does not read a pedicle merged with the posterior corner as body height', () => {
    const rows = 80;
    const cols = 70;
    // A 24 mm tall, 30 mm deep body (rows 28–51, cols 20–49; posterior is towards larger columns) with the
    // arch merged onto its posterior-superior corner: 6 mm of mask above the endplate over the last 5 mm.
    const fg = mask(rows, cols, [
      [28, 52, 20, 50],
      [22, 28, 45, 50],
    ]);
    const { components, labels } = findBodies(fg, null, rows, cols, { spacing: 1, validRows: [0, rows - 1] });
    const m = measureBody(fg, labels, components[0]!, rows, cols, 1, [-1, 0]);
    // The arch would read 30 mm at the posterior corner; the corners stay within the 10% the wall fit may
    // add to the endplates' reading, the middle is exact.
    expect(Math.abs(m.heightsMm.middle - 24)).toBeLessThan(1);
    for (const h of [m.heightsMm.anterior, m.heightsMm.posterior]) expect(h).toBeLessThanOrEqual(24 * 1.1 + 0.1);
  });

  it('keeps the bodies on the column, the sacral promontory included, and drops a contrast-filled aorta in front of it', () => {
    const comp = (id: number, row: number, col: number): BodyComponent => ({ id, pixels: 600, centroid: [row, col], rowRange: [row - 12, row + 12], colRange: [col - 18, col + 18], s1Fraction: 0, meanProbability: 0.9, touchesEdge: false });
    // A lordotic lumbar column (1 mm pixels), the promontory 28 mm behind the lumbar line, and a bright
    // round vessel 65 mm in front of the column at the height of the second body.
    const column = [comp(1, 40, 110), comp(2, 75, 106), comp(3, 112, 104), comp(4, 150, 106), comp(5, 188, 115), comp(6, 215, 140)];
    const aorta = comp(7, 80, 45);
    const kept = onTheColumn([...column, aorta].sort((a, b) => a.centroid[0] - b.centroid[0]), 1);
    expect(kept.map((c) => c.id).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    // Too few to judge: nothing is dropped.
    expect(onTheColumn([column[0]!, aorta, column[1]!], 1)).toHaveLength(3);
  });

  it('drops a sliver split off a body inside the scan, keeps a small T1 and a body cut by the edge', () => {
    const comp = (id: number, pixels: number, touchesEdge = false): BodyComponent => ({ id, pixels, centroid: [id * 30, 100], rowRange: [id * 30 - 10, id * 30 + 10], colRange: [85, 115], s1Fraction: 0, meanProbability: 0.9, touchesEdge });
    const column = [comp(1, 240), comp(2, 700), comp(3, 760), comp(4, 91), comp(5, 820), comp(6, 80, true)];
    expect(withoutFragments(column).map((c) => c.id)).toEqual([1, 2, 3, 5, 6]);
    // Too few to judge: nothing is dropped.
    expect(withoutFragments([comp(1, 700), comp(2, 90)])).toHaveLength(2);
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

  it('splits two short bodies merged across a deep notch even where merged pairs make the typical height a pair\'s (an 8 mm chest), never leaving less than 12 mm on a side', () => {
    const rows = 230;
    const cols = 40;
    // Upper thoracic bodies on thick slices: two merged pairs (16 + 16 mm across a 2 mm neck 30% as wide)
    // and two single bodies of 16 mm; the median height is a pair's, so "1.6 × typical" never fires.
    const pair = (r: number): Array<[number, number, number, number]> => [[r, r + 16, 10, 30], [r + 16, r + 18, 17, 23], [r + 18, r + 34, 10, 30]];
    const fg = mask(rows, cols, [...pair(2), ...pair(40), [78, 94, 10, 30], [98, 114, 10, 30], ...pair(118)]);
    // And a 22 mm body with a notch at mid-height (a vein channel, a lytic focus): not two bodies; nor a 26 mm
    // body whose centre collapsed to its two walls at mid-height (a severe biconcave fracture).
    for (let r = 160; r < 182; r++) for (let c = 10; c < 30; c++) fg[r * cols + c] = r >= 170 && r < 172 && c >= 13 ? 0 : 1;
    for (let r = 190; r < 216; r++) for (let c = 10; c < 30; c++) fg[r * cols + c] = r >= 202 && r < 204 && c >= 14 && c < 26 ? 0 : 1;
    const valid: [number, number] = [0, rows - 1];
    const found = findBodies(fg, null, rows, cols, { spacing: 1, validRows: valid });
    expect(found.components).toHaveLength(7);
    const split = splitMerged(found.components, found.labels, fg, null, cols, valid, 1);
    expect(split).toHaveLength(10);
    [10, 28, 48, 66, 86, 106, 126, 144, 171, 203].forEach((row, i) => expect(Math.abs(split[i]!.centroid[0] - row)).toBeLessThan(1.5));
  });

  it('splits a column of bodies drawn as one component (thick slices blur the discs) at every notch, and leaves a tilted single body whole', () => {
    const rows = 120;
    const cols = 40;
    // Four 20 mm bodies joined by 3 mm necks 60% as wide: one 89 mm component, taller than any body can span.
    const fg = mask(rows, cols, [
      [5, 25, 10, 30],
      [25, 28, 14, 26],
      [28, 48, 10, 30],
      [48, 51, 14, 26],
      [51, 71, 10, 30],
      [71, 74, 14, 26],
      [74, 94, 10, 30],
    ]);
    const valid: [number, number] = [0, rows - 1];
    const found = findBodies(fg, null, rows, cols, { spacing: 1, validRows: valid });
    expect(found.components).toHaveLength(1);
    const split = splitMerged(found.components, found.labels, fg, null, cols, valid, 1);
    expect(split).toHaveLength(4);
    [15, 38, 61, 84].forEach((row, i) => expect(Math.abs(split[i]!.centroid[0] - row)).toBeLessThan(2.5));
    // One body 42 mm tall on the slab (a lordotic L5's extent) with a 60% waist: not split.
    const one = mask(rows, cols, [[5, 25, 10, 30], [25, 27, 14, 26], [27, 47, 10, 30]]);
    const f1 = findBodies(one, null, rows, cols, { spacing: 1, validRows: valid });
    expect(splitMerged(f1.components, f1.labels, one, null, cols, valid, 1)).toHaveLength(1);
  });
});
