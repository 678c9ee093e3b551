import type { DicomJson } from '../../../src/imaging/dicom-json';
import { classifyKernel, groupBySeries, selectSeries, selectSeriesUid } from '../../../src/imaging/select-series';

interface Opts {
  series: string;
  number?: number;
  modality?: string;
  sopClass?: string;
  imageType?: string[];
  description?: string;
  iop?: number[];
  thickness?: number;
  kernel?: string;
  /** ImagePositionPatient of slice i (default: axial stack along −z from z0). */
  ipp?: (i: number) => number[];
}

/** Instance metadata as WADO-RS returns it (DICOM JSON, numbers for DS/IS). */
function series(o: Opts, n: number, step: number, z0 = 0): DicomJson[] {
  return Array.from({ length: n }, (_, i) => {
    const ds: DicomJson = {
      '00080016': { vr: 'UI', Value: [o.sopClass ?? '1.2.840.10008.5.1.4.1.1.2'] },
      '00080018': { vr: 'UI', Value: [`${o.series}.${i + 1}`] },
      '00080060': { vr: 'CS', Value: [o.modality ?? 'CT'] },
      '00080008': { vr: 'CS', Value: o.imageType ?? ['ORIGINAL', 'PRIMARY', 'AXIAL'] },
      '0020000E': { vr: 'UI', Value: [o.series] },
      '0020000D': { vr: 'UI', Value: ['2.25.9'] },
      '00200011': { vr: 'IS', Value: [o.number ?? 1] },
      '00200013': { vr: 'IS', Value: [i + 1] },
      '00200032': { vr: 'DS', Value: o.ipp ? o.ipp(i) : [-200, -200, z0 - i * step] },
      '00200037': { vr: 'DS', Value: o.iop ?? [1, 0, 0, 0, 1, 0] },
      '00280010': { vr: 'US', Value: [512] },
      '00280011': { vr: 'US', Value: [512] },
      '00280030': { vr: 'DS', Value: [0.75, 0.75] },
      '00180050': { vr: 'DS', Value: [o.thickness ?? step] },
    };
    if (o.description) ds['0008103E'] = { vr: 'LO', Value: [o.description] };
    if (o.kernel) ds['00181210'] = { vr: 'SH', Value: [o.kernel] };
    return ds;
  });
}

describe('series selection', () => {
  it('rejects localizers, dose reports, secondary captures, projections, other modalities and series without a volume', () => {
    const all = [
      ...series({ series: '1.1', number: 1, imageType: ['ORIGINAL', 'PRIMARY', 'LOCALIZER'], iop: [1, 0, 0, 0, 0, -1] }, 1, 1),
      ...series({ series: '1.2', number: 999, sopClass: '1.2.840.10008.5.1.4.1.1.7', description: 'Dose Report' }, 1, 1),
      ...series({ series: '1.3', number: 3, imageType: ['DERIVED', 'SECONDARY', 'MIP'] }, 100, 2),
      ...series({ series: '1.5', number: 5, modality: 'PT', sopClass: '1.2.840.10008.5.1.4.1.1.128' }, 100, 2),
      ...series({ series: '1.6', number: 6, description: 'Patient Protocol', imageType: ['ORIGINAL', 'PRIMARY', 'OTHER'] }, 1, 1),
      ...series({ series: '1.8', number: 8, sopClass: '1.2.840.10008.5.1.4.1.1.88.67' }, 1, 1),
      ...series({ series: '1.9', number: 9, sopClass: '1.2.840.10008.5.1.4.1.1.104.1' }, 1, 1),
      ...series({ series: '1.10', number: 10 }, 5, 2),
      ...series({ series: '1.7', number: 7, kernel: 'B31f' }, 300, 1.5),
    ];
    const sel = selectSeries(groupBySeries(all));
    expect(sel.chosen?.seriesInstanceUid).toBe('1.7');
    const reasons = Object.fromEntries(sel.rejected.map((r) => [r.seriesInstanceUid, r.reason]));
    expect(reasons['1.1']).toMatch(/localizer/);
    expect(reasons['1.2']).toMatch(/secondary capture/);
    expect(reasons['1.3']).toMatch(/MIP image/);
    expect(reasons['1.5']).toMatch(/not a CT image storage class/);
    // Rejected for what it is (one image, no volume), not for the word "Protocol".
    expect(reasons['1.6']).toMatch(/only 1 positioned slice/);
    expect(reasons['1.8']).toMatch(/radiation dose structured report/);
    expect(reasons['1.9']).toMatch(/encapsulated PDF/);
    expect(reasons['1.10']).toMatch(/covers 8 mm along the body axis: too short to hold a vertebral body/);
    expect(sel.reasons.join('\n')).toMatch(/original axial CT, 300 slices/);
    // A PET series without a SOP class still fails on its modality.
    const pet = series({ series: '1.11', modality: 'PT' }, 100, 2).map((ds) => {
      const { '00080016': _sop, ...rest } = ds;
      return rest;
    });
    expect(selectSeries(groupBySeries(pet)).rejected[0]?.reason).toMatch(/modality PT/);
  });

  it('accepts a CT series described "Abdomen 3.0 iDose (3)": iDose is a reconstruction, not a dose page', () => {
    const sel = selectSeries(groupBySeries(series({ series: '6.1', number: 2, description: 'Abdomen 3.0 iDose (3)', kernel: 'B' }, 150, 3)));
    expect(sel.chosen?.seriesInstanceUid).toBe('6.1');
    expect(sel.rejected).toEqual([]);
    expect(sel.reasons[0]).toBe('series 2 "Abdomen 3.0 iDose (3)": original axial CT, 150 slices');
  });

  it('rejects a dose screen by its class (Secondary Capture), whatever its description', () => {
    for (const description of ['Abdomen 3.0 iDose (3)', 'Abdomen', '']) {
      const sc = series({ series: '7.1', number: 999, sopClass: '1.2.840.10008.5.1.4.1.1.7', imageType: ['DERIVED', 'SECONDARY', 'OTHER'], description }, 100, 2);
      const sel = selectSeries(groupBySeries(sc));
      expect(sel.chosen).toBeNull();
      expect(sel.rejected[0]?.reason).toMatch(/SOP class 1\.2\.840\.10008\.5\.1\.4\.1\.1\.7: secondary capture/);
    }
  });

  it('rejects a localizer by its ImageType LOCALIZER even when described "Abdomen"', () => {
    const loc = series({ series: '8.1', number: 1, imageType: ['ORIGINAL', 'PRIMARY', 'LOCALIZER'], description: 'Abdomen', iop: [1, 0, 0, 0, 0, -1] }, 2, 1);
    const sel = selectSeries(groupBySeries(loc));
    expect(sel.chosen).toBeNull();
    expect(sel.rejected[0]?.reason).toMatch(/localizer\/scout images only \(ImageType ORIGINAL\\PRIMARY\\LOCALIZER\)/);
    // Described "Topogram" but an axial CT volume: accepted (the words do not decide).
    const axial = series({ series: '8.2', number: 2, description: 'Topogram 0.6 T20f' }, 100, 2);
    expect(selectSeries(groupBySeries([...loc, ...axial])).chosen?.seriesInstanceUid).toBe('8.2');
  });

  it('prefers ORIGINAL to a DERIVED axial reformat, and takes the reformat as a fallback, saying so', () => {
    const mpr = series({ series: '9.1', number: 3, imageType: ['DERIVED', 'SECONDARY', 'MPR'], kernel: 'B31f' }, 300, 1.5);
    const orig = series({ series: '9.2', number: 2, kernel: 'B31f' }, 100, 5);
    const both = selectSeries(groupBySeries([...mpr, ...orig]));
    expect(both.chosen?.seriesInstanceUid).toBe('9.2');
    expect(both.ranked.map((s) => s.seriesInstanceUid)).toEqual(['9.2', '9.1']);
    expect(both.reasons.join('\n')).toMatch(/preferred over series 3 \(derived axial\)/);
    const only = selectSeries(groupBySeries(mpr));
    expect(only.chosen?.seriesInstanceUid).toBe('9.1');
    expect(only.chosen?.derived).toBe(true);
    expect(only.reasons[0]).toMatch(/derived axial CT, 300 slices \(ImageType DERIVED\\SECONDARY\\MPR\): no original axial series is usable/);
  });

  it('chooses a sagittal or coronal reconstruction when no axial series is usable, with body-axis coverage from its rows', () => {
    // 120 sagittal slices 1 mm apart (right → left), 512 rows of 0.75 mm along −z: 383 mm of the body axis.
    const sag = series({ series: '10.1', number: 4, iop: [0, 1, 0, 0, 0, -1], imageType: ['DERIVED', 'SECONDARY', 'REFORMATTED'], ipp: (i) => [-60 + i, -200, 100] }, 120, 1);
    const cor = series({ series: '10.2', number: 5, iop: [1, 0, 0, 0, 0, -1], ipp: (i) => [-200, -50 + i * 2, 100] }, 60, 2);
    const loc = series({ series: '10.3', number: 1, imageType: ['ORIGINAL', 'PRIMARY', 'LOCALIZER'], iop: [1, 0, 0, 0, 0, -1] }, 1, 1);
    const sel = selectSeries(groupBySeries([...loc, ...sag, ...cor]));
    // Both are usable; the original coronal outranks the derived sagittal.
    expect(sel.ranked.map((s) => [s.seriesInstanceUid, s.plane])).toEqual([
      ['10.2', 'coronal'],
      ['10.1', 'sagittal'],
    ]);
    expect(sel.reasons[0]).toMatch(/original coronal CT, 60 slices .*no axial series is usable; the volume keeps its coronal axes/);
    const onlySag = selectSeries(groupBySeries(sag));
    expect(onlySag.chosen?.plane).toBe('sagittal');
    expect(onlySag.chosen?.bodyAxisExtentMm).toBeCloseTo(383.3, 1);
    expect(onlySag.chosen?.extentMm).toBe(119);
    // A sagittal slab too thin to hold a vertebral body is rejected.
    const thin = series({ series: '10.4', iop: [0, 1, 0, 0, 0, -1], ipp: (i) => [i, -200, 100] }, 10, 1);
    expect(selectSeries(groupBySeries(thin)).rejected[0]?.reason).toMatch(/sagittal slab 9 mm thick: too thin/);
    // Any axial series still wins over them.
    const ax = series({ series: '10.5', number: 9, imageType: ['DERIVED', 'SECONDARY', 'AXIAL'] }, 50, 3);
    expect(selectSeries(groupBySeries([...sag, ...cor, ...ax])).chosen?.seriesInstanceUid).toBe('10.5');
  });

  it('ranks uneven spacing below even spacing and says so', () => {
    const uneven = series({ series: '11.1', number: 2, kernel: 'B31f', ipp: (i) => [-200, -200, -i * 2 - (i > 50 ? 2 : 0)] }, 150, 2);
    const sel = selectSeries(groupBySeries(uneven));
    expect(sel.chosen?.uniformSpacing).toBe(false);
    expect(sel.reasons.join('\n')).toMatch(/uneven slice spacing/);
    expect(selectSeries(groupBySeries(uneven), { minExtentMm: 400 }).chosen).toBeNull();
  });

  it('prefers thin slices, soft-tissue/bone kernels and T1–L5 coverage, and says why', () => {
    const thick = series({ series: '2.1', number: 2, kernel: 'STANDARD', description: 'ABD 5mm' }, 100, 5);
    const thinLung = series({ series: '2.2', number: 3, kernel: 'LUNG', description: 'CHEST 1.25 LUNG' }, 400, 1.25);
    const thinSoft = series({ series: '2.3', number: 4, kernel: 'STANDARD', description: 'BODY 1.25' }, 400, 1.25);
    const thinShort = series({ series: '2.4', number: 5, kernel: 'BONE', description: 'L-SPINE 1mm' }, 200, 1);
    const sel = selectSeries(groupBySeries([...thick, ...thinLung, ...thinSoft, ...thinShort]));
    expect(sel.chosen?.seriesInstanceUid).toBe('2.3');
    expect(sel.ranked.map((s) => s.seriesInstanceUid)).toEqual(['2.3', '2.2', '2.1', '2.4']);
    const text = sel.reasons.join('\n');
    expect(text).toMatch(/≤ 3 mm/);
    expect(text).toMatch(/STANDARD \(soft-tissue\)/);
    expect(text).toMatch(/preferred over series 3/);
    expect(sel.chosen?.sliceSpacingMm).toBe(1.25);
    expect(sel.chosen?.extentMm).toBeCloseTo(498.8, 1);
  });

  it('drops localizer images mixed into an axial series and returns nothing usable when nothing is', () => {
    const mixed = [
      ...series({ series: '3.1', imageType: ['ORIGINAL', 'PRIMARY', 'LOCALIZER'], iop: [1, 0, 0, 0, 0, -1] }, 1, 1),
      ...series({ series: '3.1' }, 50, 2, 100),
    ];
    const sel = selectSeries(groupBySeries(mixed));
    expect(sel.chosen?.frames).toBe(50);
    expect(sel.chosen?.sopInstanceUids).toHaveLength(50);
    const none = selectSeries(groupBySeries(series({ series: '4.1', modality: 'MR', sopClass: '1.2.840.10008.5.1.4.1.1.4' }, 10, 2)));
    expect(none.chosen).toBeNull();
    expect(none.reasons[0]).toMatch(/no series/);
    expect(selectSeries([]).chosen).toBeNull();
  });

  it('classifies common kernel names', () => {
    expect(classifyKernel('B31f')).toBe('soft-tissue');
    expect(classifyKernel('Br40d')).toBe('soft-tissue');
    expect(classifyKernel('STANDARD')).toBe('soft-tissue');
    expect(classifyKernel('BONE')).toBe('bone');
    expect(classifyKernel('B60f')).toBe('bone');
    expect(classifyKernel('LUNG')).toBe('lung');
    expect(classifyKernel('B70f')).toBe('lung');
    expect(classifyKernel('FC52')).toBe('lung');
    expect(classifyKernel(undefined)).toBe('unknown');
  });
});

describe('selectSeriesUid (the DICOMweb fetcher’s SelectSeries)', () => {
  it('returns the chosen UID with reasons and rejections', () => {
    const out = selectSeriesUid(
      groupBySeries([
        ...series({ series: '5.1', number: 1, imageType: ['ORIGINAL', 'PRIMARY', 'LOCALIZER'] }, 1, 1),
        ...series({ series: '5.2', number: 2 }, 200, 2),
      ]),
    );
    expect(out.chosen).toBe('5.2');
    expect(out.reasons.length).toBeGreaterThan(0);
    expect(out.rejected).toEqual([expect.objectContaining({ seriesInstanceUid: '5.1', reason: expect.stringMatching(/localizer/) })]);
  });
});
