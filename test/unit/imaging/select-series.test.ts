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
      '00200032': { vr: 'DS', Value: [-200, -200, z0 - i * step] },
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
  it('rejects localizers, dose reports, secondary captures, derived and non-axial series, and other modalities', () => {
    const all = [
      ...series({ series: '1.1', number: 1, imageType: ['ORIGINAL', 'PRIMARY', 'LOCALIZER'], iop: [1, 0, 0, 0, 0, -1] }, 1, 1),
      ...series({ series: '1.2', number: 999, sopClass: '1.2.840.10008.5.1.4.1.1.7', description: 'Dose Report' }, 1, 1),
      ...series({ series: '1.3', number: 3, imageType: ['DERIVED', 'SECONDARY', 'MPR'] }, 100, 2),
      ...series({ series: '1.4', number: 4, iop: [0, 1, 0, 0, 0, -1] }, 100, 2),
      ...series({ series: '1.5', number: 5, modality: 'PT' }, 100, 2),
      ...series({ series: '1.6', number: 6, description: 'Patient Protocol', imageType: ['ORIGINAL', 'PRIMARY', 'OTHER'] }, 1, 1),
      ...series({ series: '1.7', number: 7, kernel: 'B31f' }, 300, 1.5),
    ];
    const sel = selectSeries(groupBySeries(all));
    expect(sel.chosen?.seriesInstanceUid).toBe('1.7');
    const reasons = Object.fromEntries(sel.rejected.map((r) => [r.seriesInstanceUid, r.reason]));
    expect(reasons['1.1']).toMatch(/localizer/);
    expect(reasons['1.2']).toMatch(/secondary capture/);
    expect(reasons['1.3']).toMatch(/derived/);
    expect(reasons['1.4']).toMatch(/not axial/);
    expect(reasons['1.5']).toMatch(/modality PT/);
    expect(reasons['1.6']).toMatch(/protocol/);
    expect(sel.reasons.join('\n')).toMatch(/original axial CT, 300 slices/);
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
    const none = selectSeries(groupBySeries(series({ series: '4.1', modality: 'MR' }, 10, 2)));
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
