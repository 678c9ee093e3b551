/**
 * Post-process, bodies: the network's probabilities → the plausible vertebral bodies on the slab, top to
 * bottom, each measured (six-point heights, depth, endplates) and placed in patient space. The component
 * and morphometry algorithms are in ../bodies.ts; this stage chooses and orders what they are run on.
 */
import { huNearest, type Vec3, type Volume } from '../../imaging/volume';
import { bodyHalfWidthMm, findBodies, foreground, measureBody, onTheColumn, splitMerged, withoutFragments, type BodyComponent, type BodyMeasurement } from '../bodies';
import { slabToLps } from '../reformat';
import type { SlabPrediction } from './predict';
import type { SpineSlab } from './preprocess';

/** A plausible vertebral body: its component on the slab, its measurement and its centre. */
export interface VertebralBody {
  component: BodyComponent;
  measurement: BodyMeasurement;
  /** Centre of the body, patient LPS (mm). */
  centerMm: Vec3;
}

export interface VertebralBodies {
  /** Component id per slab pixel (the key image outlines and the bench's masks read it). */
  labels: Int32Array;
  /** Plausible bodies, top (superior) to bottom. */
  bodies: VertebralBody[];
  /** The model has an S1 class, so each component's `s1Fraction` means something. */
  s1Class: boolean;
}

/** A plausible body is at least this tall and this deep (mm). */
const MIN_HEIGHT_MM = 8;
const MIN_DEPTH_MM = 10;
/** Half the width of the narrowest adult vertebral body (T1, ~25 mm wide). */
const MIN_HALF_WIDTH_MM = 12;

/**
 * The scan's field of view cuts the body at its sides: a point at its lateral edges (width from its depth,
 * at least an adult T1's) or its anterior or posterior wall, level with its centre, lies outside the
 * volume. A crop through the spine (the elastix chest crop ends 11–13 mm beside the bodies' centres)
 * leaves a body the slab shows whole in the middle but whose heights, read from what is left, are not a
 * vertebra's.
 */
function cutAtItsSides(volume: Volume, centre: Vec3, depthMm: number): boolean {
  const halfWidth = Math.max(MIN_HALF_WIDTH_MM, 0.9 * bodyHalfWidthMm(depthMm));
  const halfDepth = 0.45 * depthMm;
  const edges: Array<[number, number]> = [[halfWidth, 0], [-halfWidth, 0], [0, halfDepth], [0, -halfDepth]];
  return edges.some(([dx, dy]) => huNearest(volume, [centre[0] + dx, centre[1] + dy, centre[2]]) === null);
}

export function findVertebralBodies(volume: Volume, pre: SpineSlab, prediction: SlabPrediction): VertebralBodies {
  const { slab, validRows: valid } = pre;
  const { probs } = prediction;
  const n = slab.rows * slab.cols;
  const fg = foreground(probs, n, prediction.background);
  const s1 = prediction.s1 >= 0 ? probs.subarray(prediction.s1 * n, (prediction.s1 + 1) * n) : null;
  const found = findBodies(fg, s1, slab.rows, slab.cols, { spacing: slab.spacing, validRows: valid });
  const { labels } = found;
  const components = splitMerged(found.components, labels, fg, s1, slab.cols, valid, slab.spacing);
  const bigEnough = components.filter((c) => (c.rowRange[1] - c.rowRange[0] + 1) * slab.spacing >= MIN_HEIGHT_MM && (c.colRange[1] - c.colRange[0] + 1) * slab.spacing >= MIN_DEPTH_MM);
  const comps = withoutFragments(onTheColumn(bigEnough, slab.spacing));
  const bodies = comps.map((c, i): VertebralBody => {
    // The body's superior axis starts along the line through its neighbours' centroids.
    const prev = comps[i - 1];
    const next = comps[i + 1];
    const a = prev ? prev.centroid : c.centroid;
    const b = next ? next.centroid : c.centroid;
    const hint: [number, number] = prev || next ? [a[0] - b[0], a[1] - b[1]] : [-1, 0];
    const measurement = measureBody(fg, labels, c, slab.rows, slab.cols, slab.spacing, hint);
    const centerMm = slabToLps(slab, measurement.center[0], measurement.center[1]);
    const cut = c.touchesEdge || cutAtItsSides(volume, centerMm, measurement.depthMm);
    return { component: { ...c, touchesEdge: cut }, measurement, centerMm };
  });
  return { labels, bodies, s1Class: s1 !== null };
}
