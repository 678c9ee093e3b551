/**
 * Research volume files (NIfTI, NRRD, MetaImage) written here, byte by byte, then read back: geometry in
 * LPS, values, encodings, and the errors a user sees. The same phantom written as DICOM and as each
 * format must give the same canonical volume.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import { run as analyzeStudy } from '../../../src/commands/analyze-study';
import { analyzeSeriesBuffers, analyzeVolumeFile } from '../../../src/imaging/analyze';
import { encodeNifti } from '../../../src/imaging/nifti';
import { phantomBuffers } from '../../../src/imaging/phantom/generate';
import { readVolumeFile, volumeFileFormat } from '../../../src/imaging/volume-file';
import { toCanonicalLps, voxelToLps, type Vec3, type Volume } from '../../../src/imaging/volume';
import { VoxelSink, type ElementType } from '../../../src/imaging/voxel-sink';

type Dirs = [Vec3, Vec3, Vec3];

/** A small volume whose value at (i, j, k) is i + 10 j + 100 k − 500 (distinct everywhere). */
function testVolume(dims: [number, number, number], spacing: Vec3, origin: Vec3, direction: Dirs): Volume {
  const [nx, ny, nz] = dims;
  const data = new Int16Array(nx * ny * nz);
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) data[i + j * nx + k * nx * ny] = i + 10 * j + 100 * k - 500;
  return { data, dims, spacing, origin, direction };
}

function encodeValues(values: ArrayLike<number>, type: ElementType, little: boolean): Buffer {
  const size = { int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, float32: 4, float64: 8 }[type];
  const b = Buffer.alloc(values.length * size);
  for (let n = 0; n < values.length; n++) {
    const v = values[n] as number;
    const o = n * size;
    switch (type) {
      case 'int8':
        b.writeInt8(v, o);
        break;
      case 'uint8':
        b.writeUInt8(v, o);
        break;
      case 'int16':
        little ? b.writeInt16LE(v, o) : b.writeInt16BE(v, o);
        break;
      case 'uint16':
        little ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o);
        break;
      case 'int32':
        little ? b.writeInt32LE(v, o) : b.writeInt32BE(v, o);
        break;
      case 'uint32':
        little ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o);
        break;
      case 'float32':
        little ? b.writeFloatLE(v, o) : b.writeFloatBE(v, o);
        break;
      case 'float64':
        little ? b.writeDoubleLE(v, o) : b.writeDoubleBE(v, o);
        break;
    }
  }
  return b;
}

const NRRD_TYPE: Record<ElementType, string> = { int8: 'int8', uint8: 'uchar', int16: 'short', uint16: 'ushort', int32: 'int', uint32: 'uint', float32: 'float', float64: 'double' };
const fmt = (v: readonly number[]): string => `(${v.join(',')})`;

/** An NRRD header (and data) for a volume, in LPS or RAS space. */
function nrrd(
  v: Volume,
  o: { space: 'left-posterior-superior' | 'right-anterior-superior'; encoding: 'raw' | 'gzip'; type?: ElementType; little?: boolean; dataFile?: string; byteSkip?: number; values?: ArrayLike<number> },
): { header: Buffer; data: Buffer } {
  const s = o.space === 'right-anterior-superior' ? [-1, -1, 1] : [1, 1, 1];
  const type = o.type ?? 'int16';
  const little = o.little ?? true;
  const dirs = v.direction.map((d, a) => fmt(d.map((x, r) => x * (v.spacing[a] as number) * (s[r] as number)))).join(' ');
  const lines = [
    'NRRD0004',
    '# written by the vcf-sentinel test',
    `type: ${NRRD_TYPE[type]}`,
    'dimension: 3',
    `space: ${o.space}`,
    `sizes: ${v.dims.join(' ')}`,
    `space directions: ${dirs}`,
    'kinds: domain domain domain',
    `endian: ${little ? 'little' : 'big'}`,
    `encoding: ${o.encoding}`,
    `space origin: ${fmt(v.origin.map((x, r) => x * (s[r] as number)))}`,
    'patient:=not geometry: (1,2,3)',
  ];
  if (o.byteSkip !== undefined) lines.push(`byte skip: ${o.byteSkip}`);
  if (o.dataFile) lines.push(`data file: ${o.dataFile}`);
  let raw = encodeValues(o.values ?? v.data, type, little);
  if (o.byteSkip && o.byteSkip > 0) raw = Buffer.concat([Buffer.alloc(o.byteSkip, 0x55), raw]);
  const data = o.encoding === 'gzip' ? gzipSync(raw) : raw;
  const header = Buffer.from(`${lines.join('\n')}\n${o.dataFile ? '' : '\n'}`, 'latin1');
  return { header, data };
}

const MET_TYPE: Partial<Record<ElementType, string>> = { uint8: 'MET_UCHAR', int16: 'MET_SHORT', uint16: 'MET_USHORT', int32: 'MET_INT', float32: 'MET_FLOAT', float64: 'MET_DOUBLE' };

/** A MetaImage header (and data) as ITK writes it: TransformMatrix rows are the axis vectors (LPS). */
function metaImage(v: Volume, o: { compressed: boolean; type?: ElementType; msb?: boolean; dataFile?: string; anatomical?: string; headerSize?: number }): { header: Buffer; data: Buffer } {
  const type = o.type ?? 'int16';
  let raw = encodeValues(v.data, type, !o.msb);
  if (o.headerSize) raw = Buffer.concat([Buffer.alloc(o.headerSize, 7), raw]);
  const data = o.compressed ? deflateSync(raw) : raw;
  const lines = [
    'ObjectType = Image',
    'NDims = 3',
    'BinaryData = True',
    `BinaryDataByteOrderMSB = ${o.msb ? 'True' : 'False'}`,
    `CompressedData = ${o.compressed ? 'True' : 'False'}`,
    ...(o.compressed ? [`CompressedDataSize = ${data.length}`] : []),
    `TransformMatrix = ${v.direction.flat().join(' ')}`,
    `Offset = ${v.origin.join(' ')}`,
    'CenterOfRotation = 0 0 0',
    `AnatomicalOrientation = ${o.anatomical ?? 'RAI'}`,
    `ElementSpacing = ${v.spacing.join(' ')}`,
    `DimSize = ${v.dims.join(' ')}`,
    ...(o.headerSize ? [`HeaderSize = ${o.headerSize}`] : []),
    `ElementType = ${MET_TYPE[type]}`,
    `ElementDataFile = ${o.dataFile ?? 'LOCAL'}`,
  ];
  return { header: Buffer.from(`${lines.join('\n')}\n`, 'latin1'), data };
}

function expectGeometry(got: Volume, want: Volume): void {
  expect(got.dims).toEqual(want.dims);
  got.spacing.forEach((s, a) => expect(s).toBeCloseTo(want.spacing[a] as number, 5));
  got.origin.forEach((x, a) => expect(x).toBeCloseTo(want.origin[a] as number, 4));
  got.direction.forEach((d, a) => d.forEach((x, r) => expect(x).toBeCloseTo((want.direction[a] as Vec3)[r] as number, 6)));
}

// An oblique-free but permuted, flipped grid: i → superior, j → patient left, k → anterior.
const PERMUTED: Dirs = [
  [0, 0, 1],
  [1, 0, 0],
  [0, -1, 0],
];
const AXIAL_FFS: Dirs = [
  [-1, 0, 0],
  [0, 1, 0],
  [0, 0, -1],
];

describe('research volume files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vcf-volfile-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const put = (name: string, ...parts: Buffer[]): string => {
    const p = join(dir, name);
    writeFileSync(p, Buffer.concat(parts));
    return p;
  };

  it('knows the formats by extension', () => {
    expect(volumeFileFormat('a/b.NII.GZ')).toBe('nifti');
    expect(volumeFileFormat('x.nii')).toBe('nifti');
    expect(volumeFileFormat('x.nrrd')).toBe('nrrd');
    expect(volumeFileFormat('x.nhdr')).toBe('nrrd');
    expect(volumeFileFormat('x.mha')).toBe('metaimage');
    expect(volumeFileFormat('x.mhd')).toBe('metaimage');
    expect(volumeFileFormat('x.dcm')).toBeNull();
    expect(volumeFileFormat('dicomdir')).toBeNull();
  });

  it('NRRD, attached raw int16 in LPS space: geometry and values as written', async () => {
    const v = testVolume([3, 4, 5], [0.8, 0.9, 2.5], [-100, 20.5, -300], AXIAL_FFS);
    const { header, data } = nrrd(v, { space: 'left-posterior-superior', encoding: 'raw' });
    const r = await readVolumeFile(put('a.nrrd', header, data));
    expectGeometry(r.volume, v);
    expect(Array.from(r.volume.data)).toEqual(Array.from(v.data));
    expect(r.facts).toMatchObject({ format: 'nrrd', encoding: 'raw', elementType: 'int16', byteOrder: 'little' });
    expect(r.notes).toEqual([]);
  });

  it('NRRD, gzip in RAS space with permuted axes: x and y are negated into LPS', async () => {
    const v = testVolume([4, 3, 6], [1.5, 0.7, 2], [12, -34, 56], PERMUTED);
    const { header, data } = nrrd(v, { space: 'right-anterior-superior', encoding: 'gzip' });
    expect(header.toString()).toContain('space directions: (0,0,1.5) (-0.7,0,0) (0,2,0)');
    expect(header.toString()).toContain('space origin: (-12,34,56)');
    const r = await readVolumeFile(put('b.nrrd', header, data));
    expectGeometry(r.volume, v);
    expect(Array.from(r.volume.data)).toEqual(Array.from(v.data));
    // Voxel (1, 2, 3) is 1.5 mm superior, 1.4 mm left and 6 mm anterior of the origin.
    expect(voxelToLps(r.volume, 1, 2, 3)).toEqual([13.4, -40, 57.5]);
    expect(r.facts.encoding).toBe('gzip');
  });

  it('NRRD detached (.nhdr + data file): big-endian float and double with byte skip, gzip, rounding to HU', async () => {
    const v = testVolume([5, 2, 3], [1, 1, 1], [0, 0, 0], AXIAL_FFS);
    const values = Array.from(v.data, (x) => x + 0.4);
    const f = nrrd(v, { space: 'left-posterior-superior', encoding: 'raw', type: 'float32', little: false, dataFile: 'c.raw', byteSkip: 7, values });
    writeFileSync(join(dir, 'c.raw'), f.data);
    const r = await readVolumeFile(put('c.nhdr', f.header));
    expect(Array.from(r.volume.data)).toEqual(Array.from(v.data));
    expect(r.facts).toMatchObject({ dataFile: 'c.raw', elementType: 'float32', byteOrder: 'big' });
    const g = nrrd(v, { space: 'left-posterior-superior', encoding: 'gzip', type: 'float64', dataFile: 'd.raw.gz', byteSkip: 3, values: Array.from(v.data, (x) => x - 0.6) });
    writeFileSync(join(dir, 'd.raw.gz'), g.data);
    const rg = await readVolumeFile(put('d.nhdr', g.header));
    expect(Array.from(rg.volume.data)).toEqual(Array.from(v.data, (x) => x - 1));
    // byte skip -1: the data are the last bytes of the file.
    const h = nrrd(v, { space: 'left-posterior-superior', encoding: 'raw', dataFile: 'e.raw', byteSkip: -1 });
    writeFileSync(join(dir, 'e.raw'), Buffer.concat([Buffer.from('some leading header'), h.data]));
    expect(Array.from((await readVolumeFile(put('e.nhdr', h.header))).volume.data)).toEqual(Array.from(v.data));
  });

  it('MetaImage .mha with zlib CompressedData and a permuted TransformMatrix (ITK: rows are the axes, LPS)', async () => {
    const v = testVolume([3, 5, 4], [1.366, 1.366, 2.5], [-153.8, -150.3, -1434.5], PERMUTED);
    const { header, data } = metaImage(v, { compressed: true, anatomical: 'IRA' });
    const r = await readVolumeFile(put('f.mha', header, data));
    expectGeometry(r.volume, v);
    expect(Array.from(r.volume.data)).toEqual(Array.from(v.data));
    expect(r.facts).toMatchObject({ format: 'metaimage', encoding: 'zlib', elementType: 'int16' });
    expect(r.facts.geometryFrom).toMatch(/AnatomicalOrientation IRA not used/);
  });

  it('MetaImage .mhd + .raw: big-endian uint16 and float64 after a HeaderSize, identity axes', async () => {
    const v = testVolume([4, 4, 3], [0.5, 0.5, 3], [1, 2, 3], [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ]);
    const shifted: Volume = { ...v, data: Int16Array.from(v.data, (x) => x + 1024) };
    const a = metaImage(shifted, { compressed: false, type: 'uint16', msb: true, dataFile: 'g.raw' });
    writeFileSync(join(dir, 'g.raw'), a.data);
    const r = await readVolumeFile(put('g.mhd', a.header));
    expectGeometry(r.volume, v);
    expect(Array.from(r.volume.data)).toEqual(Array.from(shifted.data));
    expect(r.facts).toMatchObject({ dataFile: 'g.raw', elementType: 'uint16', byteOrder: 'big' });
    const b = metaImage(v, { compressed: false, type: 'float64', dataFile: 'h.raw', headerSize: 100 });
    writeFileSync(join(dir, 'h.raw'), b.data);
    expect(Array.from((await readVolumeFile(put('h.mhd', b.header))).volume.data)).toEqual(Array.from(v.data));
  });

  it('NIfTI: sform (gzipped and not), a qform-only float64 file, and scl_slope/scl_inter', async () => {
    const v = testVolume([3, 4, 2], [0.7, 0.8, 3], [10, -20, 30], AXIAL_FFS);
    const gz = await readVolumeFile(put('i.nii.gz', encodeNifti(v)));
    expectGeometry(gz.volume, v);
    expect(Array.from(gz.volume.data)).toEqual(Array.from(v.data));
    expect(gz.facts).toMatchObject({ format: 'nifti', encoding: 'gzip', elementType: 'int16' });
    const plain = await readVolumeFile(put('i.nii', encodeNifti(v, { gzip: false })));
    expect(Array.from(plain.volume.data)).toEqual(Array.from(v.data));

    // qform only (as VerSe files): quaternion (b, c, d) = (0, 0, 1) is 180° about z: RAS i → −x, j → −y,
    // i.e. LPS i → +x (left), j → +y (posterior); qfac −1 flips k (inferior).
    const hdr = encodeNifti(v, { gzip: false }).subarray(0, 352);
    hdr.writeInt16LE(64, 70);
    hdr.writeInt16LE(64, 72);
    hdr.writeFloatLE(-1, 76); // qfac
    hdr.writeInt16LE(1, 252); // qform_code
    hdr.writeInt16LE(0, 254); // sform_code
    hdr.writeFloatLE(0, 256);
    hdr.writeFloatLE(0, 260);
    hdr.writeFloatLE(1, 264);
    hdr.writeFloatLE(-250.5, 268); // qoffset RAS
    hdr.writeFloatLE(145, 272);
    hdr.writeFloatLE(182, 276);
    hdr.writeFloatLE(2, 112); // scl_slope
    hdr.writeFloatLE(-1024, 116); // scl_inter
    const q = await readVolumeFile(put('q.nii.gz', gzipSync(Buffer.concat([hdr, encodeValues(Array.from(v.data, (x) => (x + 1024.6) / 2), 'float64', true)]))));
    expect(q.volume.direction).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, -1],
    ]);
    expect(q.volume.origin).toEqual([250.5, -145, 182]);
    expect(q.volume.spacing.map((s) => Math.round(s * 100) / 100)).toEqual([0.7, 0.8, 3]);
    expect(Array.from(q.volume.data)).toEqual(Array.from(v.data, (x) => x + 1));
    expect(q.facts.geometryFrom).toMatch(/^qform/);
    expect(q.facts.intensity).toMatch(/scl_slope/);
  });

  it('streams across chunk boundaries: one byte at a time gives the same voxels', () => {
    const values = [-1024.4, 0, 3.5, 2000.49, -0.5, 40000, Number.NaN];
    for (const type of ['float64', 'float32', 'int32', 'int16'] as const) {
      const vals = type.startsWith('int') ? values.map((x) => (Number.isNaN(x) ? 0 : Math.max(-32768, Math.min(32767, Math.trunc(x))))) : values;
      const bytes = encodeValues(vals, type, false);
      const whole = new Int16Array(vals.length);
      new VoxelSink(whole, type, false).push(bytes);
      const bytewise = new Int16Array(vals.length);
      const sink = new VoxelSink(bytewise, type, false);
      for (let i = 0; i < bytes.length; i++) sink.push(bytes.subarray(i, i + 1));
      expect(sink.full).toBe(true);
      expect(Array.from(bytewise)).toEqual(Array.from(whole));
    }
    const f = new Int16Array(values.length);
    new VoxelSink(f, 'float64', true).push(encodeValues(values, 'float64', true));
    expect(Array.from(f)).toEqual([-1024, 0, 4, 2000, 0, 32767, -1024]);
  });

  it('says what is wrong, naming the file: BAD_REQUEST for the path, VOLUME_INVALID for the content', async () => {
    const v = testVolume([3, 4, 5], [1, 1, 1], [0, 0, 0], AXIAL_FFS);
    const ok = nrrd(v, { space: 'left-posterior-superior', encoding: 'raw' });
    const gz = nrrd(v, { space: 'left-posterior-superior', encoding: 'gzip' });
    const cases: Array<[string, Buffer, string, RegExp]> = [
      ['short.nrrd', Buffer.concat([ok.header, ok.data.subarray(0, 50)]), 'VOLUME_INVALID', /short\.nrrd: data ends early: 50 bytes for 60 int16 voxels/],
      ['cut.nrrd', Buffer.concat([gz.header, gz.data.subarray(0, gz.data.length - 12)]), 'VOLUME_INVALID', /cut\.nrrd: /],
      ['ascii.nrrd', Buffer.from(ok.header.toString().replace('encoding: raw', 'encoding: ascii')), 'VOLUME_INVALID', /NRRD encoding "ascii" not supported/],
      ['space.nrrd', Buffer.from(ok.header.toString().replace('left-posterior-superior', 'right-posterior-inferior')), 'VOLUME_INVALID', /NRRD space "right-posterior-inferior" not supported/],
      ['magic.nrrd', Buffer.from('hello\n\n'), 'VOLUME_INVALID', /not an NRRD file/],
      ['four.nrrd', Buffer.from(ok.header.toString().replace('dimension: 3', 'dimension: 4')), 'VOLUME_INVALID', /a 3-D scalar volume is needed/],
      ['list.mha', Buffer.from('NDims = 3\nDimSize = 2 2 2\nElementType = MET_SHORT\nElementDataFile = LIST\n'), 'VOLUME_INVALID', /multi-file data not supported/],
      ['missing.mhd', Buffer.from('NDims = 3\nDimSize = 2 2 2\nElementType = MET_SHORT\nElementDataFile = nowhere.raw\n'), 'VOLUME_INVALID', /data file nowhere\.raw cannot be read/],
      ['rgb.mha', Buffer.from('NDims = 3\nDimSize = 2 2 2\nElementNumberOfChannels = 3\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n'), 'VOLUME_INVALID', /scalar volume is needed/],
      ['bad.nii.gz', Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5]), 'VOLUME_INVALID', /bad\.nii\.gz: /],
      ['tiny.nii', Buffer.alloc(100), 'VOLUME_INVALID', /tiny\.nii: not a NIfTI-1 file/],
      ['two.nii', Buffer.concat([Buffer.from([0x1c, 2, 0, 0]), Buffer.alloc(600)]), 'VOLUME_INVALID', /NIfTI-2 files are not supported/],
    ];
    for (const [name, bytes, code, message] of cases) {
      const p = put(name, bytes);
      await expect(readVolumeFile(p)).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    }
    await expect(readVolumeFile(join(dir, 'absent.nrrd'))).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/cannot read .*absent\.nrrd: ENOENT/) });
    await expect(readVolumeFile(join(dir, 'x.txt'))).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('the same phantom as DICOM, NIfTI, NRRD (RAS) and MetaImage gives the same canonical volume', async () => {
    const { files } = phantomBuffers({ size: 48, pixelSpacing: 6, sliceSpacing: 3, coverage: { from: 'T12', to: 'L2' }, seed: 5, position: 'FFS' });
    const dicom = analyzeSeriesBuffers(files.map((f) => f.data)).volume;
    const canon = toCanonicalLps(dicom);
    const n = nrrd(dicom, { space: 'right-anterior-superior', encoding: 'gzip' });
    const m = metaImage(dicom, { compressed: true });
    const paths = [put('p.nii.gz', encodeNifti(dicom)), put('p.nrrd', n.header, n.data), put('p.mha', m.header, m.data)];
    for (const p of paths) {
      const { analysis, volume } = await analyzeVolumeFile(p);
      const c = toCanonicalLps(volume);
      expectGeometry(c, canon);
      expect(Buffer.from(c.data.buffer).equals(Buffer.from(canon.data.buffer))).toBe(true);
      expect(analysis.studyInstanceUid).toBeNull();
      expect(analysis.seriesInstanceUid).toBeNull();
      expect(analysis.volume.orientation).toBe('RPI');
      expect(analysis.series.reasons[0]).toMatch(/one volume, nothing to choose; no DICOM identifiers/);
      expect(analysis.input).toMatchObject({ files: 1, dicomInstances: 0 });
    }
  });

  it('analyze-study takes a file: detection runs on a NIfTI; an unreadable file exits 2 with one line', async () => {
    const { files } = phantomBuffers({ size: 64, pixelSpacing: 6, sliceSpacing: 3, coverage: { from: 'T12', to: 'L2' }, seed: 4 });
    const nii = put('study.nii.gz', encodeNifti(analyzeSeriesBuffers(files.map((f) => f.data)).volume));
    const out: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
      out.push(String(c));
      return true;
    });
    try {
      expect(await analyzeStudy([nii, '--compact'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const result = JSON.parse(out.join(''));
    expect(result.studyInstanceUid).toBeNull();
    expect(result.series.chosen).toMatchObject({ format: 'nifti', file: 'study.nii.gz', encoding: 'gzip' });
    expect(result.model.name).toBe('vcf-unet-ref');
    expect(Array.isArray(result.vertebrae)).toBe(true);
    expect(result.notes.join(' ')).not.toMatch(/not available/);

    const err: string[] = [];
    const espy = jest.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => {
      err.push(String(c));
      return true;
    });
    try {
      expect(await analyzeStudy([put('broken.nrrd', Buffer.from('NRRD0004\ntype: short\ndimension: 3\nsizes: 9 9 9\nencoding: raw\n\n\u0001\u0002'))])).toBe(2);
    } finally {
      espy.mockRestore();
    }
    expect(err.join('').trim().split('\n')).toHaveLength(1);
    expect(err.join('')).toMatch(/broken\.nrrd: data ends early/);
    await expect(analyzeStudy([join(dir, 'absent.mha')])).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});
