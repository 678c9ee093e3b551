/**
 * English vocabulary. Patterns are regex sources over FOLDED text (lower case, no accents, dashes
 * unified), without capturing groups. Sources: radiology usage, NegEx/ConText trigger lists,
 * CheXpert/NegBio uncertainty patterns (../shared/fixtures/nlp) narrowed to the spine.
 */
import type { CueEntry, Lexicon, TriggerEntry } from './lexicon';

/** Operative and neurological words around a bare "compression" (spinal cord, nerve roots, a graft). */
const NEURAL_OR_SURGICAL =
  'neurologic\\w*|neural|cord|myelopath\\w*|radiculopath\\w*|thecal|dura|dural|nerve|nerves|osteophytes?|grafts?|decompress\\w*|plates?|screws?|cage';

const FX = 'fractures?';
const DEF = 'deformit(?:y|ies)';
const VB = '(?:vertebral )?(?:body |bodies )?';

const triggers: TriggerEntry[] = [
  // vertebra-specific phrases
  { pattern: `(?:vertebral |vertebral body |spinal |spine )?compression (?:${FX}|${DEF}|injur(?:y|ies)|changes?)`, kind: 'fracture', specific: true },
  { pattern: `vertebral (?:body )?(?:${FX}|collapse|${DEF})`, kind: 'fracture', specific: true },
  { pattern: `spinal ${FX}|spine ${FX}`, kind: 'fracture', specific: true },
  { pattern: `(?:anterior )?wedg(?:e|ed|ing)(?: compression)?(?: ${FX}| ${DEF})?`, kind: 'fracture', specific: true, morphology: 'wedge' },
  { pattern: `biconcav(?:e|ity)(?: ${DEF}| ${FX}| compression)?`, kind: 'fracture', specific: true, morphology: 'biconcave' },
  { pattern: `(?:codfish|fish) vertebra(?:e)?`, kind: 'fracture', specific: true, morphology: 'biconcave' },
  { pattern: `crush (?:${FX}|${DEF})`, kind: 'fracture', specific: true, morphology: 'crush' },
  { pattern: `crush(?:ed)?`, kind: 'fracture', specific: false, morphology: 'crush' },
  { pattern: `vertebra(?:e)? plana`, kind: 'fracture', specific: true, morphology: 'crush', grade: 3 },
  { pattern: `burst ${FX}`, kind: 'fracture', specific: true },
  { pattern: `(?:superior |inferior )?end ?plates? (?:${FX}|compression|depression|${DEF}|collapse|impaction)`, kind: 'fracture', specific: true },
  { pattern: `vertebral (?:body )?height (?:loss|reduction)|loss of vertebral (?:body )?height`, kind: 'fracture', specific: true },
  // need a level or a spinal word nearby
  { pattern: `(?:anterior |posterior |central |middle |mild |partial )?(?:height loss|height reduction)`, kind: 'fracture', specific: false },
  // De-identified text masks words with X's ("mild XXXX loss of T4"): a masked word where "height" would
  // stand still reads as height loss when a level follows; dropping it would lose a level the radiologist named.
  // (Starts with "x" so that it is tried only where an "x" starts a word: see CompiledAlternation.)
  { pattern: `x{3,} (?:loss|reduction) (?=(?:of|at|in) (?:the )?(?:c|t|th|l)[ -]?\\d)`, kind: 'fracture', specific: false },
  { pattern: `(?:loss|reduction|decrease|diminution) (?:in|of) (?:the )?(?:anterior |posterior |central |middle )?(?:vertebral )?(?:body )?height`, kind: 'fracture', specific: false },
  { pattern: `(?:reduced|decreased|diminished) (?:anterior |posterior |central )?(?:vertebral )?(?:body )?height`, kind: 'fracture', specific: false },
  { pattern: `(?:loss|reduction|decrease) of (?:approximately |about |roughly |nearly |almost |up to |more than |less than |over )?\\d{1,2}(?:[.,]\\d)? ?%(?: of)? (?:the |its )?(?:anterior |posterior |central |middle )?(?:vertebral )?(?:body )?height`, kind: 'fracture', specific: false },
  { pattern: `(?:reduced|decreased|diminished|lower|shortened|loss) in (?:anterior |posterior |central |vertebral )?(?:body )?height`, kind: 'fracture', specific: false },
  { pattern: `(?:is|are|appears?|remains?) (?:mildly |moderately |severely |slightly |minimally )?(?:compressed|collapsed|flattened|wedged)`, kind: 'fracture', specific: false },
  { pattern: `lost (?:approximately |about |roughly |nearly |almost )?(?:\\d{1,2}(?:[.,]\\d)? ?% |one third |a third |half )?of (?:its|the) (?:anterior |posterior |central |middle )?(?:vertebral )?(?:body )?height`, kind: 'fracture', specific: false },
  { pattern: `(?:pathologic(?:al)?|insufficiency|osteoporotic|fragility|traumatic|stress|chance|acute|new|old) ${FX}`, kind: 'fracture', specific: false },
  { pattern: `${FX}|fractured|fracture ${DEF}|fxs?`, kind: 'fracture', specific: false },
  { pattern: `collaps(?:e|ed|ing)`, kind: 'fracture', specific: false },
  { pattern: `flatten(?:ed|ing)`, kind: 'fracture', specific: false },
  { pattern: `compressed|compression`, kind: 'fracture', specific: false, notWith: NEURAL_OR_SURGICAL },
  { pattern: `${DEF}`, kind: 'fracture', specific: false },
  { pattern: `impaction|impacted`, kind: 'fracture', specific: false },
  { pattern: `retropulsion|retropulsed(?: fragments?)?`, kind: 'fracture', specific: false, secondary: true },
  // treated fractures (historical)
  { pattern: `(?:post[- ]?)?(?:vertebroplast(?:y|ies)|kyphoplast(?:y|ies)|cementoplast(?:y|ies))`, kind: 'treated', specific: true },
  { pattern: `(?:vertebral |cement )augmentation|augmented`, kind: 'treated', specific: false },
  { pattern: `(?:vertebroplasty |kyphoplasty |bone |pmma |polymethylmethacrylate )?cement|cemented|pmma`, kind: 'treated', specific: false },
  // preserved height (explicit "no fracture")
  { pattern: `${VB}heights?(?: (?:of|and|the|vertebral|bodies|body|intervertebral|disc|disk|spaces?|alignment|are|is|appear|appears|remain|remains|well|grossly|overall|all|otherwise|levels)){0,6} (?:maintained|preserved|normal|intact|unremarkable|within normal limits)`, kind: 'normal', specific: true },
  { pattern: `(?:normal|preserved|maintained) ${VB}heights?`, kind: 'normal', specific: true },
  { pattern: `(?:normal|preserved|maintained) in (?:height|stature)`, kind: 'normal', specific: false },
  { pattern: `(?:is|are|appears?|remains?) intact`, kind: 'normal', specific: false },
];

const c = (pattern: string, type: CueEntry['type'], direction: CueEntry['direction']): CueEntry => ({ pattern, type, direction });

const cues: CueEntry[] = [
  // negation
  c('no|not|without|nor|none|never', 'negation', 'forward'),
  c('absence of|absent|negative for|free of|no evidence of|no signs? of|no ct evidence of|no radiographic evidence of|there (?:is|are) no|no definite|no convincing|no obvious|no significant|no other|no additional|no further|no visible|no appreciable|no discrete|no focal', 'negation', 'forward'),
  c('(?:is|are|was|were) not (?:seen|identified|demonstrated|visualized|visualised|present|evident|noted|appreciated)|not (?:seen|identified|demonstrated|visualized|appreciated)|(?:is|are|has been|have been) (?:excluded|ruled out)|excluded|ruled out|(?:is|are) absent|resolved', 'negation', 'backward'),
  // pseudo-negations that mean something else
  c('not acute|non-?acute|not recent|not new', 'historical', 'both'),
  c('no (?:significant |interval |appreciable |definite )*(?:change|progression|increase)|without (?:any )?(?:significant |interval |appreciable |definite )*(?:change|progression)|not (?:significantly )?changed|no new change', 'historical', 'both'),
  c('(?:with )?sparing of|spares|sparing', 'negation', 'forward'),
  c('(?:is|are) (?:spared|preserved)', 'negation', 'backward'),
  c('cannot (?:be )?(?:excluded?|ruled out)|can ?not (?:be )?(?:excluded?|ruled out)|can\'t (?:be )?(?:excluded?|ruled out)|cannot rule out|not (?:be )?(?:entirely |completely |definitively )?(?:excluded|ruled out)|difficult to exclude|not (?:entirely |completely )?excluded', 'possible', 'both'),
  c('not (?:previously )?(?:known|described|reported)|previously unknown|unknown|not present previously|not previously (?:seen|present|visible|described)|(?:which|that) (?:was|were) not (?:present|seen|visible) (?:previously|before|on (?:the )?(?:prior|previous)(?: study| exam| examination| ct)?)', 'current', 'backward'),
  c('not (?:seen|present|visible|identified|demonstrated|evident|noted) (?:on|in) (?:the )?(?:prior|previous|earlier|preceding|last|comparison)(?: study| exam| examination| ct| scan| imaging| mri| radiograph)?', 'current', 'backward'),
  c('not only|no longer|not clear(?:ly)? whether', 'pseudo', 'forward'),
  // templated "Compression fracture: no" (only when nothing follows the answer)
  c('(?::|=) ?(?:no|none|negative|absent|nil)(?= ?(?:[.;,\\n]|$))', 'negation', 'backward'),
  c('no doubt|without doubt|not only|even if', 'pseudo', 'forward'),
  // uncertainty
  c('possible|possibly|probable|probably|likely|presumed|presumably|suspected|suspect|suspicious(?: for| of)?|suspicion (?:of|for)|concerning for|concern for|worrisome for|questionable|question of|question|questioned|query|equivocal|may|might|could (?:be|represent|reflect|indicate)|versus|vs|suggestive of|suggests?|favou?r(?:ed)?|differential (?:diagnosis )?(?:includes?|of)|cannot be differentiated from|borderline|debatable|uncertain', 'possible', 'forward'),
  c('versus|vs|possible|suspected|questionable|uncertain|probable|(?:is|are) (?:possible|suspected|questionable|uncertain|not certain|probable)', 'possible', 'backward'),
  c('\\?', 'possible', 'backward'),
  // a deformity read as a variant: the radiologist saw it and judged it (still reported, hedged)
  c('(?:likely |probably |possibly |most likely )?(?:physiologic(?:al)?|developmental|normal variant|anatomic variant|congenital|scheuermann(?:\'s)?(?: disease| changes?)?)', 'possible', 'backward'),
  // hypothetical
  c('rule out|r/o|to exclude|exclude|evaluate for|evaluation for|to evaluate(?: for)?|assess(?:ment)? for|to assess for|screen(?:ing)? for|look(?:ing)? for|search(?:ing)? for|if|in case of|should there be|in the event of|risk of|risk for|at risk(?: of| for)?|impending|consider|considered|candidate for|recommend(?:ed|ation)?|prevent(?:ion)?|prophylactic|whether there is', 'hypothetical', 'forward'),
  c('(?:is|are|could be|may be|can be|should be) (?:recommended|considered|performed|obtained)', 'hypothetical', 'backward'),
  c('risk|risks|prevention|probability', 'hypothetical', 'backward'),
  // history
  c('known|old|older|chronic|long[- ]?standing|healed|remote|prior|previous|previously (?:described|seen|noted|treated|demonstrated|reported|identified)|history of|hx of|h/o|status post|s/p|post[- ]?traumatic|sequela(?:e)? of|established|already (?:known|described|seen)|preexisting|pre-existing|chronic[- ]appearing|old[- ]appearing', 'historical', 'forward'),
  c('again (?:seen|noted|demonstrated|identified|visualized)|re-?demonstrat(?:ed|es|ion of)|stable|unchanged|persistent|persists|persisting|as before|as previously (?:described|seen|noted|reported)|(?:is|are) (?:again )?(?:stable|unchanged)|healed|chronic|old|not new', 'historical', 'both'),
  // acute / new
  c('new|newly|acute|recent|subacute|fresh|interval (?:development|appearance|onset)|developing|progressive|progressed|progression|worsened|worsening|increased|increasing|interval (?:increase|progression|worsening)', 'current', 'forward'),
  c('new|newly (?:seen|developed|identified|demonstrated)|new since|(?:has|have) progressed|progressed|progression|worsened|increased|acute|recent|(?:is|are) new', 'current', 'backward'),
];

export const LEXICON_EN: Lexicon = {
  triggers,
  cues,
  sites: [
    { pattern: 'ribs?|costal|costochondral|costovertebral|sternum|sternal|manubri(?:um|al)|clavicles?|clavicular|scapulae?|scapular|humer(?:us|al|i)' },
    { pattern: 'femurs?|femoral|femora|hips?|acetabul(?:um|ar)|pelvis|pelvic|sacrum|sacral|sacroiliac|coccyx|coccygeal|iliac|ilium|pubic|pubis|rami|ramus|ischial|ischium|ischiopubic' },
    { pattern: 'radius|radial|ulna|ulnar|wrist|tibiae?|tibial|fibulae?|fibular|ankle|calcane(?:us|al|um)|patellae?|skull|calvari(?:um|al)|orbital?|nasal|mandibular?|facial|phalan(?:x|ges)|metacarpals?|carpal|toe|finger|hand|foot' },
    { pattern: 'dens|odontoid' },
    { pattern: 'discs?|disks?|discal|intervertebral|interspace|cord|thecal(?: sac)?|nerve roots?|neural foram(?:en|ina)|foraminal|lobes?|lung|lungs|airway|bronch(?:us|i)|schmorl(?:\'?s)?(?: nodes?)?|limbus|hemangioma' },
    { pattern: 'transverse process(?:es)?|spinous process(?:es)?|articular process(?:es)?|pedicles?|laminae?|laminar|facets?|pars(?: interarticularis)?|posterior elements?', posteriorElement: true },
  ],
  regions: [
    { pattern: 'cervical|c[- ]spine|cervical spine', regions: ['cervical'] },
    // Parts of a region and junctions carry their extent: a fracture "in the mid thoracic spine" does not
    // cover T12. Compounds are written as one word, hyphenated or spaced.
    { pattern: 'upper[- ]?cervical|high[- ]?cervical|cranio-?cervical', regions: ['cervical'], levels: 'C1-C2' },
    { pattern: 'lower[- ]?cervical|low[- ]?cervical|subaxial', regions: ['cervical'], levels: 'C3-C7' },
    { pattern: 'cervico-?thoracic(?: junction)?', regions: ['cervical', 'thoracic'], levels: 'C6-T2' },
    { pattern: 'thoracic|dorsal|t[- ]spine|thoracic spine|dorsal spine', regions: ['thoracic'] },
    { pattern: 'upper[- ]?thoracic|high[- ]?thoracic|upper[- ]?dorsal', regions: ['thoracic'], levels: 'T1-T4' },
    { pattern: 'mid[- ]?thoracic|middle thoracic|mid[- ]?dorsal', regions: ['thoracic'], levels: 'T5-T8' },
    { pattern: 'lower[- ]?thoracic|low[- ]?thoracic|lower[- ]?dorsal', regions: ['thoracic'], levels: 'T9-T12' },
    { pattern: 'thoraco-?lumbar spine', regions: ['thoracic', 'lumbar'] },
    { pattern: 'thoraco-?lumbar(?: junction)?', regions: ['thoracic', 'lumbar'], levels: 'T11-L2' },
    { pattern: 'lumbar|l[- ]spine|lumbar spine', regions: ['lumbar'] },
    { pattern: 'upper[- ]?lumbar|high[- ]?lumbar', regions: ['lumbar'], levels: 'L1-L2' },
    { pattern: 'mid[- ]?lumbar|middle lumbar', regions: ['lumbar'], levels: 'L2-L4' },
    { pattern: 'lower[- ]?lumbar|low[- ]?lumbar', regions: ['lumbar'], levels: 'L3-L5' },
    { pattern: 'lumbo-?sacral(?: junction)?', regions: ['lumbar'], levels: 'L4-S1' },
    { pattern: 'spine|spinal|vertebral|vertebrae?|vertebral bod(?:y|ies)|osseous|skeletal', regions: [] },
  ],
  discContext: [
    'discs?|disks?|discal|interspaces?|intervertebral|foram(?:en|ina)|foraminal|bulges?|bulging|herniations?|herniated|protrusions?|extrusions?|annular|facets?|facet joints?|stenosis|spondylolisthesis|anterolisthesis|retrolisthesis|listhesis|level|space|desiccation|degeneration|degenerative|fusion|laminectomy|discectomy',
  ],
  severity: [
    { pattern: 'mild|mildly|minimal|minimally|slight|slightly|subtle|minor|small|trace|early', grade: 1 },
    { pattern: 'moderate|moderately', grade: 2 },
    { pattern: 'severe|severely|marked|markedly|advanced|near[- ]complete|complete', grade: 3 },
  ],
  morphology: [
    { pattern: 'wedge|wedged|wedging|anterior (?:vertebral )?(?:body )?height loss|loss of (?:the )?anterior (?:vertebral )?(?:body )?height', morphology: 'wedge' },
    { pattern: 'biconcave|biconcavity|codfish|central (?:endplate )?depression', morphology: 'biconcave' },
    { pattern: 'crush|crushed|vertebra plana|pancake', morphology: 'crush' },
  ],
  sections: [
    { pattern: 'findings?|results?|description|observations?|report|body|bones?|osseous(?: structures)?|musculoskeletal|skeleton|spine|skeletal|osseous findings|bone windows?', section: 'findings' },
    { pattern: 'impressions?|conclusions?|summary|opinion|diagnosis|diagnoses|assessment|interpretation', section: 'impression' },
    { pattern: '(?:clinical )?indications?|reason for (?:exam(?:ination)?|study|referral|request)|exam reason|clinical question|request', section: 'indication' },
    { pattern: '(?:clinical |patient |medical |relevant )?history|clinical (?:information|details|data|notes?)|hpi|background', section: 'history' },
    { pattern: 'technique|protocol|procedure|exam(?:ination)?|contrast|dose|acquisition|series', section: 'technique' },
    { pattern: 'comparisons?|priors?|prior (?:studies|exams?|examinations?|imaging)|previous (?:studies|exams?|examinations?)|compared(?: with| to)?', section: 'comparison' },
  ],
  clauseBreaks: [
    'however|but|although|though|whereas|nevertheless|nonetheless|otherwise|apart from|aside from|other than|except(?: for)?|besides|which|who|in contrast|on the other hand|while',
  ],
  siteFillers: [
    'of', 'the', 'a', 'an', 'at', 'in', 'involving', 'through', 'to', 'left', 'right', 'bilateral', 'bilaterally', 'both',
    'posterior', 'anterior', 'lateral', 'medial', 'inferior', 'superior', 'distal', 'proximal', 'mid', 'upper', 'lower',
    'multiple', 'several', 'adjacent', 'healed', 'old', 'acute', 'nondisplaced', 'displaced', 'minimally', 'insufficiency',
    'stress', 'wing', 'neck', 'shaft', 'body', 'arc', 'arcs', 'segments', 'segment', 'aspect',
  ],
};
