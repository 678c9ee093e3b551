import { ribTest } from '../../../src/inference/ribs';
import type { Vec3, Volume } from '../../../src/imaging/volume';

/** A 1 mm soft-tissue volume with bone boxes [x0, x1) × [y0, y1) × [z0, z1) at 800 HU. */
function volume(boxes: Array<[number, number, number, number, number, number]>): Volume {
  const dims: [number, number, number] = [170, 140, 80];
  const data = new Int16Array(dims[0] * dims[1] * dims[2]).fill(40);
  for (const [x0, x1, y0, y1, z0, z1] of boxes)
    for (let z = z0; z < z1; z++) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) data[x + y * dims[0] + z * dims[0] * dims[1]] = 800;
  return { data, dims, spacing: [1, 1, 1], origin: [0, 0, 0], direction: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] };
}

describe('rib-bearing test', () => {
  // Body centre (80, 60, 40), 30 mm deep (half-width taken as 21.75 mm), 25 mm tall. Patient left is +x,
  // posterior +y. The rib window starts 28 mm beyond the body's side (x ≥ 130), the head window is
  // 0–15 mm beyond it (x 102–117), in front of the pedicles.
  const centre: Vec3 = [80, 60, 40];
  const head: [number, number, number, number, number, number] = [103, 113, 60, 70, 38, 48];
  const rib: [number, number, number, number, number, number] = [132, 150, 70, 90, 36, 44];

  it('a rib with its head against the body: rib-bearing', () => {
    const t = ribTest(volume([head, rib]), centre, 25, 30);
    expect(t.ribBearing).toBe(true);
    expect(t.leftMm3).toBeGreaterThanOrEqual(400);
    expect(t.headLeftMm3).toBeGreaterThanOrEqual(100);
  });

  it('a rib passing beside the body whose head is a level higher (the 12th rib beside L1): not rib-bearing', () => {
    const t = ribTest(volume([rib]), centre, 25, 30);
    expect(t.leftMm3).toBeGreaterThanOrEqual(400);
    expect(t.ribBearing).toBe(false);
  });

  it('bone against the body without a rib beyond it (an osteophyte): not rib-bearing', () => {
    expect(ribTest(volume([head]), centre, 25, 30).ribBearing).toBe(false);
  });

  it('a head on one side and a rib on the other do not make a rib', () => {
    const otherSide: [number, number, number, number, number, number] = [160 - rib[1], 160 - rib[0], rib[2], rib[3], rib[4], rib[5]];
    expect(ribTest(volume([head, otherSide]), centre, 25, 30).ribBearing).toBe(false);
  });

  it('undecided when the rib windows leave the volume', () => {
    expect(ribTest(volume([head, rib]), [80, 60, 2], 25, 30).ribBearing).toBeNull();
  });
});
