/**
 * DICOM parse throughput beside a plain read of the same bytes, and peak memory while assembling a
 * 512×512×600 volume. Prints one JSON object.
 *
 *   npm run bench:study-parse                 # 512×512×400 parse, 512×512×600 memory
 *   npx tsx bench/study-parse.ts --slices 100 --memory-slices 0   # quick
 *
 * `benchStudyParse()` is exported for the combined `bench:study` (notification → volume) to call.
 * The files are written first, so both the plain read and the parse read from the page cache: the
 * comparison is parse CPU cost against copying the bytes, not disk speed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeDirectory, analyzeSeriesBuffers } from '../src/imaging/analyze';
import { parseHeaders, readFrameHu, releasePixelCache } from '../src/imaging/dicom';
import { writePhantom } from '../src/imaging/phantom/generate';

export interface StudyParseResult {
  series: { rows: number; columns: number; slices: number; files: number; megabytes: number; generateMs: number };
  plainRead: { ms: number; mbPerS: number };
  /** Header parse + pixel decode to HU of every file (bytes already in memory). */
  dicomParse: { ms: number; mbPerS: number; headersOnlyMs: number };
  /** readFileSync + parse + decode, i.e. what analyze-study does for the pixels. */
  readAndParse: { ms: number; mbPerS: number };
  /** analyzeDirectory end to end (two passes: headers, then pixels into the volume). */
  analyzeDirectoryMs: number;
  /** analyze-study path: files read one at a time into the preallocated volume. */
  memory600?: MemoryResult;
  /** Worker path: every Part-10 buffer of the series in memory, then the volume. */
  memory600Buffers?: MemoryResult;
  env: { node: string; cpus: number; cpuModel: string };
}

const MB = 1024 * 1024;

interface MemoryResult {
  dims: [number, number, number];
  volumeMB: number;
  peakRssMB: number;
  assembleMs: number;
  limitMB: number;
  withinLimit: boolean;
}

function best<T>(runs: number, fn: () => T): { ms: number; value: T } {
  let bestMs = Infinity;
  let value!: T;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    value = fn();
    bestMs = Math.min(bestMs, performance.now() - t0);
  }
  return { ms: bestMs, value };
}

/**
 * Child-process part: assemble a directory (as analyze-study does) or, with `buffers`, all its files held
 * in memory first (as the worker does after WADO-RS), and report peak RSS (VmHWM) as JSON on stdout.
 */
function memoryChild(dir: string, buffers: boolean): void {
  const inMemory = buffers ? readdirSync(dir).filter((f) => f.endsWith('.dcm')).map((f) => readFileSync(join(dir, f))) : [];
  const t0 = performance.now();
  const { volume } = buffers ? analyzeSeriesBuffers(inMemory) : analyzeDirectory(dir);
  const ms = performance.now() - t0;
  const status = readFileSync('/proc/self/status', 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
  process.stdout.write(JSON.stringify({ dims: volume.dims, volumeMB: volume.data.byteLength / MB, peakRssMB: hwm || process.memoryUsage().rss / MB, assembleMs: ms }));
}

export async function benchStudyParse(opts: { size?: number; slices?: number; memorySlices?: number; keep?: boolean } = {}): Promise<StudyParseResult> {
  const size = opts.size ?? 512;
  const slices = opts.slices ?? 400;
  const memorySlices = opts.memorySlices ?? 600;
  const root = mkdtempSync(join(tmpdir(), 'vcf-bench-parse-'));
  try {
    const dir = join(root, 'series');
    const tGen = performance.now();
    const gen = writePhantom(dir, { seed: 1, size, pixelSpacing: 384 / size, slices, sliceSpacing: 1.25, fractures: [{ level: 'L1', grade: 2, morphology: 'wedge' }] });
    const generateMs = performance.now() - tGen;
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.dcm'))
      .map((f) => join(dir, f));
    const bytes = files.reduce((n, f) => n + readFileSync(f).length, 0);

    const read = best(3, () => files.map((f) => readFileSync(f)));
    const buffers = read.value;
    const slice = new Int16Array(size * size);
    const headersOnly = best(3, () => {
      for (const b of buffers) parseHeaders(b);
    });
    const parse = best(3, () => {
      for (const b of buffers) {
        const h = parseHeaders(b);
        readFrameHu(b, h.frames[0]!, slice, 0);
      }
      releasePixelCache();
    });
    const readParse = best(2, () => {
      for (const f of files) {
        const b = readFileSync(f);
        const h = parseHeaders(b);
        readFrameHu(b, h.frames[0]!, slice, 0);
      }
      releasePixelCache();
    });
    const analyze = best(1, () => analyzeDirectory(dir));

    const result: StudyParseResult = {
      series: { rows: size, columns: size, slices, files: files.length, megabytes: Math.round((bytes / MB) * 10) / 10, generateMs: Math.round(generateMs) },
      plainRead: { ms: Math.round(read.ms), mbPerS: Math.round(bytes / MB / (read.ms / 1000)) },
      dicomParse: { ms: Math.round(parse.ms), mbPerS: Math.round(bytes / MB / (parse.ms / 1000)), headersOnlyMs: Math.round(headersOnly.ms) },
      readAndParse: { ms: Math.round(readParse.ms), mbPerS: Math.round(bytes / MB / (readParse.ms / 1000)) },
      analyzeDirectoryMs: Math.round(analyze.ms),
      env: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?' },
    };

    if (memorySlices > 0) {
      rmSync(dir, { recursive: true, force: true });
      const big = join(root, 'big');
      writePhantom(big, { seed: 2, size: 512, pixelSpacing: 0.75, slices: memorySlices, sliceSpacing: 0.8 });
      // A fresh process so that peak RSS is the assembly's, not the generator's or this benchmark's.
      const measure = (mode: string): MemoryResult => {
        const out = execFileSync(process.execPath, [...process.execArgv, __filename, mode, big], { encoding: 'utf8', maxBuffer: 1 << 20 });
        const m = JSON.parse(out) as { dims: [number, number, number]; volumeMB: number; peakRssMB: number; assembleMs: number };
        return {
          dims: m.dims,
          volumeMB: Math.round(m.volumeMB),
          peakRssMB: Math.round(m.peakRssMB),
          assembleMs: Math.round(m.assembleMs),
          limitMB: 1536,
          withinLimit: m.peakRssMB <= 1536,
        };
      };
      result.memory600 = measure('--memory-child');
      result.memory600Buffers = measure('--memory-child-buffers');
    }
    return result;
  } finally {
    if (!opts.keep) rmSync(root, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args[0] === '--memory-child' || args[0] === '--memory-child-buffers') {
    memoryChild(args[1] as string, args[0] === '--memory-child-buffers');
  } else {
    const arg = (name: string): number | undefined => {
      const i = args.indexOf(name);
      return i >= 0 ? Number(args[i + 1]) : undefined;
    };
    benchStudyParse({ size: arg('--size'), slices: arg('--slices'), memorySlices: arg('--memory-slices') })
      .then((r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`))
      .catch((err) => {
        process.stderr.write(`bench: ${(err as Error).message}\n`);
        process.exitCode = 1;
      });
  }
}
