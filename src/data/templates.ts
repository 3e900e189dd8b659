/**
 * Prompt templates: turn a dataset row into a `{prompt, answer}` pair. The loss covers the
 * answer only (see `encodeExample`); for classification and multiple choice the example also
 * lists every candidate answer so an evaluator can score each by log-likelihood.
 *
 * Templates are plain strings with `{field}` placeholders (`{{` and `}}` stand for literal
 * braces). Defaults are in {@link DEFAULT_TEMPLATES}; the fields each format offers are in
 * {@link TEMPLATE_FIELDS}.
 *
 * @module
 */
import { NlsError } from '../errors.js';
import {
  CHOICE_LETTERS,
  type ClassificationRow,
  type Dataset,
  type DatasetFormat,
  type InstructionRow,
  type MultipleChoiceRow,
  type TextRow,
} from './jsonl.js';

/** A row rendered for a causal LM: the model reads `prompt` and is trained to produce `answer`. */
export interface PromptExample {
  /** Context the model conditions on (no loss on it). May be empty (plain text). */
  readonly prompt: string;
  /** The target continuation (loss on it). */
  readonly answer: string;
  /** Classification / multiple choice: every candidate answer, rendered like `answer`. */
  readonly candidates?: readonly string[];
  /** Index of the correct candidate (`candidates[correct] === answer`). */
  readonly correct?: number;
}

/** A template pair for one format. */
export interface PromptTemplate {
  /** Prompt template. */
  readonly prompt: string;
  /** Answer template (rendered once per candidate for classification / multiple choice). */
  readonly answer: string;
  /**
   * Instruction format only: the prompt used when a row has no `input` (default: the Alpaca
   * variant without the Input section; for a custom `prompt` without this, `prompt` is used with
   * `{input}` = "").
   */
  readonly promptNoInput?: string;
}

/**
 * Default templates.
 *
 * - instruction: Alpaca's layout without its preamble sentence (shorter prompts for small models):
 *   `### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n` (the Input section is
 *   left out when the row has none), answer `{output}`.
 * - multiple-choice: `Question: {question}\n{choices}\nAnswer:` where `{choices}` is one line per
 *   option `A. text`; answer ` {letter}` (a space, then the letter), candidates ` A`, ` B`, ...
 * - classification: `{text}\nLabel:`, answer ` {label}`, candidates ` {label}` for every label of the
 *   dataset (sorted).
 * - text: empty prompt, answer `{text}`: the loss covers the whole text.
 */
export const DEFAULT_TEMPLATES: { readonly [F in DatasetFormat]: PromptTemplate } = {
  instruction: {
    prompt: '### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n',
    promptNoInput: '### Instruction:\n{instruction}\n\n### Response:\n',
    answer: '{output}',
  },
  'multiple-choice': { prompt: 'Question: {question}\n{choices}\nAnswer:', answer: ' {letter}' },
  classification: { prompt: '{text}\nLabel:', answer: ' {label}' },
  text: { prompt: '', answer: '{text}' },
};

/**
 * Placeholders each format offers.
 *
 * - instruction: `instruction`, `input` ("" when absent), `output`.
 * - multiple-choice: `question`, `choices` (the `A. ...` lines), `letter` (of the answer),
 *   `answer_text` (the answer's choice text), `answer_index` (0-based). The answer-dependent
 *   fields (`letter`, `answer_text`, `answer_index`) take each candidate's value when rendering
 *   candidates.
 * - classification: `text`, `label` (per candidate when rendering candidates).
 * - text: `text`.
 */
export const TEMPLATE_FIELDS: { readonly [F in DatasetFormat]: readonly string[] } = {
  instruction: ['instruction', 'input', 'output'],
  'multiple-choice': ['question', 'choices', 'letter', 'answer_text', 'answer_index'],
  classification: ['text', 'label'],
  text: ['text'],
};

/**
 * Fill `{field}` placeholders of `template` from `fields`. `{{` and `}}` are literal braces.
 *
 * @throws NlsError naming the placeholder when `fields` lacks it.
 */
export function renderTemplate(template: string, fields: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (match, name: string | undefined) => {
    if (match === '{{') return '{';
    if (match === '}}') return '}';
    const value = name === undefined ? undefined : fields[name];
    if (value === undefined) {
      throw new NlsError(`unknown placeholder {${name}} in template ${JSON.stringify(template)}. Fix: use one of ${Object.keys(fields).map((f) => `{${f}}`).join(', ')}`, {
        field: 'template',
      });
    }
    return value;
  });
}

/** Placeholders used by a template (for validating a custom template once, up front). */
function placeholders(template: string): string[] {
  const out: string[] = [];
  for (const m of template.matchAll(/\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) if (m[1] !== undefined) out.push(m[1]);
  return out;
}

function checkTemplate(format: DatasetFormat, template: PromptTemplate): void {
  const allowed = TEMPLATE_FIELDS[format];
  for (const [key, t] of [
    ['prompt', template.prompt],
    ['answer', template.answer],
    ['promptNoInput', template.promptNoInput],
  ] as const) {
    if (t === undefined) continue;
    for (const p of placeholders(t)) {
      if (!allowed.includes(p)) {
        throw new NlsError(`unknown placeholder {${p}} for the ${format} format. Fix: use one of ${allowed.map((f) => `{${f}}`).join(', ')}`, {
          field: `template.${key}`,
        });
      }
    }
  }
}

/** The `A. first\nB. second` block of a multiple-choice prompt. */
export function formatChoices(choices: readonly string[]): string {
  return choices.map((c, i) => `${CHOICE_LETTERS[i] ?? '?'}. ${c}`).join('\n');
}

/** Options of {@link toPromptExample} / {@link toPromptExamples}. */
export interface PromptOptions {
  /** Custom template (fields per {@link TEMPLATE_FIELDS}); missing parts fall back to the defaults. */
  template?: Partial<PromptTemplate>;
  /** Classification: the label set for candidates (default: the dataset's labels). */
  labels?: readonly string[];
}

function resolveTemplate(format: DatasetFormat, custom: Partial<PromptTemplate> | undefined): PromptTemplate {
  const def = DEFAULT_TEMPLATES[format];
  if (custom === undefined) return def;
  const t: PromptTemplate = {
    prompt: custom.prompt ?? def.prompt,
    answer: custom.answer ?? def.answer,
    // A custom prompt without its own no-input variant is used for every row.
    ...(custom.promptNoInput !== undefined
      ? { promptNoInput: custom.promptNoInput }
      : custom.prompt === undefined && def.promptNoInput !== undefined
        ? { promptNoInput: def.promptNoInput }
        : {}),
  };
  checkTemplate(format, t);
  return t;
}

function instructionExample(row: InstructionRow, t: PromptTemplate): PromptExample {
  const input = row.input ?? '';
  const fields = { instruction: row.instruction, input, output: row.output };
  const prompt = input === '' && t.promptNoInput !== undefined ? t.promptNoInput : t.prompt;
  return { prompt: renderTemplate(prompt, fields), answer: renderTemplate(t.answer, fields) };
}

function multipleChoiceExample(row: MultipleChoiceRow, t: PromptTemplate): PromptExample {
  const base = { question: row.question, choices: formatChoices(row.choices) };
  const candidateFields = (i: number) => ({ ...base, letter: CHOICE_LETTERS[i] ?? '?', answer_text: row.choices[i] ?? '', answer_index: String(i) });
  const candidates = row.choices.map((_, i) => renderTemplate(t.answer, candidateFields(i)));
  return {
    prompt: renderTemplate(t.prompt, candidateFields(row.answer)),
    answer: candidates[row.answer] ?? '',
    candidates,
    correct: row.answer,
  };
}

function classificationExample(row: ClassificationRow, t: PromptTemplate, labels: readonly string[]): PromptExample {
  const correct = labels.indexOf(row.label);
  if (correct < 0) {
    throw new NlsError(`label ${JSON.stringify(row.label)} is not in the label set [${labels.join(', ')}]. Fix: add it to the labels option`, { field: 'labels' });
  }
  const candidates = labels.map((label) => renderTemplate(t.answer, { text: row.text, label }));
  return { prompt: renderTemplate(t.prompt, { text: row.text, label: row.label }), answer: candidates[correct] ?? '', candidates, correct };
}

function textExample(row: TextRow, t: PromptTemplate): PromptExample {
  return { prompt: renderTemplate(t.prompt, { text: row.text }), answer: renderTemplate(t.answer, { text: row.text }) };
}

/** Render every row of `dataset` (see {@link DEFAULT_TEMPLATES}). */
export function toPromptExamples(dataset: Dataset, options: PromptOptions = {}): PromptExample[] {
  const t = resolveTemplate(dataset.format, options.template);
  switch (dataset.format) {
    case 'instruction':
      return dataset.rows.map((r) => instructionExample(r, t));
    case 'multiple-choice':
      return dataset.rows.map((r) => multipleChoiceExample(r, t));
    case 'classification': {
      const labels = options.labels ?? dataset.labels;
      return dataset.rows.map((r) => classificationExample(r, t, labels));
    }
    case 'text':
      return dataset.rows.map((r) => textExample(r, t));
  }
}

/** Render one row of a given format. Classification needs `options.labels` for its candidates. */
export function toPromptExample<F extends DatasetFormat>(
  format: F,
  row: F extends 'instruction' ? InstructionRow : F extends 'multiple-choice' ? MultipleChoiceRow : F extends 'classification' ? ClassificationRow : TextRow,
  options: PromptOptions = {},
): PromptExample {
  const t = resolveTemplate(format, options.template);
  switch (format) {
    case 'instruction':
      return instructionExample(row as InstructionRow, t);
    case 'multiple-choice':
      return multipleChoiceExample(row as MultipleChoiceRow, t);
    case 'classification': {
      const r = row as ClassificationRow;
      return classificationExample(r, t, options.labels ?? [r.label]);
    }
    default:
      return textExample(row as TextRow, t);
  }
}
