/**
 * The fracture inserted into a volume (src/imaging/phantom/insert-fracture.ts) has the shape and height
 * loss asked for, leaves the neighbours and everything outside the body's columns where they were, and
 * does not touch the input volume.
 */
import { insertFracture, type BodyGeometry } from '../../../src/imaging/phantom/insert-fracture';
import { huNearest, type Volume } from '../../../src/imaging/volume';

/**
 * 1 mm voxels, x −40…40, y −40…40, z −40…40. A box "body" of 300 HU for |x| ≤ 15, y −15…15 (anterior at
 * −15), z −10…10, between two "neighbours" of 300 HU at z 16…30 and −30…−16 (5 mm discs); 50 HU elsewhere.
 */
function boxVolume(): Volume {
  const n = 81;
  const data = new Int16Array(n * n * n);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < n; i++) {
        const [x, y, z] = [i - 40, j - 40, k - 40];
        const inColumn = Math.abs(x) <= 15 && Math.abs(y) <= 15;
        const bone = inColumn && (Math.abs(z) <= 10 || (Math.abs(z) >= 16 && Math.abs(z) <= 30));
        data[i + j * n + k * n * n] = bone ? 300 : 50;
      }
    }
  }
  return { data, dims: [n, n, n], spacing: [1, 1, 1], origin: [-40, -40, -40], direction: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] };
}

const GEOMETRY: BodyGeometry = { yMm: [-15, -5, 5, 15], topMm: [10.5, 10.5, 10.5, 10.5], bottomMm: [-10.5, -10.5, -10.5, -10.5], xMm: 0, halfWidthMm: 15 };

/** Height (mm) of bone (> 175 HU) in the body's span on the column at (x, y). */
function boneHeight(v: Volume, x: number, y: number): number {
  let h = 0;
  for (let z = -13; z <= 13; z++) if ((huNearest(v, [x, y, z]) ?? 0) > 175) h++;
  return h;
}

describe('insertFracture', () => {
  const volume = boxVolume();

  it('a wedge loses its height at the anterior wall and keeps it at the posterior wall', () => {
    const { volume: out, topMm, bottomMm } = insertFracture(volume, GEOMETRY, { shape: 'wedge', loss: 0.5, discMm: 5 });
    expect(boneHeight(out, 0, -15)).toBeLessThanOrEqual(12);
    expect(boneHeight(out, 0, -15)).toBeGreaterThanOrEqual(10);
    expect(boneHeight(out, 0, 15)).toBe(21);
    // The reported endplates: half the height gone anteriorly, 70% of it from the superior endplate.
    expect((topMm[0] as number) - (bottomMm[0] as number)).toBeCloseTo(10.5, 5);
    expect(topMm[0]).toBeCloseTo(10.5 - 0.7 * 10.5, 5);
  });

  it('a crush lowers the whole body; a biconcave body loses its middle and keeps both walls', () => {
    const crush = insertFracture(volume, GEOMETRY, { shape: 'crush', loss: 0.45, discMm: 5 }).volume;
    for (const y of [-12, 0, 12]) expect(boneHeight(crush, 0, y)).toBeLessThanOrEqual(13);
    const bi = insertFracture(volume, GEOMETRY, { shape: 'biconcave', loss: 0.45, discMm: 5 }).volume;
    expect(boneHeight(bi, 0, 0)).toBeLessThanOrEqual(13);
    expect(boneHeight(bi, 0, -15)).toBeGreaterThanOrEqual(20);
    expect(boneHeight(bi, 0, 15)).toBeGreaterThanOrEqual(20);
  });

  it('leaves the neighbours, the columns beside the body and the input volume as they were', () => {
    const before = Int16Array.from(volume.data);
    const { volume: out } = insertFracture(volume, GEOMETRY, { shape: 'crush', loss: 0.5, discMm: 5 });
    expect(volume.data).toEqual(before);
    // Only the 5 mm of disc above and below stretch: the neighbours (from 16 mm) keep every voxel.
    for (let z = 16; z <= 30; z++) for (const sign of [1, -1]) expect(huNearest(out, [0, 0, sign * z])).toBe(300);
    // A stretch longer than the disc reaches into the neighbour and pulls its endplate towards the collapse.
    const far = insertFracture(volume, GEOMETRY, { shape: 'crush', loss: 0.5, discMm: 10 }).volume;
    expect(huNearest(far, [0, 0, 14])).toBeGreaterThan(175);
    // 4 mm beyond the body's side the collapse has tapered off.
    expect(boneHeight(out, 20, 0)).toBe(boneHeight(volume, 20, 0));
  });

  it('refuses a geometry without two positions and a loss outside (0, 0.9)', () => {
    expect(() => insertFracture(volume, { ...GEOMETRY, yMm: [0], topMm: [10], bottomMm: [-10] }, { shape: 'wedge', loss: 0.3 })).toThrow(/two or more positions/);
    expect(() => insertFracture(volume, GEOMETRY, { shape: 'wedge', loss: 0.95 })).toThrow(/outside/);
  });
});
