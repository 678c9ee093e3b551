/**
 * Pre-process: the volume → what the network reads. The spine's centre line is localised in the volume
 * (localize.ts `localizeSpine`, the stage's first step), then the curved sagittal slab is sampled along it
 * at the model card's spacing, channel offsets and padding (reformat.ts).
 */
import type { Volume } from '../../imaging/volume';
import type { SpineLine } from '../localize';
import type { ModelCard } from '../model-card';
import { curvedSagittal, volumeBounds, type SagittalSlab } from '../reformat';

/** The pre-processed volume: the slab the network reads and how it was placed. */
export interface SpineSlab {
  spine: SpineLine;
  slab: SagittalSlab;
  /** First and last rows of the slab that lie inside the scanned z range (the rest is padding). */
  validRows: [number, number];
}

/** Room (mm) in front of and behind the localised centre, which sits between the body and the arch. */
const ANTERIOR_MARGIN_MM = 80;
const POSTERIOR_MARGIN_MM = 45;

/** Rows of the slab that lie inside the scanned z range. */
function validRows(slab: SagittalSlab, zLo: number, zHi: number): [number, number] {
  const first = Math.max(0, Math.ceil((slab.zTop - zHi) / slab.spacing - 1e-6));
  const last = Math.min(slab.rows - 1, Math.floor((slab.zTop - zLo) / slab.spacing + 1e-6));
  return [first, last];
}

/** Samples the curved sagittal slab along the localised spine, the whole scanned height, as the card asks. */
export function reformatAlongSpine(volume: Volume, spine: SpineLine, input: ModelCard['input']): SpineSlab {
  const bounds = volumeBounds(volume);
  const slab = curvedSagittal(volume, {
    xAtZ: spine.xAtZ,
    yRange: [spine.yRange[0] - ANTERIOR_MARGIN_MM, spine.yRange[1] + POSTERIOR_MARGIN_MM],
    zRange: [bounds.hi[2], bounds.lo[2]],
    spacingMm: input.spacingMm,
    offsetsMm: input.channelOffsetsMm,
    multipleOf: input.multipleOf,
  });
  return { spine, slab, validRows: validRows(slab, bounds.lo[2], bounds.hi[2]) };
}
