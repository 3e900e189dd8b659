import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteTokenizer, type Tokenizer } from '../../src/model/tokenizer.js';
import {
  datasetFromRows,
  encodeExample,
  encodeTextStream,
  makeBatch,
  packTextStream,
  parseJsonl,
  renderTemplate,
  selectRows,
  toPromptExample,
  toPromptExamples,
  type EncodedExample,
  type PromptExample,
} from '../../src/data/index.js';

const tok = new ByteTokenizer();

/** The tokens whose mask is 1, decoded. */
function maskedText(enc: EncodedExample, t: Tokenizer = tok): string {
  return t.decode(enc.ids.filter((_, i) => enc.lossMask[i] === 1));
}

describe('prompt templates', () => {
  it('instruction: Alpaca layout, with and without input', () => {
    const ds = datasetFromRows('instruction', [
      { instruction: 'Add the numbers.', input: '2 and 3', output: '5' },
      { instruction: 'Greet.', output: 'Hello!' },
    ]);
    const [a, b] = toPromptExamples(ds);
    expect(a).toEqual({ prompt: '### Instruction:\nAdd the numbers.\n\n### Input:\n2 and 3\n\n### Response:\n', answer: '5' });
    expect(b).toEqual({ prompt: '### Instruction:\nGreet.\n\n### Response:\n', answer: 'Hello!' });
  });

  it('multiple choice: lettered options, letter answers and candidates', () => {
    const ds = parseJsonl(JSON.stringify({ question: 'Sky colour?', choices: ['green', 'blue', 'red'], answer: 'blue' }), 'mc');
    const [ex] = toPromptExamples(ds);
    expect(ex).toEqual({
      prompt: 'Question: Sky colour?\nA. green\nB. blue\nC. red\nAnswer:',
      answer: ' B',
      candidates: [' A', ' B', ' C'],
      correct: 1,
    });
  });

  it('classification: candidates are every label of the dataset', () => {
    const ds = datasetFromRows('classification', [
      { text: 'buy now', label: 'spam' },
      { text: 'see you', label: 'ham' },
    ]);
    const ex = toPromptExamples(ds);
    expect(ex[0]).toEqual({ prompt: 'buy now\nLabel:', answer: ' spam', candidates: [' ham', ' spam'], correct: 1 });
    expect(ex[1]?.correct).toBe(0);
  });

  it('plain text: empty prompt, the whole text is the answer', () => {
    expect(toPromptExamples(datasetFromRows('text', [{ text: 'Once upon a time.' }]))).toEqual([{ prompt: '', answer: 'Once upon a time.' }]);
  });

  it('custom templates: fields, per-candidate answers, brace escapes, unknown placeholders', () => {
    const ds = datasetFromRows('multiple-choice', [{ question: 'q?', choices: ['yes', 'no'], answer: 1 }]);
    const [ex] = toPromptExamples(ds, { template: { prompt: '{{Q}} {question}\n{choices}\n=>', answer: ' {answer_text}' } });
    expect(ex).toEqual({ prompt: '{Q} q?\nA. yes\nB. no\n=>', answer: ' no', candidates: [' yes', ' no'], correct: 1 });
    expect(() => toPromptExamples(ds, { template: { answer: ' {label}' } })).toThrow(/unknown placeholder \{label\}/);
    const inst = datasetFromRows('instruction', [{ instruction: 'I', output: 'O' }]);
    expect(toPromptExamples(inst, { template: { prompt: 'Q: {instruction} [{input}]\nA:', answer: ' {output}' } })).toEqual([{ prompt: 'Q: I []\nA:', answer: ' O' }]);
    expect(renderTemplate('{a}{{b}}', { a: '1' })).toBe('1{b}');
    expect(toPromptExample('classification', { text: 't', label: 'x' }, { labels: ['x', 'y'] }).candidates).toEqual([' x', ' y']);
  });
});

describe('encodeExample', () => {
  const ex: PromptExample = { prompt: 'Question: 2+2?\nAnswer:', answer: ' four' };

  it('masks exactly the answer and the EOS', () => {
    const enc = encodeExample(ex, tok, { maxLength: 256 });
    expect(enc.ids[0]).toBe(tok.bosId);
    expect(enc.ids[enc.ids.length - 1]).toBe(tok.eosId);
    expect(tok.decode(enc.ids)).toBe(ex.prompt + ex.answer);
    expect(maskedText(enc)).toBe(ex.answer);
    const masked = enc.ids.filter((_, i) => enc.lossMask[i] === 1);
    expect(masked).toEqual([...tok.encode(ex.answer), tok.eosId]);
    expect(enc.truncated).toBe(false);
  });

  it('for every format, the masked tokens decode to the answer (EOS is masked too)', () => {
    const datasets = [
      datasetFromRows('instruction', [{ instruction: 'Translate to French.', input: 'cat', output: 'chat' }]),
      datasetFromRows('multiple-choice', [{ question: 'Which is a fruit?', choices: ['rock', 'pear'], answer: 1 }]),
      datasetFromRows('classification', [{ text: 'WIN A PRIZE now', label: 'spam' }, { text: 'lunch?', label: 'ham' }]),
      datasetFromRows('text', [{ text: 'Plain text: all of it is learned. ✓' }]),
    ];
    for (const ds of datasets) {
      for (const ex of toPromptExamples(ds)) {
        const enc = encodeExample(ex, tok, { maxLength: 512 });
        expect(maskedText(enc)).toBe(ex.answer);
        expect(enc.lossMask[enc.lossMask.length - 1]).toBe(1);
        expect(enc.ids[enc.ids.length - 1]).toBe(tok.eosId);
        expect(enc.lossMask.filter((m) => m === 1)).toHaveLength(tok.encode(ex.answer).length + 1);
      }
    }
  });

  it('addBos/addEos false', () => {
    const enc = encodeExample(ex, tok, { maxLength: 256, addBos: false, addEos: false });
    expect(enc.ids).toEqual(tok.encode(ex.prompt + ex.answer));
    expect(maskedText(enc)).toBe(ex.answer);
    expect(enc.lossMask.filter((m) => m === 1)).toHaveLength(tok.encode(ex.answer).length);
  });

  it('property: mask covers exactly answer (+EOS) for any text, any maxLength; truncation keeps the answer', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), fc.integer({ min: 2, max: 120 }), fc.boolean(), (prompt, answer, maxLength, addBos) => {
        const enc = encodeExample({ prompt, answer }, tok, { maxLength, addBos });
        const p = tok.encode(prompt);
        const a = tok.encode(answer);
        const bos = addBos ? 1 : 0;
        expect(enc.ids.length).toBe(enc.lossMask.length);
        expect(enc.ids.length).toBeLessThanOrEqual(maxLength);
        if (addBos) expect(enc.ids[0]).toBe(tok.bosId);
        const maskedIds = enc.ids.filter((_, i) => enc.lossMask[i] === 1);
        if (bos + a.length + 1 <= maxLength) {
          // The whole answer and EOS are kept; prompt tokens were dropped from the left.
          expect(maskedIds).toEqual([...a, tok.eosId]);
          const keptPrompt = enc.ids.slice(bos, enc.ids.length - a.length - 1);
          expect(keptPrompt).toEqual(p.slice(p.length - keptPrompt.length));
          expect(keptPrompt.length).toBe(Math.min(p.length, maxLength - bos - a.length - 1));
          expect(enc.truncated).toBe(bos + p.length + a.length + 1 > maxLength);
        } else {
          // The answer alone is too long: no prompt, answer cut at its end, no EOS.
          expect(enc.ids.slice(bos)).toEqual(a.slice(0, maxLength - bos));
          expect(maskedIds).toEqual(a.slice(0, maxLength - bos));
          expect(enc.truncated).toBe(true);
        }
        // The masked tokens are always a contiguous suffix.
        const first = enc.lossMask.indexOf(1);
        if (first >= 0) expect(enc.lossMask.slice(first).every((m) => m === 1)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('a long prompt is cut from the left and the answer survives', () => {
    const enc = encodeExample({ prompt: 'abcdefghij', answer: 'XYZ' }, tok, { maxLength: 8 });
    expect(tok.decode(enc.ids)).toBe('hijXYZ');
    expect(maskedText(enc)).toBe('XYZ');
    expect(enc.truncated).toBe(true);
  });

  it('rejects a maxLength below 2', () => {
    expect(() => encodeExample(ex, tok, { maxLength: 1 })).toThrow(/maxLength/);
  });
});

describe('makeBatch', () => {
  /** Naive reference: position t predicts token t+1. */
  function naive(examples: EncodedExample[], seqLen: number, padId: number) {
    const inputIds: number[] = [];
    const targets: number[] = [];
    const weights: number[] = [];
    for (const ex of examples) {
      for (let t = 0; t < seqLen; t++) {
        inputIds.push(t < ex.ids.length ? (ex.ids[t] as number) : padId);
        targets.push(t + 1 < ex.ids.length ? (ex.ids[t + 1] as number) : padId);
        weights.push(t + 1 < ex.ids.length ? (ex.lossMask[t + 1] as number) : 0);
      }
    }
    return { inputIds, targets, weights };
  }

  it('matches the naive loop for random examples', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ prompt: fc.string({ maxLength: 12 }), answer: fc.string({ minLength: 1, maxLength: 8 }) }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 4, max: 24 }),
        (pairs, seqLen) => {
          const examples = pairs.map((p) => encodeExample(p, tok, { maxLength: seqLen + 1 }));
          const batch = makeBatch(examples, { seqLen, padId: tok.padId });
          const ref = naive(examples, seqLen, tok.padId);
          expect(batch.batchSize).toBe(examples.length);
          expect(batch.seqLen).toBe(seqLen);
          expect(Array.from(batch.inputIds)).toEqual(ref.inputIds);
          expect(Array.from(batch.targets)).toEqual(ref.targets);
          expect(Array.from(batch.weights)).toEqual(ref.weights);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('weighted targets are exactly the answer and EOS', () => {
    const enc = encodeExample({ prompt: 'Q:', answer: ' yes' }, tok, { maxLength: 16 });
    const batch = makeBatch([enc], { seqLen: 15, padId: tok.padId });
    const weighted = Array.from(batch.targets).filter((_, t) => batch.weights[t] === 1);
    expect(weighted).toEqual([...tok.encode(' yes'), tok.eosId]);
  });

  it('refuses examples longer than seqLen + 1 and empty lists', () => {
    const enc = encodeExample({ prompt: 'abc', answer: 'def' }, tok, { maxLength: 100 });
    expect(() => makeBatch([enc], { seqLen: enc.ids.length - 2, padId: 0 })).toThrow(/maxLength <= /);
    expect(makeBatch([enc], { seqLen: enc.ids.length - 1, padId: 0 }).batchSize).toBe(1);
    expect(() => makeBatch([], { seqLen: 4, padId: 0 })).toThrow(/no examples/);
  });
});

describe('packTextStream', () => {
  it('reconstructs the stream; every token but the first is a target once', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 200 }), fc.integer({ min: 1, max: 32 }), fc.boolean(), (ids, seqLen, keepTail) => {
        const batch = packTextStream(ids, seqLen, keepTail ? { padId: 256 } : {});
        const inputs: number[] = [];
        const targets: number[] = [];
        for (let i = 0; i < batch.batchSize * seqLen; i++) {
          if (batch.weights[i] === 1) {
            inputs.push(batch.inputIds[i] as number);
            targets.push(batch.targets[i] as number);
          } else {
            expect(batch.inputIds[i]).toBe(256);
            expect(batch.targets[i]).toBe(256);
          }
        }
        const covered = ids.length < 2 ? 0 : keepTail ? ids.length - 1 : Math.floor((ids.length - 1) / seqLen) * seqLen;
        expect(inputs).toEqual(ids.slice(0, covered));
        expect(targets).toEqual(ids.slice(1, covered + 1));
        // Rows chain: inputs of all rows + the last target = the stream.
        if (covered > 0) expect([...inputs, targets[targets.length - 1]]).toEqual(ids.slice(0, covered + 1));
        // Full rows have all weights 1.
        const fullRows = Math.floor(Math.max(ids.length - 1, 0) / seqLen);
        expect(Array.from(batch.weights.subarray(0, fullRows * seqLen)).every((w) => w === 1)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('selectRows picks rows; encodeTextStream separates documents', () => {
    const stream = encodeTextStream(['ab', 'c'], tok);
    expect(stream).toEqual([257, 97, 98, 258, 257, 99, 258]);
    const b = packTextStream(stream, 3);
    expect(b.batchSize).toBe(2);
    const r = selectRows(b, [1]);
    expect(Array.from(r.inputIds)).toEqual([258, 257, 99]);
    expect(Array.from(r.targets)).toEqual([257, 99, 258]);
  });
});
