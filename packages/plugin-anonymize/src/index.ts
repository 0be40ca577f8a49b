export { AnonymizeError } from './anonymize-error.js';
export {
  parseAnonymizeConfig,
  parseColumnRule,
  MIN_SALT_LENGTH,
  type AnonymizeConfig,
  type ColumnFunction,
  type ColumnRule,
  type ParseOptions,
  type TableRule,
} from './anonymize-config.js';
export { Anonymizer, createAnonymizer, type ColumnMask, type CreateAnonymizerOptions } from './anonymizer.js';
export { planRules, type PlannedColumn, type RulePlan } from './rule-plan.js';
export { listRules, maskValue, type MaskColumn, type RuleListing } from './mask-value.js';
export { rulesHash } from './rules-hash.js';
export { TRANSFORMERS, type TransformerSpec, type Uniqueness } from './transformers.js';
export { LOCALES } from './locale-data.js';
export { PLUGIN_NAME, PLUGIN_VERSION } from './plugin-info.js';
export { transformerHook } from './hooks/transformer.js';
export {
  checkAnonymization,
  checkFailed,
  readCheckRules,
  type CheckReport,
  type CheckSource,
  type CoveredTarget,
  type ManifestTables,
  type RuleProblem,
  type UnruledColumn,
} from './anonymize-check.js';
export { previewTable, type PreviewResult, type PreviewRow, type PreviewSource } from './anonymize-preview.js';
