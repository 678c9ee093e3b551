/**
 * What detection on one volume returns (`detectVertebrae` in detect.ts composes the stages that fill it)
 * and the options it takes. Types only: the key image, the session and the stages are not imported here,
 * so anything may name a detection without pulling in how it is made.
 */
import type { ModelIdentity, VertebraFinding } from '../domain/findings';
import type { SpineLevel } from '../domain/vocabulary';
import type { SpineLine } from './localize';
import type { SagittalSlab } from './reformat';

export type { ModelIdentity, VertebraFinding } from '../domain/findings';

export interface Detection {
  model: ModelIdentity;
  vertebrae: VertebraFinding[];
  fractures: VertebraFinding[];
  notes: string[];
  /** PNG of the sagittal reformat with every vertebra labelled and fractures outlined, when asked for. */
  keyImage: Buffer | null;
  /** Per stage: pre-process (localize, reformat), predict (inference), post-process up to the findings (measure). */
  timingsMs: { localize: number; reformat: number; inference: number; measure: number };
  /** Internals for debugging and the bench. */
  debug: {
    spine: Pick<SpineLine, 'zRange' | 'yRange' | 'lateralDeviationMm'>;
    labelling: string;
    bodies: Array<{ level: SpineLevel | null; zMm: number; areaMm2: number; s1Fraction: number; alae: [number, number] | null; ribBearing: boolean | null; ribMm3: [number, number] | null; edge: boolean; profileMm: number[] }>;
    /** The reformat and its body components (label image, component id per level), when asked for. */
    masks?: { slab: SagittalSlab; labels: Int32Array; components: Array<{ id: number; level: SpineLevel | null }> };
  };
}

export interface DetectOptions {
  /** Render the key image (default true). */
  keyImage?: boolean;
  /** Lateral deviation (mm) of the spine's centre line above which every vertebra is flagged `scoliosis` (default 8). */
  scoliosisMm?: number;
  /** Keep the reformat and the body label image in `debug.masks` (the bench compares them with a reference segmentation). */
  keepMasks?: boolean;
}
