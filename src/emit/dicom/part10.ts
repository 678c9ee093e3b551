/**
 * Part-10 files for what the service writes back to PACS, with dcmjs: Explicit VR Little Endian, the
 * dataset given in dcmjs' naturalized form (keywords from the standard) plus attributes copied verbatim
 * in the DICOM JSON model (the source's patient and study attributes).
 */
import dcmjs from 'dcmjs';
import { TRANSFER_SYNTAX } from '../../ingest/dicomweb/constants';
import type { DicomJson } from '../../ingest/dicomweb/types';

/** Implementation Class UID of vcf-sentinel's writer (the phantom writer's, under the 2.25 UUID root). */
const IMPLEMENTATION_CLASS_UID = '2.25.181472634126409846152245934725317843206';

/**
 * DICOM JSON values are Unicode, and so are our own texts: the files declare UTF-8 (ISO_IR 192) whatever
 * character set the source instances used.
 */
const SPECIFIC_CHARACTER_SET = 'ISO_IR 192';

export function writePart10(dataset: Record<string, unknown>, copied: DicomJson = {}): Buffer {
  const sopClassUid = dataset.SOPClassUID as string;
  const sopInstanceUid = dataset.SOPInstanceUID as string;
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: TRANSFER_SYNTAX.EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: 'VCF_SENTINEL_0',
    _vrMap: { FileMetaInformationVersion: 'OB' },
  };
  const dict = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset(meta));
  // Our own attributes win over copied ones of the same tag (e.g. SpecificCharacterSet).
  dict.dict = { ...copied, ...dcmjs.data.DicomMetaDictionary.denaturalizeDataset({ SpecificCharacterSet: SPECIFIC_CHARACTER_SET, ...dataset }) };
  return Buffer.from(dict.write());
}

/** Reads a Part-10 buffer back into dcmjs' naturalized form (tests, and a check before sending). */
export function readPart10(buffer: Buffer): Record<string, unknown> {
  const ab = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer;
  const file = dcmjs.data.DicomMessage.readFile(ab);
  return { ...dcmjs.data.DicomMetaDictionary.naturalizeDataset(file.meta), ...dcmjs.data.DicomMetaDictionary.naturalizeDataset(file.dict) } as Record<string, unknown>;
}
