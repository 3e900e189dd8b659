/** `nls demo`'s text output, printed section by section: tables that arrive in parts stay aligned. */
import { describe, expect, it } from 'vitest';
import { demoClosingText, demoTextPrinter } from '../../src/cli/demo-output.js';
import type { DemoResult, DemoSection } from '../../src/pipeline/demo.js';

const setup: DemoSection = {
  kind: 'setup',
  backend: { name: 'wasm' } as never,
  space: { name: 'demo', genes: 12, cardinality: '16777216' },
  keyWidth: 15,
  task: { name: 'spam', train: 2000, validation: 500, test: 500, majorityAccuracy: 0.5, references: [{ name: 'majority', description: 'm', validation: 0.5, test: 0.5 }, { name: 'naive Bayes', description: 'nb', validation: 0.95, test: 0.97 }] },
  steps: 150,
  rowDescriptions: ['50%-sparse base model, no adapters', 'LoRA, fixed rank r_max, 150 steps', 'NLS supernet (SparsePEFT): median (heuristic) subnet'],
  strategies: ['heuristic', 'random', 'nsga2', 'hill-climbing'],
};

const row = (description: string, name: string, key: string, adapterParameters: number, loss: number, accuracy: number) => ({ description, name, key, adapterParameters, loss, accuracy, test: accuracy - 0.01 });
const outcome = (label: string, accuracy: number, params: number, key: string) =>
  ({ label, strategy: label, evaluations: 12, newlyMeasured: 9, best: { key, ranks: [], values: [accuracy, params], metrics: { accuracy, params } }, front: [], pareto: {} as never, seconds: 3 }) as const;

describe('demoTextPrinter', () => {
  it('prints each section on its own, with the rows of one table aligned however far apart they come', () => {
    const print = demoTextPrinter({ ranks: { of: (key) => `ranks-of-${key}`, legend: 'qkv/up/down×4' } });
    const head = print(setup);
    expect(head).toBe(
      'Spam classification (SpamAssassin e-mails): 2000 training, 500 validation (search selects on it), 500 test examples (results reported on it)\nReference points needing no model (test): majority 50.0%, naive Bayes 97.0%\nSearch space demo: 16,777,216 subnets; backend wasm',
    );
    const baselines = print({ kind: 'rows', stage: 'baselines', rows: [row('50%-sparse base model, no adapters', 'base', '', 0, 2.5003, 0.5), row('LoRA, fixed rank r_max, 150 steps', 'lora', '000.000.000.000', 204800, 0.1155, 0.74)] }).split('\n');
    // A blank line, the header, the rule, then the rows.
    expect(baselines[0]).toBe('');
    expect(baselines[1]).toMatch(/^model +config key +adapter params +val loss +val acc +test acc +ranks \(qkv\/up\/down×4\)$/);
    expect(baselines[2]).toMatch(/^-+ +-+ +-+/);
    const supernet = print({ kind: 'rows', stage: 'supernet', rows: [row('NLS supernet (SparsePEFT): median (heuristic) subnet', 'median', '111.111.111.111', 153600, 0.1297, 0.75)] }).split('\n');
    // No second header: the supernet's rows continue the table.
    expect(supernet).toHaveLength(1);
    const lines = [...baselines.slice(1), ...supernet];
    // Every column starts at the header's position in every row.
    const header = lines[0] as string;
    for (const col of ['config key', 'ranks']) {
      const at = header.indexOf(col);
      for (const l of lines.slice(2)) expect(`${l[at - 1]}${l[at]}`, `${col} in ${l}`).toMatch(/^ \S$/);
    }
    const end = (l: string, col: string) => l.indexOf(col) + col.length;
    const accuracyEnd = end(header, 'test acc');
    for (const l of lines.slice(2)) expect(l.slice(0, accuracyEnd)).toMatch(/\d%$/);
    expect(supernet[0]).toContain('ranks-of-111.111.111.111');
  });

  it('each strategy is a row of one table as soon as it ends; the front and the merge follow', () => {
    const print = demoTextPrinter();
    print(setup);
    const first = print({ kind: 'strategy', outcome: outcome('heuristic', 0.53, 51200, '333.333.333.333'), paramsBound: 102400 }).split('\n');
    expect(first.slice(0, 3)).toEqual(['', "Search: accuracy vs adapter parameters, feasible when params <= 102,400; each strategy's most accurate feasible subnet:", '']);
    const header = first[3] as string;
    const second = print({ kind: 'strategy', outcome: outcome('hill-climbing', 0.65, 56320, '233.333.333.333'), paramsBound: 102400 });
    expect(second.split('\n')).toHaveLength(1);
    // The key column lines up under its header in both rows.
    const keyAt = header.indexOf('config key');
    expect(first[5]?.slice(keyAt)).toBe('333.333.333.333');
    expect(second.slice(keyAt)).toBe('233.333.333.333');
    expect(second).toMatch(/^hill-climbing +12 +9 +65\.0% +56,320 +233/);
    const front = print({
      kind: 'search',
      search: { measured: 33, seconds: 44.1, engine: { name: 'onnx' }, strategies: [], test: { '333.002.233.213': 0.69 }, front: [{ key: '333.002.233.213', ranks: [], values: [0.71, 99840], metrics: { accuracy: 0.71, params: 99840 }, foundBy: ['random'] }] } as never,
    });
    expect(front).toMatch(/^\n33 subnets measured in 44\.1s \(engine onnx\)\. Pareto front over all strategies \(feasible subnets; val acc is what the search selected on\):\nval acc +test acc +adapter params +config key +found by\n-+ .*\n71\.0% +69\.0%/);
    const merge = print({ kind: 'merge', merge: { key: '333.002.233.213', accuracy: 0.71, test: 0.7, params: 99840, nonZerosBefore: 983040, nonZerosAfter: 983040, newNonZeros: 0, maxLogitDiff: 0, mergedDir: '/r/merged' } });
    expect(merge).toMatch(/^\nMerged subnet 333\.002\.233\.213 \(val acc 71\.0%, 99,840 adapter params\) into the sparse base; the merged model's test acc 70\.0%: .* 0 pruned weights filled in/);
    expect(demoClosingText({ seconds: 70.2, out: '/r', merge: { mergedDir: '/r/merged' } } as DemoResult)).toBe(
      '\nmerged model: /r/merged (no PEFT adapter: PEFT cannot express the SparsePEFT masked delta; docs/formats.md)\nsupernet and search journals: /r\ndemo finished in 1m10s',
    );
  });
});
