import { encodeImage, type CtSliceSpec } from '../../../src/imaging/phantom/dicom-writer';
import { parseHeaders } from '../../../src/imaging/dicom';
import { bufferFrameSource, type FrameSource } from '../../../src/imaging/volume';

let counter = 0;

/** A tiny CT slice (rows×cols) whose stored value at pixel (c, r) is `value(c, r)`. */
export function makeSlice(
  over: Partial<CtSliceSpec> & { imagePositionPatient: [number, number, number] },
  value: (c: number, r: number) => number = () => 1024,
): Buffer {
  counter++;
  const rows = over.rows ?? 4;
  const columns = over.columns ?? 4;
  const spec: CtSliceSpec = {
    studyInstanceUid: '2.25.1',
    seriesInstanceUid: '2.25.2',
    sopInstanceUid: `2.25.1000${counter}`,
    frameOfReferenceUid: '2.25.3',
    studyDate: '20260101',
    studyTime: '120000',
    accessionNumber: 'T1',
    studyDescription: 'TEST',
    seriesNumber: 2,
    instanceNumber: counter,
    seriesDescription: 'TEST AXIAL',
    imageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
    patient: { name: 'SYNTHETIC^TEST', id: 'SYN', birthDate: '19500101', sex: 'O' },
    rows,
    columns,
    pixelSpacing: [1, 1],
    sliceThickness: 1,
    imageOrientationPatient: [1, 0, 0, 0, 1, 0],
    rescaleSlope: 1,
    rescaleIntercept: -1024,
    pixelRepresentation: 0,
    ...over,
  };
  if (spec.encapsulatedFrames) return encodeImage(spec, null);
  const px = spec.pixelRepresentation === 1 ? new Int16Array(rows * columns) : new Uint16Array(rows * columns);
  for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) px[r * columns + c] = value(c, r);
  return encodeImage(spec, px);
}

export function sources(buffers: Buffer[]): FrameSource[] {
  return buffers.flatMap((b) => parseHeaders(b).frames.map((h) => bufferFrameSource(h, b)));
}
