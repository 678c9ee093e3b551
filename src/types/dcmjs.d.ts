/**
 * The part of dcmjs 0.51 that vcf-sentinel uses. dcmjs ships no types; these describe its runtime
 * behaviour as used here (DICOM JSON model datasets keyed by 8-hex-digit tags, PS3.18 F.2).
 */
declare module 'dcmjs' {
  namespace data {
    /** One element in the DICOM JSON model: `{ vr, Value }` (Value absent when empty). */
    interface DicomJsonElement {
      vr: string;
      Value?: unknown[];
      InlineBinary?: string;
      BulkDataURI?: string;
    }
    type DicomJsonDataset = Record<string, DicomJsonElement>;

    interface ReadOptions {
      ignoreErrors?: boolean;
      /** Stop before this tag, e.g. "7FE00010" to skip pixel data. */
      untilTag?: string | null;
      includeUntilTagValue?: boolean;
      /** Keep views on the input buffer instead of copying bulk values. */
      noCopy?: boolean;
      forceStoreRaw?: boolean;
    }

    class DicomDict {
      constructor(meta: DicomJsonDataset);
      meta: DicomJsonDataset;
      dict: DicomJsonDataset;
      write(options?: { allowInvalidVRLength?: boolean; fragmentMultiframe?: boolean }): ArrayBuffer;
    }

    class DicomMessage {
      static readFile(buffer: ArrayBuffer, options?: ReadOptions): DicomDict;
      static isEncapsulated(transferSyntaxUid: string): boolean;
    }

    /** The stream dcmjs reads a file through; `getBuffer` copies the bytes [start, end) of a value. */
    class ReadBufferStream {
      endOffset: number;
      getBuffer(start?: number, end?: number): ArrayBuffer | Uint8Array;
    }

    class DicomMetaDictionary {
      static naturalizeDataset(dataset: DicomJsonDataset): Record<string, unknown>;
      static denaturalizeDataset(dataset: Record<string, unknown>): DicomJsonDataset;
      static punctuateTag(rawTag: string): string;
      static unpunctuateTag(tag: string): string;
    }

  }

  /** loglevel instance; "validation.dcmjs" prints VR complaints on stderr unless silenced. */
  const log: {
    setLevel(level: string): void;
    getLogger(name: string): { setLevel(level: string): void };
  };

  const dcmjs: { data: typeof data; log: typeof log };
  export { data, log };
  export default dcmjs;
}
