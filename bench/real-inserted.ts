/**
 * bench:real-inserted — fractures inserted into the real development scans' normal vertebrae (none of them
 * holds a real fracture), each found or missed by the same detection as analyze-study.
 *
 *   npm run bench:real-inserted [-- --losses 0.33,0.5 --shapes wedge,biconcave,crush --json out.json --table]
 *
 * For each real scan the model did not train on (its card's `training.realCases` are left out: hold-out by
 * source), detection runs once on the scan as published; every vertebra it reports whole and graded 0 is a
 * candidate. For each candidate, shape and loss, a copy of the scan gets that fracture inserted into that
 * body (src/imaging/phantom/insert-fracture.ts: the body compressed between its endplates, the discs
 * stretched, geometry from the detector's own body mask on the sagittal plane) and detection runs again:
 *   - found: a grade ≥ 2 call on the fractured body (its centre within half the body's height);
 *   - grade: the grade called there, against the inserted loss's Genant grade;
 *   - elsewhere: grade ≥ 2 calls on any other body (false: the rest of the scan is unchanged);
 *   - level kept: the fractured body keeps the label it had before.
 * The deformation is ours: these are real bone, noise and neighbours around a collapse we made, not real
 * fractures. Prints one JSON document; `--table` adds a markdown table on stderr.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { insertFracture, type BodyGeometry, type InsertedShape } from '../src/imaging/phantom/insert-fracture';
import { gradeForLoss } from '../src/imaging/phantom/spine';
import { huNearest, type Volume } from '../src/imaging/volume';
import { bodyHalfWidthMm } from '../src/inference/bodies';
import { MAX_SAMPLING_MM } from '../src/inference/evidence';
import { SPINE_LEVELS } from '../src/domain/vocabulary';
import { detectVertebrae, startModel, type Detection, type ModelHandle, type VertebraFinding } from '../src/inference';
import { readAsTheCliDoes, REAL_DEV_CASES, trainedOnCases } from './real-ct';

const r3 = (n: number): number => Math.round(n * 1000) / 1000;

type Masks = NonNullable<Detection['debug']['masks']>;

/**
 * Where the endplate is near `z0` (mm) on the column at (x, y): going outward (`dir` +1 superior, −1
 * inferior) from 3 mm inside to 4 mm outside `z0`, the outermost fall of ≥ 100 HU over 1.5 mm (cortex to
 * disc), else `z0`; HU averaged over three columns 2 mm apart laterally. The network's mask may stop a
 * few millimetres inside the cortical endplate, and a deformation from there would stretch the endplate
 * away with the disc instead of collapsing it with the body. The window stops short of the next
 * vertebra's endplate across a thoracic disc (4–6 mm).
 */
function endplateNear(v: Volume, x: number, y: number, z0: number, dir: 1 | -1): number {
  const hu = (z: number): number => [-2, 0, 2].reduce((s, dx) => s + (huNearest(v, [x + dx, y, z]) ?? 0), 0) / 3;
  let edge = z0;
  for (let d = -3; d <= 4; d += 0.5) {
    const z = z0 + dir * d;
    if (hu(z) - hu(z + dir * 1.5) >= 100) edge = z + dir * 0.75;
  }
  return edge;
}

/**
 * The body's endplates per column of its mask on the curved sagittal plane (patient y, z), moved onto the
 * image's endplates (`endplateNear`); its mid-sagittal x and half-width. Null for a mask under 4 columns.
 */
function geometryOf(masks: Masks, id: number, volume: Volume): BodyGeometry | null {
  const { slab, labels } = masks;
  const { rows, cols, spacing: sp } = slab;
  const yMm: number[] = [];
  const topMm: number[] = [];
  const bottomMm: number[] = [];
  const centreRows: number[] = [];
  for (let c = 0; c < cols; c++) {
    let first = -1;
    let last = -1;
    for (let r = 0; r < rows; r++) {
      if (labels[r * cols + c] !== id) continue;
      if (first < 0) first = r;
      last = r;
    }
    if (first < 0 || (last - first + 1) * sp < 4) continue;
    yMm.push(slab.y0 + c * sp);
    // Pixel edges, not centres: row r spans zTop − (r ± ½)·spacing.
    topMm.push(slab.zTop - (first - 0.5) * sp);
    bottomMm.push(slab.zTop - (last + 0.5) * sp);
    centreRows.push((first + last) / 2);
  }
  // Columns much shorter than the body (a mask's ragged corner) would collapse a corner, not the body.
  const heights = topMm.map((t, k) => t - (bottomMm[k] as number)).sort((a, b) => a - b);
  const median = heights[heights.length >> 1] ?? 0;
  for (let k = yMm.length - 1; k >= 0; k--) {
    if ((topMm[k] as number) - (bottomMm[k] as number) >= 0.6 * median) continue;
    for (const xs of [yMm, topMm, bottomMm, centreRows]) xs.splice(k, 1);
  }
  if (yMm.length < 4) return null;
  const mid = Math.round(centreRows[centreRows.length >> 1] as number);
  const depth = (yMm[yMm.length - 1] as number) - (yMm[0] as number) + sp;
  const xMm = slab.xAt[mid] as number;
  return {
    yMm,
    topMm: topMm.map((z, k) => endplateNear(volume, xMm, yMm[k] as number, z, 1)),
    bottomMm: bottomMm.map((z, k) => endplateNear(volume, xMm, yMm[k] as number, z, -1)),
    xMm,
    halfWidthMm: bodyHalfWidthMm(depth),
  };
}

const GRADED = SPINE_LEVELS.slice(SPINE_LEVELS.indexOf('T4'), SPINE_LEVELS.indexOf('L5') + 1);
/** A candidate: whole, graded 0 without a cap, at a level Genant grading applies to. */
const gradable = (v: VertebraFinding): boolean =>
  v.grade === 0 && GRADED.includes(v.level) && !v.flags.includes('partialCoverage') && !v.flags.includes('insufficientEvidence');

async function runCase(model: ModelHandle, name: string, input: string, losses: number[], shapes: InsertedShape[]) {
  const analysed = await readAsTheCliDoes(input);
  const sampling = Math.max(...analysed.volume.spacing);
  // The service does not grade thicker sampling (evidence.ts): nothing to find there.
  if (sampling > MAX_SAMPLING_MM) return { name, skipped: `${sampling} mm sampling: not graded by design (at most ${MAX_SAMPLING_MM} mm)`, baseline: [], candidates: [], trials: [] };
  const base = await detectVertebrae(analysed.volume, model, { keyImage: false, keepMasks: true });
  const masks = base.debug.masks as Masks;
  const trials = [];
  // Each reported body's geometry once: a candidate's neighbours are candidates too.
  const geometries = base.vertebrae.map((v) => {
    const comp = masks.components.find((c) => c.level === v.level);
    return comp ? geometryOf(masks, comp.id, analysed.volume) : null;
  });
  const geometryAt = (i: number): BodyGeometry | null => geometries[i] ?? null;
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
  for (const [i, v] of base.vertebrae.entries()) {
    const geometry = gradable(v) ? geometryAt(i) : null;
    // A body with a reported neighbour above and below (a fracture is judged against them); the stretch
    // stays inside the discs between them (80% of the thinner one, 2–10 mm).
    const above = geometryAt(i - 1);
    const below = geometryAt(i + 1);
    if (!geometry || !above || !below) continue;
    const disc = Math.min(median(above.bottomMm) - median(geometry.topMm), median(geometry.bottomMm) - median(below.topMm));
    const discMm = Math.min(10, Math.max(2, 0.8 * disc));
    for (const shape of shapes) {
      for (const loss of losses) {
        const inserted = insertFracture(analysed.volume, geometry, { shape, loss, discMm });
        const det = await detectVertebrae(inserted.volume, model, { keyImage: false });
        const top = inserted.topMm.reduce((a, b) => a + b, 0) / inserted.topMm.length;
        const bottom = inserted.bottomMm.reduce((a, b) => a + b, 0) / inserted.bottomMm.length;
        const zc = (top + bottom) / 2;
        const onBody = (f: VertebraFinding): boolean => Math.abs(f.centerMm[2] - zc) <= Math.max(6, (top - bottom) / 2);
        const there = det.vertebrae.filter(onBody).sort((a, b) => Math.abs(a.centerMm[2] - zc) - Math.abs(b.centerMm[2] - zc))[0] ?? null;
        trials.push({
          level: v.level,
          shape,
          loss,
          discMm: r3(discMm),
          insertedGrade: gradeForLoss(loss),
          found: !!there && there.grade >= 2,
          called: there ? { level: there.level, grade: there.grade, morphology: there.morphology, heightLossPercent: there.heightLossPercent, flags: there.flags, gradingNotes: there.gradingNotes } : null,
          levelKept: there?.level === v.level,
          elsewhere: det.vertebrae.filter((f) => f !== there && f.grade >= 2).map((f) => `${f.level}:${f.grade}`),
        });
      }
    }
  }
  return { name, baseline: base.vertebrae.map((v) => `${v.level}:${v.grade}`), candidates: [...new Set(trials.map((t) => t.level))], trials };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: join(__dirname, '..', 'models', 'vcf-unet-ref', 'model.onnx') },
      imaging: { type: 'string', default: join(__dirname, '..', '..', 'shared', 'fixtures', 'imaging') },
      losses: { type: 'string', default: '0.33,0.5' },
      shapes: { type: 'string', default: 'wedge,biconcave,crush' },
      json: { type: 'string' },
      table: { type: 'boolean', default: false },
    },
  });
  const losses = (values.losses as string).split(',').map(Number);
  const shapes = (values.shapes as string).split(',') as InsertedShape[];
  const imaging = values.imaging as string;
  if (!existsSync(imaging)) {
    process.stdout.write(`${JSON.stringify({ skipped: `fixtures not found at ${imaging}` })}\n`);
    return;
  }
  const model = await startModel(values.model as string, { threads: 2 });
  const trained = new Set(trainedOnCases(model));
  const cases = [];
  for (const c of REAL_DEV_CASES.filter((c) => !trained.has(c.name))) cases.push(await runCase(model, c.name, join(imaging, c.input), losses, shapes));
  const trials = cases.flatMap((c) => c.trials.map((t) => ({ case: c.name, ...t })));
  const by = (key: (t: (typeof trials)[number]) => string) => {
    const groups: Record<string, { n: number; found: number; gradeExact: number; levelKept: number; falseElsewhere: number }> = {};
    for (const t of trials) {
      const g = (groups[key(t)] ??= { n: 0, found: 0, gradeExact: 0, levelKept: 0, falseElsewhere: 0 });
      g.n++;
      g.found += t.found ? 1 : 0;
      g.gradeExact += t.called?.grade === t.insertedGrade ? 1 : 0;
      g.levelKept += t.levelKept ? 1 : 0;
      g.falseElsewhere += t.elsewhere.length;
    }
    return groups;
  };
  const result = {
    bench: 'real-inserted',
    model: { name: model.card.name, version: model.card.version },
    note: 'real scans with a fracture inserted by our own deformation (insert-fracture.ts); the real cases the model trained on are left out',
    trainedOnNotCounted: [...trained],
    byGrade: by((t) => `grade ${t.insertedGrade}`),
    byShapeAndGrade: by((t) => `${t.shape} grade ${t.insertedGrade}`),
    byCase: by((t) => t.case),
    cases: cases.map((c) => ({ ...c, trials: c.trials.map((t) => ({ ...t, loss: r3(t.loss) })) })),
  };
  const text = `${JSON.stringify(result, null, 2)}\n`;
  if (values.json) writeFileSync(values.json as string, text);
  process.stdout.write(text);
  if (values.table) {
    const rows = Object.entries(result.byShapeAndGrade).map(([k, g]) => `| ${k} | ${g.found}/${g.n} | ${g.gradeExact}/${g.n} | ${g.levelKept}/${g.n} | ${g.falseElsewhere} |`);
    process.stderr.write(['| inserted | found (grade ≥ 2 on the body) | grade exact | level kept | grade ≥ 2 elsewhere |', '|---|---|---|---|---|', ...rows, ''].join('\n'));
  }
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:real-inserted: ${(err as Error).message}\n`);
  process.exit(1);
});
