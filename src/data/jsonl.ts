/**
 * JSONL datasets in four formats (instruction, multiple choice, classification, plain text):
 * parsing with row-level validation, format detection, and atomic JSONL writing.
 *
 * Every problem is an {@link NlsError} whose `file` is `path:line` (1-based line of the JSONL
 * file) and whose `field` is the offending key, with a fix in the message.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import { NlsError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';

/** The four dataset formats. */
export type DatasetFormat = 'instruction' | 'multiple-choice' | 'classification' | 'text';

/** All formats, in detection priority order. */
export const DATASET_FORMATS: readonly DatasetFormat[] = ['instruction', 'multiple-choice', 'classification', 'text'];

/** `{instruction, input?, output}`: supervised instruction tuning (Alpaca-style). */
export interface InstructionRow {
  readonly instruction: string;
  /** Optional context; `null`, absent and `""` all mean "no input". */
  readonly input?: string;
  readonly output: string;
}

/**
 * `{question, choices, answer}`. In files `answer` may be a 0-based index, the exact text of a
 * choice, or a capital letter `A`, `B`, ...; after loading it is always the 0-based index.
 */
export interface MultipleChoiceRow {
  readonly question: string;
  readonly choices: readonly string[];
  /** 0-based index into `choices`. */
  readonly answer: number;
}

/** `{text, label}`: single-label classification; the label is a string. */
export interface ClassificationRow {
  readonly text: string;
  readonly label: string;
}

/** `{text}`: plain text for language modelling (loss on every token). */
export interface TextRow {
  readonly text: string;
}

/** Row type of each format. */
export interface RowOf {
  instruction: InstructionRow;
  'multiple-choice': MultipleChoiceRow;
  classification: ClassificationRow;
  text: TextRow;
}

interface DatasetBase<F extends DatasetFormat> {
  readonly format: F;
  readonly rows: RowOf[F][];
  /** 1-based source line of each row (same order as `rows`), for messages; empty if built in memory. */
  readonly lines: number[];
  /** Source file, when loaded from one. */
  readonly file?: string;
}

/** A loaded dataset: its format and validated rows (classification also records its label set). */
export type Dataset =
  | DatasetBase<'instruction'>
  | DatasetBase<'multiple-choice'>
  | (DatasetBase<'classification'> & {
      /** Every label seen, sorted by UTF-16 code units (locale-independent), without duplicates. */
      readonly labels: string[];
    })
  | DatasetBase<'text'>;

/** Options of {@link parseJsonl} and {@link loadJsonlDataset}. */
export interface JsonlOptions {
  /**
   * Format of every row. When omitted it is detected from the first row's keys: `instruction`
   * -> instruction; `question` or `choices` -> multiple choice; `text` and `label` ->
   * classification; `text` -> plain text. With a detected format, a later row that looks like a
   * different format is an error (mixed formats); with an explicit format, keys of other formats
   * are ignored.
   */
  format?: DatasetFormat;
  /** Stop after this many rows (the rest of the file is not validated). */
  maxRows?: number;
}

/** Letters used for multiple-choice options and answers (at most 26 choices). */
export const CHOICE_LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

type JsonObject = Record<string, unknown>;

function isObject(x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function has(row: JsonObject, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(row, key) && row[key] !== undefined;
}

/**
 * The format a row looks like from its keys (see {@link JsonlOptions.format}), or undefined
 * when it has none of the distinguishing keys.
 */
export function detectRowFormat(row: unknown): DatasetFormat | undefined {
  if (!isObject(row)) return undefined;
  if (has(row, 'instruction')) return 'instruction';
  if (has(row, 'question') || has(row, 'choices')) return 'multiple-choice';
  if (has(row, 'text') && has(row, 'label')) return 'classification';
  if (has(row, 'text')) return 'text';
  return undefined;
}

/** Key that makes a row look like `format` (for mixed-format messages). */
const SIGNATURE_KEY: Record<DatasetFormat, string> = {
  instruction: 'instruction',
  'multiple-choice': 'question',
  classification: 'label',
  text: 'text',
};

const EXPECTED_KEYS: Record<DatasetFormat, string> = {
  instruction: '{"instruction": string, "input"?: string, "output": string}',
  'multiple-choice': '{"question": string, "choices": [string, ...], "answer": index | choice text | letter}',
  classification: '{"text": string, "label": string}',
  text: '{"text": string}',
};

/** Where a row came from, for messages. */
interface RowSite {
  readonly file: string;
  readonly line: number;
}

function rowError(site: RowSite, field: string, message: string): NlsError {
  return new NlsError(message, { file: `${site.file}:${site.line}`, field });
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'string') return `the string ${JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}...` : x)}`;
  return `${typeof x} ${JSON.stringify(x)}`;
}

function requireString(row: JsonObject, key: string, site: RowSite, format: DatasetFormat, nonEmpty: boolean): string {
  if (!has(row, key)) {
    throw rowError(site, key, `missing field "${key}" (a ${format} row is ${EXPECTED_KEYS[format]}). Fix: add "${key}" to this row`);
  }
  const v = row[key];
  if (typeof v !== 'string') {
    throw rowError(site, key, `"${key}" must be a string, got ${describe(v)}. Fix: write it as a JSON string`);
  }
  if (nonEmpty && v.trim() === '') throw rowError(site, key, `"${key}" is empty. Fix: give it some text or remove the row`);
  return v;
}

function checkInstruction(row: JsonObject, site: RowSite): InstructionRow {
  const instruction = requireString(row, 'instruction', site, 'instruction', true);
  let input: string | undefined;
  if (has(row, 'input') && row.input !== null) {
    if (typeof row.input !== 'string') {
      throw rowError(site, 'input', `"input" must be a string (or absent), got ${describe(row.input)}. Fix: write it as a JSON string or drop it`);
    }
    input = row.input;
  }
  const output = requireString(row, 'output', site, 'instruction', true);
  return input === undefined || input === '' ? { instruction, output } : { instruction, input, output };
}

/**
 * Resolve a multiple-choice `answer` to a 0-based index: an integer index; else the exact text
 * of one choice; else one capital letter (`"A"` = 0). A string that is both a choice's text and
 * the letter of a different choice is refused as ambiguous.
 */
function resolveAnswer(answer: unknown, choices: readonly string[], site: RowSite): number {
  const n = choices.length;
  const range = `0..${n - 1}, a letter A..${CHOICE_LETTERS[n - 1] ?? 'Z'}, or the text of a choice`;
  if (typeof answer === 'number') {
    if (!Number.isInteger(answer) || answer < 0 || answer >= n) {
      throw rowError(site, 'answer', `answer ${answer} is out of range for ${n} choices (0-based). Fix: use ${range}`);
    }
    return answer;
  }
  if (typeof answer !== 'string') {
    throw rowError(site, 'answer', `"answer" must be an index, a letter or a choice's text, got ${describe(answer)}. Fix: use ${range}`);
  }
  const byText: number[] = [];
  choices.forEach((c, i) => {
    if (c === answer) byText.push(i);
  });
  const letter = /^[A-Z]$/.test(answer) ? CHOICE_LETTERS.indexOf(answer) : -1;
  if (byText.length > 1) {
    throw rowError(site, 'answer', `answer ${JSON.stringify(answer)} matches choices ${byText.join(' and ')} (duplicate choices). Fix: give the answer as an index`);
  }
  const textIndex = byText[0];
  if (textIndex !== undefined) {
    if (letter >= 0 && letter < n && letter !== textIndex) {
      throw rowError(
        site,
        'answer',
        `answer ${JSON.stringify(answer)} is ambiguous: it is the text of choice ${textIndex} and the letter of choice ${letter}. Fix: give the answer as an index`,
      );
    }
    return textIndex;
  }
  if (letter >= 0) {
    if (letter >= n) throw rowError(site, 'answer', `answer letter ${answer} is out of range for ${n} choices. Fix: use ${range}`);
    return letter;
  }
  throw rowError(site, 'answer', `answer ${JSON.stringify(answer)} is neither a letter nor the text of a choice. Fix: use ${range}`);
}

function checkMultipleChoice(row: JsonObject, site: RowSite): MultipleChoiceRow {
  const question = requireString(row, 'question', site, 'multiple-choice', true);
  if (!has(row, 'choices')) {
    throw rowError(site, 'choices', `missing field "choices" (a multiple-choice row is ${EXPECTED_KEYS['multiple-choice']}). Fix: add the list of choices`);
  }
  const raw = row.choices;
  if (!Array.isArray(raw)) throw rowError(site, 'choices', `"choices" must be a list of strings, got ${describe(raw)}. Fix: write ["...", "..."]`);
  if (raw.length < 2) {
    throw rowError(site, 'choices', `"choices" has ${raw.length === 0 ? 'no choices' : 'only one choice'}; a question needs at least 2. Fix: add the choices`);
  }
  if (raw.length > CHOICE_LETTERS.length) {
    throw rowError(site, 'choices', `"choices" has ${raw.length} choices; at most ${CHOICE_LETTERS.length} (one per letter) are supported. Fix: shorten the list`);
  }
  const choices: string[] = [];
  raw.forEach((c: unknown, i) => {
    if (typeof c !== 'string') throw rowError(site, `choices[${i}]`, `choice ${i} must be a string, got ${describe(c)}. Fix: write it as a JSON string`);
    if (c.trim() === '') throw rowError(site, `choices[${i}]`, `choice ${i} is empty. Fix: give it some text`);
    choices.push(c);
  });
  if (!has(row, 'answer')) throw rowError(site, 'answer', `missing field "answer". Fix: add the correct choice's index (0-based), letter or text`);
  const answer = resolveAnswer(row.answer, choices, site);
  return { question, choices, answer };
}

function checkClassification(row: JsonObject, site: RowSite): ClassificationRow {
  const text = requireString(row, 'text', site, 'classification', true);
  if (!has(row, 'label')) throw rowError(site, 'label', `missing field "label" (a classification row is ${EXPECTED_KEYS.classification}). Fix: add this row's label`);
  const label = row.label;
  if (typeof label !== 'string') {
    throw rowError(site, 'label', `"label" must be a string, got ${describe(label)}. Fix: write the label as a JSON string, e.g. "${String(label)}"`);
  }
  if (label.trim() === '') throw rowError(site, 'label', `"label" is empty. Fix: give the label a name`);
  return { text, label };
}

function checkText(row: JsonObject, site: RowSite): TextRow {
  return { text: requireString(row, 'text', site, 'text', true) };
}

const CHECKERS: { [F in DatasetFormat]: (row: JsonObject, site: RowSite) => RowOf[F] } = {
  instruction: checkInstruction,
  'multiple-choice': checkMultipleChoice,
  classification: checkClassification,
  text: checkText,
};

/** Sort strings by UTF-16 code units: the same order on every platform and locale. */
export function sortStrings(xs: Iterable<string>): string[] {
  return [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Parse JSONL text into a validated {@link Dataset}. Blank lines are skipped; `\r\n` line ends
 * and a leading byte-order mark are accepted.
 *
 * @param file used in messages only.
 * @throws NlsError naming `file:line` and the field for bad JSON, a row that is not an object,
 *   a missing or ill-typed field, empty or too few choices, an answer out of range, mixed formats,
 *   an unknown format, or a file with no rows.
 */
export function parseJsonl(text: string, file: string, options: JsonlOptions = {}): Dataset {
  if (options.format !== undefined && !DATASET_FORMATS.includes(options.format)) {
    throw new NlsError(`unknown dataset format ${JSON.stringify(options.format)}. Fix: use one of ${DATASET_FORMATS.join(', ')}`, { field: 'format' });
  }
  const maxRows = options.maxRows ?? Infinity;
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  let format = options.format;
  let firstLine = 0;
  const rows: unknown[] = [];
  const lineNumbers: number[] = [];
  for (let i = 0; i < lines.length && rows.length < maxRows; i++) {
    const lineText = (lines[i] ?? '').replace(/\r$/, '');
    if (lineText.trim() === '') continue;
    const site: RowSite = { file, line: i + 1 };
    let value: unknown;
    try {
      value = JSON.parse(lineText);
    } catch (cause) {
      const detail = cause instanceof Error ? cause.message : String(cause);
      throw new NlsError(`invalid JSON (${detail}). Fix: each non-blank line must be one complete JSON object`, {
        file: `${file}:${site.line}`,
        field: '(row)',
        cause,
      });
    }
    if (!isObject(value)) {
      throw rowError(site, '(row)', `a row must be a JSON object, got ${describe(value)}. Fix: write the row as {"key": value, ...}`);
    }
    const looksLike = detectRowFormat(value);
    if (format === undefined) {
      if (looksLike === undefined) {
        const keys = Object.keys(value);
        throw rowError(
          site,
          keys.length > 0 ? keys.join(', ') : '(row)',
          `cannot tell the dataset format from the keys {${keys.join(', ')}}. Fix: use the keys of one format: ` +
            DATASET_FORMATS.map((f) => `${f} ${EXPECTED_KEYS[f]}`).join('; '),
        );
      }
      format = looksLike;
      firstLine = site.line;
    } else if (options.format === undefined && looksLike !== undefined && looksLike !== format) {
      // A classification row without its label looks like plain text: report the missing label instead.
      if (!(format === 'classification' && looksLike === 'text')) {
        throw rowError(
          site,
          SIGNATURE_KEY[looksLike],
          `this row looks like a ${looksLike} row but the file is ${format} (from line ${firstLine}); formats cannot be mixed in one file. ` +
            `Fix: make it a ${format} row ${EXPECTED_KEYS[format]} or move it to its own file`,
        );
      }
    }
    rows.push(CHECKERS[format](value, site));
    lineNumbers.push(site.line);
  }
  if (format === undefined || rows.length === 0) {
    throw new NlsError(`the file has no rows. Fix: write one JSON object per line`, { file });
  }
  return makeDataset(format, rows, lineNumbers, file);
}

function makeDataset(format: DatasetFormat, rows: unknown[], lines: number[], file: string | undefined): Dataset {
  const base = file === undefined ? { lines } : { lines, file };
  switch (format) {
    case 'instruction':
      return { format, rows: rows as InstructionRow[], ...base };
    case 'multiple-choice':
      return { format, rows: rows as MultipleChoiceRow[], ...base };
    case 'classification': {
      const cls = rows as ClassificationRow[];
      return { format, rows: cls, labels: sortStrings(new Set(cls.map((r) => r.label))), ...base };
    }
    case 'text':
      return { format, rows: rows as TextRow[], ...base };
  }
}

/**
 * Validate in-memory rows (e.g. from a built-in corpus) into a {@link Dataset}, with the same
 * checks as a file. Messages name `source:index+1`.
 */
export function datasetFromRows(format: DatasetFormat, rows: readonly unknown[], source = 'rows'): Dataset {
  const text = rows.map((r) => JSON.stringify(r)).join('\n');
  const ds = parseJsonl(text, source, { format });
  return { ...ds, lines: [] } as Dataset;
}

/**
 * Read and validate a JSONL dataset file. See {@link parseJsonl}.
 *
 * @throws NlsError when the file cannot be read or a row is malformed.
 */
export async function loadJsonlDataset(file: string, options: JsonlOptions = {}): Promise<Dataset> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    throw new NlsError(
      code === 'ENOENT' ? 'file not found. Fix: check the path of the dataset' : `cannot read the dataset (${code ?? String(cause)})`,
      { file, cause },
    );
  }
  return parseJsonl(text, file, options);
}

/**
 * Write rows as JSONL (one `JSON.stringify` per line, `\n` line ends, a final newline),
 * atomically: readers never see a half-written file.
 */
export async function writeJsonl(file: string, rows: Iterable<unknown>): Promise<void> {
  const parts: string[] = [];
  for (const row of rows) {
    const line = JSON.stringify(row);
    if (line === undefined) throw new NlsError(`a row is not JSON-serialisable (${typeof row}). Fix: pass plain objects`, { file });
    parts.push(line, '\n');
  }
  await writeFileAtomic(file, parts.join(''));
}
