/**
 * Data for fine-tuning and evaluating elastic-LoRA supernets: JSONL datasets in four formats,
 * prompt templates, tokenisation with answer-only loss masks, causal-LM batches, deterministic
 * shuffles, splits and a resumable epoch sampler, and two built-in corpora shipped as npm
 * packages (the Brown corpus and SpamAssassin).
 *
 * Pure TypeScript over plain (typed) arrays: nothing here imports tfjs. See `docs/data.md`.
 *
 * @packageDocumentation
 */
export {
  CHOICE_LETTERS,
  DATASET_FORMATS,
  datasetFromRows,
  detectRowFormat,
  loadJsonlDataset,
  parseJsonl,
  sortStrings,
  writeJsonl,
  type ClassificationRow,
  type Dataset,
  type DatasetFormat,
  type InstructionRow,
  type JsonlOptions,
  type MultipleChoiceRow,
  type RowOf,
  type TextRow,
} from './jsonl.js';
export {
  DEFAULT_TEMPLATES,
  TEMPLATE_FIELDS,
  formatChoices,
  renderTemplate,
  toPromptExample,
  toPromptExamples,
  type PromptExample,
  type PromptOptions,
  type PromptTemplate,
} from './templates.js';
export {
  encodeExample,
  encodeTextStream,
  makeBatch,
  packTextStream,
  selectRows,
  type Batch,
  type BatchOptions,
  type EncodeOptions,
  type EncodedExample,
  type PackOptions,
  type TextStreamOptions,
} from './encode.js';
export { permutation, shuffle, shuffleInPlace, splitDataset, splitLoadedDataset, type Split, type SplitOptions } from './split.js';
export { BatchSampler, type BatchSamplerOptions, type BatchSamplerState, type SampledBatch } from './sampler.js';
export {
  BROWN_CATEGORIES,
  BROWN_PACKAGE_VERSION,
  BROWN_VALIDATION_FILES,
  brownCategoryOf,
  brownCorpus,
  brownDir,
  brownFileIds,
  brownSplit,
  brownText,
  brownWord,
  detokenizeBrown,
  parseBrownFile,
  type BrownCategory,
  type BrownDocument,
  type BrownOptions,
} from './brown.js';
export {
  DEFAULT_SPAM_MAX_CHARS,
  EMPTY_EMAIL_TEXT,
  SPAM_GROUPS,
  SPAM_PACKAGE_VERSION,
  cleanEmail,
  demoSpamTask,
  htmlToText,
  spamAssassin,
  spamAssassinSources,
  spamDir,
  type CleanOptions,
  type DemoSpamOptions,
  type DemoSpamTask,
  type SpamGroup,
  type SpamLabel,
  type SpamOptions,
  type SpamRow,
  type SpamSource,
} from './spam.js';
export { rowBatchSource, type RowBatchSourceOptions } from './source.js';
