/**
 * The key image as a DICOM Secondary Capture Image (SOP Class 1.2.840.10008.5.1.4.1.1.7, PS3.3 A.8.1):
 * 8-bit RGB (MONOCHROME2 when the PNG holds no colour), uncompressed. The labels and grade outlines are
 * drawn into the pixels, so Burned In Annotation is YES.
 */
import { PNG } from 'pngjs';
import { SOP_CLASSES } from '../../imaging/dicom';
import { type ResultsContext, commonAttributes } from './common';
import { writePart10 } from './part10';

export const SECONDARY_CAPTURE_IMAGE_STORAGE = SOP_CLASSES.secondaryCapture;

export function buildKeyImageSecondaryCapture(ctx: ResultsContext, png: Buffer): Buffer {
  const image = PNG.sync.read(png);
  const { width, height, data } = image;
  let colour = false;
  for (let o = 0; o < data.length && !colour; o += 4) colour = data[o] !== data[o + 1] || data[o + 1] !== data[o + 2];
  const samples = colour ? 3 : 1;
  // OB values have even length: one pad byte when rows × columns × samples is odd.
  const pixels = new Uint8Array(width * height * samples + ((width * height * samples) % 2));
  for (let i = 0, o = 0; o < data.length; o += 4) {
    // Alpha is dropped: the key image is opaque.
    pixels[i++] = data[o] as number;
    if (colour) {
      pixels[i++] = data[o + 1] as number;
      pixels[i++] = data[o + 2] as number;
    }
  }
  const dataset: Record<string, unknown> = {
    ...commonAttributes(ctx, 'sc', SECONDARY_CAPTURE_IMAGE_STORAGE),
    // SC Equipment: produced on a workstation from the analysed series.
    ConversionType: 'WSD',
    SecondaryCaptureDeviceManufacturer: 'vcf-sentinel',
    SecondaryCaptureDeviceManufacturerModelName: ctx.model.name,
    SecondaryCaptureDeviceSoftwareVersions: [ctx.model.version],
    ImageType: ['DERIVED', 'SECONDARY'],
    // A curved sagittal reformat has no single patient orientation: type 2, left empty.
    PatientOrientation: '',
    DerivationDescription: `Curved sagittal reformat of the analysed CT series with vertebral levels and Genant grades drawn by ${ctx.model.name} ${ctx.model.version}; research use, not for clinical use`,
    BurnedInAnnotation: 'YES',
    LossyImageCompression: '00',
    SourceImageSequence: ctx.analysedInstances.map((i) => ({ ReferencedSOPClassUID: i.sopClassUid, ReferencedSOPInstanceUID: i.sopInstanceUid })),
    SamplesPerPixel: samples,
    PhotometricInterpretation: colour ? 'RGB' : 'MONOCHROME2',
    ...(colour ? { PlanarConfiguration: 0 } : {}),
    Rows: height,
    Columns: width,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: [pixels.buffer],
    _vrMap: { PixelData: 'OB' },
  };
  return writePart10(dataset, ctx.patientStudy);
}
