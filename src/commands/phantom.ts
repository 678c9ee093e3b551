import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { reportLinesMentioning, syntheticOru } from '../dev/oru';
import { isSpineLevel } from '../domain/vocabulary';
import { AppError } from '../errors';
import { analyzeDirectory } from '../imaging/analyze';
import { CONTRAST_PHASES, isContrastPhase } from '../imaging/phantom/anatomy';
import { parseFractureList, parseLevelList, randomPhantomOptions, writePhantom, type PatientPosition, type PhantomOptions } from '../imaging/phantom/generate';
import { ANATOMIES, isAnatomy } from '../imaging/phantom/spine';
import { renderVolumePngs } from '../imaging/render';
import { parseCommandArgs } from './args';

const USAGE = `usage: vcf-sentinel phantom --out <dir> [options]
  --seed N                 PRNG seed: the anatomy and noise (default 1), and with it fixed UIDs and accession
                           number; without --seed they are fresh on every run
  --fractures T12:2,L1:3   fractures as LEVEL:GRADE[:wedge|biconcave|crush] (default wedge)
  --size N                 rows = columns (default 512)
  --pixel-spacing MM       in-plane spacing (default 0.75)
  --spacing MM             slice spacing (default 1.25); --thickness MM nominal SliceThickness
  --slices N               number of slices (default: cover --coverage plus margins)
  --coverage T1-S1         levels covered (partial coverage, e.g. T10-L3)
  --position HFS|FFS|HFP|FFP   patient position (feet-first / prone orientation and order)
  --noise HU               noise sigma (default 15)
  --osteoporotic           low cancellous HU, thin cortex
  --contrast PHASE         none | arterial | portal-venous (enhanced aorta, vena cava, liver, spleen, kidneys)
  --anatomy NAME           reference (default: what the model was trained on) | alternate (a second, separately
                           parameterised spine: other sizes, curves and body outlines, sacral segments below S1)
  --sclerotic L2,T8  --lytic T10  --schmorl L3  --osteophytes L4,L5   confounders at levels
  --scoliosis MM           lateral deviation amplitude
  --signed                 signed pixels (intercept 0) instead of unsigned (intercept -1024)
  --kernel NAME            ConvolutionKernel (default B31f)
  --localizer --dose-report  also write a scout series and a dose-report secondary capture
  --randomize              draw fractures, confounders, position, spacing, FOV and coverage from the seed
                           (options given explicitly override the draw)
  --labels                 also write labels.nii.gz (vertebral bodies 1..18 = T1..S1, posterior elements 101..118)
  --truth PATH             ground-truth JSON path (default <out>/ground-truth.json)
  --png DIR                render sagittal/axial PNGs (bone and soft tissue windows) into DIR
  --oru FILE               also write a matching ORU^R01 (same accession, patient id and Study Instance UID)
  --mention T12,L1         levels the ORU's report mentions as fractured (default none: "no fracture")
  --authority NAME         PID-3.4 assigning authority in the ORU (default SYNTH_HOSPITAL)

Prints JSON: study and series UIDs, accession number, patient id, fractures, and the files written.`;

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new AppError('BAD_REQUEST', `--${name} must be a number`);
  return n;
}

/** `phantom --out <dir> [--seed N] [--fractures T12:2,L1:3] …`: writes a synthetic CT series + ground truth. */
export async function run(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, {
    out: { type: 'string' },
    seed: { type: 'string' },
    fractures: { type: 'string' },
    size: { type: 'string' },
    'pixel-spacing': { type: 'string' },
    spacing: { type: 'string' },
    thickness: { type: 'string' },
    slices: { type: 'string' },
    coverage: { type: 'string' },
    position: { type: 'string' },
    noise: { type: 'string' },
    osteoporotic: { type: 'boolean' },
    contrast: { type: 'string' },
    anatomy: { type: 'string' },
    sclerotic: { type: 'string' },
    lytic: { type: 'string' },
    schmorl: { type: 'string' },
    osteophytes: { type: 'string' },
    scoliosis: { type: 'string' },
    signed: { type: 'boolean' },
    kernel: { type: 'string' },
    localizer: { type: 'boolean' },
    'dose-report': { type: 'boolean' },
    randomize: { type: 'boolean' },
    labels: { type: 'boolean' },
    truth: { type: 'string' },
    png: { type: 'string' },
    oru: { type: 'string' },
    mention: { type: 'string' },
    authority: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  }, USAGE);
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!values.out) throw new AppError('BAD_REQUEST', 'phantom needs --out <dir> (see --help)');
  if ((values.mention !== undefined || values.authority !== undefined) && values.oru === undefined) throw new AppError('BAD_REQUEST', '--mention and --authority need --oru FILE');
  let mentions: string[] = [];
  let opts: Partial<PhantomOptions> = {};
  try {
    const seed = num(values.seed, 'seed');
    if (seed !== undefined) {
      if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error('--seed must be an integer in 0..4294967295');
      opts.seed = seed;
    }
    if (values.randomize) opts = randomPhantomOptions(opts.seed ?? 1);
    if (values.fractures !== undefined) opts.fractures = parseFractureList(values.fractures);
    const size = num(values.size, 'size');
    if (size !== undefined) opts.size = size;
    const ps = num(values['pixel-spacing'], 'pixel-spacing');
    if (ps !== undefined) opts.pixelSpacing = ps;
    else if (size !== undefined) opts.pixelSpacing = 384 / size; // keep the 384 mm field of view
    const sp = num(values.spacing, 'spacing');
    if (sp !== undefined) opts.sliceSpacing = sp;
    const th = num(values.thickness, 'thickness');
    if (th !== undefined) opts.sliceThickness = th;
    const sl = num(values.slices, 'slices');
    if (sl !== undefined) opts.slices = sl;
    if (values.coverage !== undefined) {
      const [from, to] = values.coverage.toUpperCase().split('-');
      if (!from || !to || !isSpineLevel(from) || !isSpineLevel(to)) throw new Error('--coverage must look like T10-L3');
      opts.coverage = { from, to };
    }
    if (values.position !== undefined) {
      const p = values.position.toUpperCase();
      if (p !== 'HFS' && p !== 'FFS' && p !== 'HFP' && p !== 'FFP') throw new Error('--position must be HFS, FFS, HFP or FFP');
      opts.position = p as PatientPosition;
    }
    const noise = num(values.noise, 'noise');
    if (noise !== undefined) opts.noiseSigma = noise;
    if (values.osteoporotic) opts.osteoporotic = true;
    if (values.contrast !== undefined) {
      if (!isContrastPhase(values.contrast)) throw new Error(`--contrast must be one of ${CONTRAST_PHASES.join(', ')}`);
      opts.contrast = values.contrast;
    }
    if (values.anatomy !== undefined) {
      if (!isAnatomy(values.anatomy)) throw new Error(`--anatomy must be one of ${ANATOMIES.join(', ')}`);
      opts.anatomy = values.anatomy;
    }
    if (values.sclerotic !== undefined) opts.sclerotic = parseLevelList(values.sclerotic);
    if (values.lytic !== undefined) opts.lytic = parseLevelList(values.lytic);
    if (values.schmorl !== undefined) opts.schmorl = parseLevelList(values.schmorl);
    if (values.osteophytes !== undefined) opts.osteophytes = parseLevelList(values.osteophytes);
    const sc = num(values.scoliosis, 'scoliosis');
    if (sc !== undefined) opts.scoliosisMm = sc;
    if (values.signed) opts.signedPixels = true;
    if (values.kernel !== undefined) opts.convolutionKernel = values.kernel;
    if (values.localizer) opts.localizer = true;
    if (values['dose-report']) opts.doseReport = true;
    if (values.labels) opts.labels = true;
    // Same anatomy for the same options, but a new study to the PACS and the report store on every run.
    if (opts.seed === undefined) opts.uidSalt = randomBytes(6).toString('hex');
    if (values.mention !== undefined) mentions = parseLevelList(values.mention);
  } catch (err) {
    throw new AppError('BAD_REQUEST', (err as Error).message);
  }
  const t0 = performance.now();
  let result;
  try {
    result = writePhantom(values.out, opts, values.truth);
  } catch (err) {
    // A file-system failure (EACCES, ENOSPC…) is a runtime failure (exit 1); the rest is bad options (exit 2).
    if (err instanceof AppError || (err as NodeJS.ErrnoException).code !== undefined) throw err;
    throw new AppError('BAD_REQUEST', (err as Error).message);
  }
  const summary: Record<string, unknown> = {
    out: values.out,
    files: result.files,
    bytes: result.bytes,
    ms: Math.round(performance.now() - t0),
    studyInstanceUid: result.truth.studyInstanceUid,
    seriesInstanceUid: result.truth.seriesInstanceUid,
    accessionNumber: result.truth.accessionNumber,
    patientId: result.truth.patientId,
    slices: result.truth.geometry.slices,
    fractures: result.truth.fractures.map((f) => `${f.level}:${f.grade}:${f.morphology}`),
    truth: values.truth ?? join(values.out, 'ground-truth.json'),
  };
  if (values.oru !== undefined) {
    const authority = values.authority ?? 'SYNTH_HOSPITAL';
    const controlId = `PHANTOM-${randomBytes(6).toString('hex')}`;
    const oru = syntheticOru({
      controlId,
      patientId: result.truth.patientId,
      assigningAuthority: authority,
      accessionNumber: result.truth.accessionNumber,
      studyInstanceUid: result.truth.studyInstanceUid,
      lines: reportLinesMentioning(mentions),
    });
    writeFileSync(values.oru, oru);
    // The MSH-10, to look the message up once sent (GET /hl7/messages/{MSH-10}).
    summary.oru = { file: values.oru, controlId, sendingApplication: 'RIS', sendingFacility: authority, mentions, assigningAuthority: authority };
  }
  if (values.png) {
    const { volume } = analyzeDirectory(values.out);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(values.png, { recursive: true });
    const zs = result.truth.vertebrae.filter((v) => v.inFieldOfView && (v.grade > 0 || ['T6', 'T12', 'L3'].includes(v.level))).map((v) => v.centerMm[2]);
    const spineX = result.truth.vertebrae.find((v) => v.level === 'L1')?.centerMm[0] ?? 0;
    summary.png = renderVolumePngs(volume, join(values.png, 'phantom'), { sagittalXMm: spineX, axialZMm: zs });
  }
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  return 0;
}
