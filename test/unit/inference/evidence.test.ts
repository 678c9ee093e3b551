import { axialSamplingMm, supportedGrade, type EvidenceInput } from '../../../src/inference/evidence';
import { genantGrade } from '../../../src/inference/grading';

/** A moderate wedge of a T12-sized body, measured well: every check passes. */
const good: EvidenceInput = {
  heights: { anterior: 16, middle: 20, posterior: 24 },
  crushPosterior: 24,
  depthMm: 28,
  endplatesFound: true,
  expectedPosterior: 23.5,
  axialSamplingMm: 1.25,
  level: { name: 'T12', referencePosteriorMm: 23 },
  adjacent: { anterior: 22.5, middle: 22 },
};
const grade = (e: EvidenceInput) => supportedGrade(genantGrade(e.heights, e.expectedPosterior, e.crushPosterior), e);

describe('evidence for a grade of 2 or 3', () => {
  it('keeps a well-measured moderate wedge at grade 2, with no reason', () => {
    expect(grade(good)).toEqual({ grade: 2, reasons: [] });
  });

  it('holds grade 1 to the sampling only: other missing evidence leaves it alone', () => {
    const mild = { ...good, heights: { anterior: 18.5, middle: 22, posterior: 24 }, endplatesFound: false, expectedPosterior: null };
    expect(grade(mild)).toEqual({ grade: 1, reasons: [] });
    // On slices thicker than 5 mm no morphometric grade is evidenced, grade 1 included (it is flagged, not lowered).
    expect(grade({ ...mild, axialSamplingMm: 8 })).toEqual({ grade: 1, reasons: ['8 mm sampling along the spine is too coarse for morphometry (at most 5 mm)'] });
    expect(grade({ ...mild, axialSamplingMm: 5 })).toEqual({ grade: 1, reasons: [] });
    const normal = { ...good, heights: { anterior: 23.5, middle: 23, posterior: 24 }, axialSamplingMm: 8 };
    expect(grade(normal)).toEqual({ grade: 0, reasons: [] });
  });

  it('caps at 1 when the endplates were not both found', () => {
    expect(grade({ ...good, endplatesFound: false })).toEqual({ grade: 1, reasons: ['the endplates were not both found'] });
  });

  it('caps at 1 on slices thicker than 5 mm, and between 3 and 5 mm where the loss is within the sampling error of 25%', () => {
    expect(grade({ ...good, axialSamplingMm: 8 }).reasons).toEqual([
      '8 mm sampling along the spine is too coarse for morphometry (at most 5 mm)',
      'at 8 mm sampling along the spine the 33.3% loss could be under 25%',
    ]);
    // 5 mm: ±1.25 mm per height; a 33% wedge of a 24 mm body could be 24%, a 45% one could not.
    expect(grade({ ...good, axialSamplingMm: 5 }).grade).toBe(1);
    expect(grade({ ...good, axialSamplingMm: 5, heights: { anterior: 13, middle: 20, posterior: 24 } }).grade).toBe(3);
    expect(grade({ ...good, axialSamplingMm: 3 }).grade).toBe(2);
    // Up to 3 mm the measured grade stands, even at the boundary.
    expect(grade({ ...good, axialSamplingMm: 3, heights: { anterior: 17.8, middle: 20, posterior: 24 } }).grade).toBe(2);
  });

  it('caps at 1 a "body" taller than one vertebral body (two bodies merged on a coarse scan)', () => {
    const merged = { ...good, heights: { anterior: 27, middle: 31, posterior: 43.5 }, expectedPosterior: 42 };
    expect(grade(merged)).toMatchObject({ grade: 1, reasons: expect.arrayContaining([expect.stringMatching(/43.5 × 28 mm body is not the size of one vertebral body/)]) });
  });

  it('caps at 1 a wedge whose posterior wall stands well above what the neighbours predict (a merged pedicle)', () => {
    const l3 = { name: 'L3', referencePosteriorMm: 26.5 };
    const r = grade({ ...good, heights: { anterior: 22, middle: 27, posterior: 32.9 }, crushPosterior: 32.9, expectedPosterior: 25.8, level: l3, adjacent: { anterior: 26, middle: 25 } });
    expect(r).toMatchObject({ grade: 1, reasons: [expect.stringMatching(/posterior height \(32.9 mm\) is more than 20% above what its neighbours predict \(25.8 mm\)/)] });
    // Within 20% of the neighbours the wedge stands.
    expect(grade({ ...good, heights: { anterior: 20, middle: 25, posterior: 30 }, crushPosterior: 30, expectedPosterior: 25.8, level: l3, adjacent: { anterior: 26, middle: 25 } }).grade).toBe(2);
  });

  it("caps at 1 when the height it is compared with is not the size of the level's (a lumbar body counted as mid-thoracic)", () => {
    // A lumbar-sized wedge (posterior 26 mm) labelled T7 (reference 19 mm): 37% off.
    const lumbarAsT7 = { ...good, heights: { anterior: 17, middle: 22, posterior: 26 }, crushPosterior: 26, expectedPosterior: 25.5, level: { name: 'T7', referencePosteriorMm: 19 } };
    expect(grade(lumbarAsT7)).toEqual({ grade: 1, reasons: ['the height it is compared with (26 mm) is not the size of T7 (about 19 mm): the mask or the level is wrong'] });
    // The same body as L1 (24.5 mm) keeps its grade; within 25% either way the level's size is met.
    expect(grade({ ...lumbarAsT7, level: { name: 'L1', referencePosteriorMm: 24.5 } }).grade).toBe(2);
    expect(grade({ ...good, level: { name: 'T9', referencePosteriorMm: 20.2 } }).grade).toBe(2);
    // A crush is compared with its neighbours' height, which must be the level's size too.
    const crush = { ...good, heights: { anterior: 9, middle: 8.5, posterior: 9.5 }, crushPosterior: 9.5, expectedPosterior: 14 };
    expect(grade(crush).reasons).toEqual(['the height it is compared with (14 mm) is not the size of T12 (about 23 mm): the mask or the level is wrong']);
  });

  it('caps at 1 a mask whose middle stands far above both walls (not a vertebral body shape)', () => {
    const r = grade({ ...good, heights: { anterior: 7.7, middle: 29.2, posterior: 4.9 }, crushPosterior: 4.9, expectedPosterior: 24 });
    expect(r).toMatchObject({ grade: 1, reasons: expect.arrayContaining([expect.stringMatching(/middle height \(29.2 mm\) stands far above both walls/)]) });
  });

  it('caps at 1 a "crush" measured against neighbours a few millimetres tall (fragments, not bodies)', () => {
    const r = grade({ ...good, heights: { anterior: 4.5, middle: 5.2, posterior: 3.4 }, crushPosterior: 3.4, expectedPosterior: 5 });
    expect(r).toMatchObject({ grade: 1, reasons: expect.arrayContaining([expect.stringMatching(/height it is compared with \(5 mm\) is too small for a whole vertebral body/)]) });
  });

  it('caps at 1 a wedge or biconcave loss the adjacent vertebrae share (the column\'s reading, not a local fracture)', () => {
    // T4 at 3 mm: anterior 13.4 mm under a 20.1 mm posterior (33%), but T3 and T5 read 13.2 and 13.5 mm in front.
    const t4 = { ...good, heights: { anterior: 13.4, middle: 18, posterior: 20.1 }, crushPosterior: 20.1, expectedPosterior: 18.5, depthMm: 19, level: { name: 'T4', referencePosteriorMm: 17.2 } };
    expect(grade({ ...t4, adjacent: { anterior: 13.6, middle: 17 } })).toEqual({
      grade: 1,
      reasons: ["its anterior height (13.4 mm) is not lower than the adjacent vertebra's (13.6 mm at this level's size): a fracture is a local loss"],
    });
    // A neighbour that keeps its front (17.5 mm): the same reading is a local wedge, kept at 2.
    expect(grade({ ...t4, adjacent: { anterior: 17.5, middle: 17 } }).grade).toBe(2);
    // No usable neighbour: nothing to compare with here (the other checks decide).
    expect(grade({ ...t4, adjacent: { anterior: null, middle: null } }).grade).toBe(2);
    // Biconcave: the middle against the neighbours' middle.
    const biconcave = { ...good, heights: { anterior: 23, middle: 16, posterior: 24 } };
    expect(grade({ ...biconcave, adjacent: { anterior: 23, middle: 17 } }).grade).toBe(1);
    expect(grade({ ...biconcave, adjacent: { anterior: 23, middle: 22 } }).grade).toBe(2);
  });

  it('caps at 1 when no normal-looking neighbour exists to compare with', () => {
    expect(grade({ ...good, expectedPosterior: null }).reasons).toEqual(['no normal-looking neighbour to compare its heights with']);
  });

  it('caps at 1 a "crush" whose anterior and middle heights stand at the neighbours\' height (only the posterior reading is low)', () => {
    const r = grade({ ...good, heights: { anterior: 29, middle: 26.6, posterior: 19.3 }, crushPosterior: 19.3, expectedPosterior: 28, level: { name: 'L4', referencePosteriorMm: 27.5 } });
    expect(r).toEqual({ grade: 1, reasons: ["a crush lowers the whole body, but its anterior (29 mm) and middle (26.6 mm) heights stand at its neighbours' (28 mm): only the posterior reading is low"] });
  });

  it('keeps a severe crush (posterior low against its neighbours)', () => {
    const crush = { ...good, heights: { anterior: 12, middle: 11.5, posterior: 12.5 }, crushPosterior: 12.5, expectedPosterior: 24 };
    expect(grade(crush)).toEqual({ grade: 3, reasons: [] });
  });

  it('reads the sampling along the axis closest to superior–inferior, whatever the volume orientation', () => {
    const axial = { spacing: [0.7, 0.7, 5] as [number, number, number], direction: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] as [[number, number, number], [number, number, number], [number, number, number]] };
    expect(axialSamplingMm(axial)).toBe(5);
    const sagittal = { spacing: [0.8, 0.9, 3] as [number, number, number], direction: [[0, 1, 0], [0, 0, -1], [1, 0, 0]] as typeof axial.direction };
    expect(axialSamplingMm(sagittal)).toBe(0.9);
  });
});
