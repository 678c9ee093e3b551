/**
 * French vocabulary (typed with or without accents: patterns run over folded text, so "é" is "e").
 * Sources: French radiology usage, EDS-NLP and French ConText qualifier patterns
 * (../shared/fixtures/nlp/fr-edsnlp, medspacy/resources_fr_context_rules.json) narrowed to the spine.
 */
import type { CueEntry, Lexicon, TriggerEntry } from './lexicon';

const triggers: TriggerEntry[] = [
  { pattern: 'fractures?[- ]tassements?|tassements? fracturaires?', kind: 'fracture', specific: true },
  { pattern: 'tassements?(?: vertebraux?| vertebrales?| somatiques?| osteoporotiques?| pathologiques?)?', kind: 'fracture', specific: true },
  { pattern: 'tassements? cuneiformes?|cuneiformisations?|cuneiformes?', kind: 'fracture', specific: true, morphology: 'wedge' },
  { pattern: 'tassements? biconcaves?|(?:vertebres? )?en diabolo', kind: 'fracture', specific: true, morphology: 'biconcave' },
  { pattern: 'tassements? en galette|vertebres? plates?|aplatissement(?: vertebral| complet)?', kind: 'fracture', specific: true, morphology: 'crush', grade: 3 },
  { pattern: 'ecrasements?(?: vertebral| vertebraux| somatiques?)?', kind: 'fracture', specific: false, morphology: 'crush' },
  { pattern: 'fractures? (?:vertebrales?|rachidiennes?|somatiques?)', kind: 'fracture', specific: true },
  { pattern: 'tassee?s?|fracturee?s?', kind: 'fracture', specific: false },
  { pattern: '(?:perte|diminution|reduction|baisse|chute) (?:de |d\')(?:la |sa |leur )?(?:hauteur|taille)(?: (?:anterieure|posterieure|moyenne|centrale|somatique|vertebrale)s?)?', kind: 'fracture', specific: false },
  { pattern: 'affaissements?(?: vertebral| vertebraux| somatiques?)?|effondrements?', kind: 'fracture', specific: false },
  { pattern: '(?:perte|diminution|reduction) d(?:e |\')(?:environ |pres de |plus de |moins de |un peu plus de )?\\d{1,2}(?:[.,]\\d)? ?%(?: de (?:la |sa |leur )?hauteur)?', kind: 'fracture', specific: false },
  { pattern: 'enfoncements?(?: (?:du|des) plateaux?(?: vertebraux?| vertebral)?(?: superieurs?| inferieurs?)?)?', kind: 'fracture', specific: false },
  { pattern: 'recul du mur posterieur|recul(?: du)? mur posterieur|recul de mur posterieur|recul d\'un fragment', kind: 'fracture', specific: false, secondary: true },
  { pattern: 'vertebroplasties?|cyphoplasties?|kyphoplasties?|cimentoplasties?|cimentations?', kind: 'treated', specific: true },
  { pattern: 'ciment(?: acrylique)?|cimentee?s?', kind: 'treated', specific: false },
  { pattern: 'hauteurs?(?: (?:des|du|de|d\'|la|les|corps|vertebraux|vertebral|vertebrales?|vertebres?|somatiques?|et|disques?|espaces?|intervertebraux|discales?|sont|est|globalement|bien|restent|reste)){0,6} (?:conservees?|preservees?|normales?|respectees?|maintenues?|sans particularite)', kind: 'normal', specific: true },
  { pattern: '(?:de |d\'une )?hauteur normale|respect de (?:la |leur )?hauteur|hauteurs? conservees?', kind: 'normal', specific: true },
];

const c = (pattern: string, type: CueEntry['type'], direction: CueEntry['direction']): CueEntry => ({ pattern, type, direction });

const cues: CueEntry[] = [
  c('pas de|pas d\'|pas d|sans|absence de|absence d\'|aucune?|ni|non|ne montre pas|ne retrouve pas|on ne (?:retrouve|note|voit|visualise|observe|met en evidence) pas|il n\'(?:y a|existe) pas|n\'est pas|ne sont pas|pas d\'argument pour|pas de signe de|pas d\'image de|pas d\'anomalie|pas de lesion|pas de nouvel(?:le)?s?|pas de nouveaux?', 'negation', 'forward'),
  c('respectee?s?|epargnee?s?|indemnes?|(?:est|sont) respectee?s?', 'negation', 'backward'),
  c('non (?:visibles?|vue?s?|retrouvee?s?|visualisee?s?|identifiee?s?|individualisee?s?|objectivee?s?)|n\'est pas (?:retrouvee?|visible|visualisee?|identifiee?)|exclue?s?|eliminee?s?|ecartee?s?|absente?s?', 'negation', 'backward'),
  c('pas|jamais|exclut|excluent|elimine|eliminent|ecarte|ecartent', 'negation', 'forward'),
  c('(?::|=) ?(?:non|negatif|negative|neant|absent|absente|aucun|aucune)(?= ?(?:[.;,\\n]|$))', 'negation', 'backward'),
  c('ne permet pas d\'(?:exclure|eliminer|ecarter)|ne permettent pas d\'(?:exclure|eliminer|ecarter)|sans doute', 'possible', 'both'),
  c('aucun doute|pas de doute|sans aucun doute|meme si|pas d\'amelioration|non seulement|pas seulement', 'pseudo', 'forward'),
  c('envisagee?s?|(?:sont|est) envisagee?s?|a evoquer|a rechercher', 'hypothetical', 'backward'),
  c('(?:n\'a|n\'ont) pas (?:evolue|change|progresse)|(?:n\'est|ne sont) pas modifiee?s?|pas de (?:modification|changement|evolution|majoration|aggravation)|sans (?:modification|changement|evolution|majoration|aggravation)(?: notable| significative)?|non evolutive?s?|pas d\'evolution|sans evolutivite', 'historical', 'both'),
  c('on ne peut (?:pas )?(?:formellement |totalement |completement )?(?:exclure|eliminer|ecarter)|ne peut (?:pas )?(?:etre )?(?:formellement )?(?:exclue?s?|eliminee?s?|ecartee?s?)|non (?:formellement )?(?:exclue?s?|eliminee?s?)|sans pouvoir (?:exclure|eliminer|ecarter)|difficile a (?:exclure|eliminer)', 'possible', 'both'),
  c('non connue?s?|inconnue?s?|pas connue?s?|non signalee?s?|non rapportee?s?', 'current', 'backward'),
  c('non (?:visibles?|vue?s?|retrouvee?s?|decrite?s?|presente?s?|visualisee?s?|connue?s?) (?:sur|lors de|a) (?:l\'|le |la |les )?(?:examen|scanner|tdm|ct|irm|bilan|imagerie|precedent)|non decrite?s?|n\'existait pas|absente? (?:sur|lors de) (?:l\'|le |la )?(?:examen|scanner|tdm|precedent)', 'current', 'backward'),
  c('possible|possiblement|probable|probablement|suspicion d(?:e|\')|suspecte?s?|evocat(?:eur|rice)s? d(?:e|\')|evoqu(?:ant|e|er)|faisant evoquer|pouvant (?:correspondre|etre|evoquer|faire evoquer|traduire|etre en rapport)|pourrai(?:t|ent)|peut[- ]etre|douteu(?:x|se|ses)|a confirmer|discutable|hypothese d(?:e|\')|eventuel(?:le)?s?|faire discuter|doute sur|question d(?:e|\')|incertaine?s?|vraisemblable(?:ment)?|en faveur d(?:e|\')|ne peut etre affirme|aspect douteux|aspect suspect', 'possible', 'forward'),
  c('possible|probable|douteu(?:x|se|ses)|a confirmer|suspecte?s?|(?:est|semble|parait) (?:possible|probable|douteux|douteuse|suspecte?)', 'possible', 'backward'),
  c('(?:probablement |vraisemblablement )?(?:physiologiques?|constitutionnel(?:le)?s?|developpementa(?:l|le|ux)|variante? (?:anatomique|de la normale)|scheuermann)', 'possible', 'backward'),
  c('recherche d(?:e|\'|u|es)|a la recherche d(?:e|\'|u|es)|rechercher|pour eliminer|eliminer|exclure|bilan d(?:e|\')|si|en cas d(?:e|\')|risque d(?:e|\')|risque fracturaire|a risque d(?:e|\')|a discuter|discuter|proposer|envisager|a envisager|indication (?:de|d\'|a)|prevention|en prevention d(?:e|\')|menace', 'hypothetical', 'forward'),
  c('risque|risques|prevention', 'hypothetical', 'backward'),
  c('a discuter|a envisager|a proposer|envisageable|indiquee?|(?:est|serait|pourrait etre) (?:a discuter|a envisager|a proposer|envisageable|indiquee?)', 'hypothetical', 'backward'),
  c('non aigue?s?|non aigu|non recente?s?|cicatriciel(?:le)?s?', 'historical', 'both'),
  c('ancien(?:ne)?s?|connue?s?|deja (?:connue?s?|decrite?s?|vue?s?|visibles?|signalee?s?)|inchangee?s?|stables?|superposables?|sequellaires?|sequelles? d(?:e|\')|antecedents? d(?:e|\')|antecedents?|atcds?(?: de)?|persistan(?:ce|t|te|ts|tes)|chroniques?|vieil(?:le|les|les)?|vieux|consolidee?s?|status post|post[- ]?(?:vertebroplastie|cyphoplastie|cimentoplastie)|connue?s? depuis|deja present(?:e|s|es)?|comme precedemment|comme sur l\'examen precedent|similaire', 'historical', 'both'),
  c('nouveaux?|nouvelles?|nouvel|recente?s?|aigue?s?|aigu|apparition d(?:e|\'|u|es)|d\'apparition recente|majoration|aggravation|evolu(?:ant|tion|tive|tif)|depuis le precedent examen|par rapport a l\'examen precedent', 'current', 'both'),
];

export const LEXICON_FR: Lexicon = {
  triggers,
  cues,
  sites: [
    { pattern: 'cotes?|costale?s?|costaux|arcs? costaux?|arcs? costal|sternum|sternale?s?|clavicules?|claviculaires?|omoplates?|scapula|humerus|humerale?s?|femurs?|femorale?s?|femoraux|col femoral|col du femur|hanches?|cotyles?|cotyloidiens?|bassin|pelviens?|pelviennes?|sacrum|sacree?s?|sacro[- ]iliaque|coccyx|iliaques?|ilion|ilio[- ]?pubiennes?|ischio[- ]?pubiennes?|pubis|pubiennes?|ischion|branches? (?:ilio|ischio)[- ]?pubiennes?' },
    { pattern: 'radius|cubitus|ulna|poignets?|tibias?|tibiale?s?|plateau tibial|peron(?:e|iers?)|fibula|chevilles?|calcaneum|rotules?|crane|mandibule|orbites?|phalanges?|metacarpiens?|os propres du nez' },
    { pattern: 'odontoide|dent de l\'axis' },
    { pattern: 'disques?|discale?s?|discaux|intervertebral|intervertebraux|espaces? intervertebra(?:l|ux)|moelle|medullaire|radiculaire|racines?|foramens?|foraminale?s?|lobes?|poumons?|pulmonaire?s?|lobaire?s?|hernie intraspongieuse|hernies intraspongieuses|intraspongieuses?|nodules? de schmorl|schmorl|hemangiomes?|angiomes?' },
    { pattern: 'apophyses? (?:transverses?|epineuses?|articulaires?)|processus (?:transverses?|epineux|articulaires?)|pedicules?|lames?|massifs? articulaires?|isthmes?|isthmique|arc posterieur|articulaires? posterieures?', posteriorElement: true },
  ],
  regions: [
    { pattern: 'cervicale?s?|cervicaux|rachis cervical', regions: ['cervical'] },
    // Parties d'un étage et charnières, avec leur étendue (voir lexicon-en.ts).
    { pattern: 'cervicale?s? haute?s?|cervicaux hauts|rachis cervical haut|charniere cervico[- ]?occipitale', regions: ['cervical'], levels: 'C1-C2' },
    { pattern: 'cervicale?s? basse?s?|cervicaux bas|rachis cervical bas', regions: ['cervical'], levels: 'C3-C7' },
    { pattern: 'cervico[- ]?thoracique|cervico[- ]?dorsale?|charniere cervico[- ]?(?:thoracique|dorsale)', regions: ['cervical', 'thoracic'], levels: 'C6-T2' },
    { pattern: 'dorsale?s?|dorsaux|thoraciques?|rachis dorsal|rachis thoracique', regions: ['thoracic'] },
    { pattern: 'dorsale?s? haute?s?|dorsaux hauts|thoraciques? haute?s?|rachis dorsal haut|haut du rachis dorsal', regions: ['thoracic'], levels: 'T1-T4' },
    { pattern: 'dorsale?s? moyenne?s?|dorsaux moyens|thoraciques? moyenne?s?|medio[- ]?dorsale?s?|medio[- ]?dorsaux|medio[- ]?thoraciques?', regions: ['thoracic'], levels: 'T5-T8' },
    { pattern: 'dorsale?s? basse?s?|dorsaux bas|thoraciques? basse?s?|rachis dorsal bas|bas du rachis dorsal', regions: ['thoracic'], levels: 'T9-T12' },
    { pattern: 'rachis dorso[- ]?lombaire|rachis thoraco[- ]?lombaire', regions: ['thoracic', 'lumbar'] },
    { pattern: 'dorso[- ]?lombaires?|thoraco[- ]?lombaires?|charniere dorso[- ]?lombaire|charniere thoraco[- ]?lombaire', regions: ['thoracic', 'lumbar'], levels: 'T11-L2' },
    { pattern: 'lombaires?|rachis lombaire', regions: ['lumbar'] },
    { pattern: 'lombaires? haute?s?|rachis lombaire haut|haut du rachis lombaire', regions: ['lumbar'], levels: 'L1-L2' },
    { pattern: 'lombaires? basse?s?|rachis lombaire bas|bas du rachis lombaire', regions: ['lumbar'], levels: 'L3-L5' },
    { pattern: 'lombo[- ]?sacree?|charniere lombo[- ]?sacree', regions: ['lumbar'], levels: 'L4-S1' },
    { pattern: 'rachis|rachidien(?:ne)?s?|vertebrale?s?|vertebraux|vertebres?|corps vertebra(?:l|ux)|somatique?s?', regions: [] },
  ],
  discContext: [
    'disques?|discale?s?|discaux|discopathies?|discarthroses?|etages?|espaces?|intervertebral|intervertebraux|foramens?|foraminale?s?|hernies?|protrusions?|saillies?|debords?|pincements?|listhesis|spondylolisthesis|anterolisthesis|retrolisthesis|arthrose|arthrosiques?|interapophysaires?|zygapophysaires?|canal|canalaire|stenoses?|retrecissement|arthrodese|laminectomie',
  ],
  severity: [
    { pattern: 'leger|legere|legers|legeres|legerement|discret|discrete|discrets|discretes|minime|minimes|debutant|debutante|modeste', grade: 1 },
    { pattern: 'modere|moderee|moderes|moderees|moyen|moyenne', grade: 2 },
    { pattern: 'severe|severes|important|importante|importants|importantes|marque|marquee|majeur|majeure|complet|complete|quasi[- ]complet', grade: 3 },
  ],
  morphology: [
    { pattern: 'cuneiformes?|cuneiformisation|perte de hauteur anterieure|hauteur anterieure', morphology: 'wedge' },
    { pattern: 'biconcaves?|en diabolo', morphology: 'biconcave' },
    { pattern: 'ecrasements?|en galette|vertebres? plates?', morphology: 'crush' },
  ],
  sections: [
    { pattern: 'resultats?|compte[- ]rendu|description|constatations?|analyse|squelette|os|rachis|structures osseuses|etage osseux|fenetre osseuse', section: 'findings' },
    { pattern: 'conclusions?|en conclusion|synthese|avis|impression|interpretation', section: 'impression' },
    { pattern: 'indications?|motifs?(?: de l\'examen| de l\'exam| d\'examen| de la demande)?|demande|question(?: clinique| posee)?|but de l\'examen', section: 'indication' },
    { pattern: 'renseignements? cliniques?|contexte(?: clinique)?|antecedents?|histoire(?: clinique| de la maladie)?|anamnese|informations? cliniques?', section: 'history' },
    { pattern: 'technique|protocole|examen realise|acquisition|injection', section: 'technique' },
    { pattern: 'comparaisons?|comparatif|examens? (?:anterieurs?|precedents?|de reference|de comparaison)|reference|comparaison avec', section: 'comparison' },
  ],
  clauseBreaks: [
    'mais|cependant|toutefois|en revanche|par contre|alors que|tandis que|neanmoins|pourtant|sauf|hormis|en dehors d(?:e|u|es|\')|a l\'exception d(?:e|u|es|\')',
  ],
  siteFillers: [
    'de', 'du', 'des', 'd', 'la', 'le', 'les', 'l', 'au', 'aux', 'gauche', 'droite', 'droit', 'gauches', 'droites', 'droits',
    'bilaterale', 'bilaterales', 'bilateral', 'posterieur', 'posterieure', 'posterieurs', 'posterieures', 'anterieur', 'anterieure',
    'anterieurs', 'anterieures', 'laterale', 'lateral', 'laterales', 'lateraux', 'arc', 'arcs', 'branche', 'branches', 'col', 'aile',
    'consolidee', 'consolidees', 'ancienne', 'anciennes', 'recente', 'recentes', 'par', 'insuffisance', 'osseuse', 'spinal', 'spinale',
  ],
};
