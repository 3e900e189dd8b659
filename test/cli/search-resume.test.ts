/**
 * `nls search --resume` and `nls train --resume` through the CLI (issue 18, items 4 and 7): a
 * resume takes the study's settings from its journal and refuses flags that contradict them;
 * with nothing to resume yet, the run starts and says so.
 */
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nls } from '../helpers/cli.js';
import { journalRecords, type ToySupernet, toySupernet } from '../helpers/toy-supernet.js';

let root = '';
let toy: ToySupernet;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-search-resume-'));
  toy = await toySupernet(root);
}, 120_000);

afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const search = (out: string, ...args: string[]) => nls('search', '--supernet', toy.supernet, '--engine', 'tfjs', '--out', out, ...args);
const train = (out: string, ...args: string[]) =>
  nls('train', '--model', toy.model, '--data', toy.data, '--space', toy.space, '--engine', 'tfjs', '--steps', '1', '--batch', '4', '--max-length', '32', '--out', out, ...args);

describe('resuming through the CLI', () => {
  it('4: a resume takes strategy, seed and constraints from the journal, and refuses flags that contradict it, naming each', async () => {
    const out = path.join(root, 'resumed');
    const first = await search(out, '--strategy', 'random', '--seed', '3', '--constraint', 'params<=1800', '--budget', '2');
    expect(first.code, first.stderr).toBe(0);
    // Without --strategy, --seed or --constraint: the journal's, not the flags' defaults (nsga2, 0, none).
    const resumed = await search(out, '--resume', '--budget', '4');
    expect(resumed.code, resumed.stderr).toBe(0);
    const records = await journalRecords(out);
    expect(records[0]).toMatchObject({ strategy: { name: 'random' }, seed: 3 });
    const trials = records.filter((r) => r.type === 'trial');
    expect(trials).toHaveLength(4);
    for (const t of trials) {
      expect(t.state, t.message).toBe('complete');
      expect(t.constraints).toHaveLength(1);
    }
    // The manifest records what ran (so nls reproduce replays it).
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { options: Record<string, unknown> };
    expect(manifest.options).toMatchObject({ strategy: 'random', seed: 3, constraint: ['params<=1800'], budget: 4, resume: true });

    const refused = await search(out, '--resume', '--strategy', 'nsga2', '--seed', '5', '--constraint', 'params<=1000', '--budget', '6');
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toMatch(/cannot resume: options differ from the study journaled here/);
    expect(refused.stderr).toMatch(/- --strategy: the study has "random", given "nsga2"/);
    expect(refused.stderr).toMatch(/- --seed: the study has 3, given 5/);
    expect(refused.stderr).toMatch(/- --constraint: the study has params<=1800, given params<=1000/);
    expect(refused.stderr).toMatch(/fix: leave them out/);
    // Flags that agree with the journal are fine.
    const agreeing = await search(out, '--resume', '--strategy', 'random', '--seed', '3', '--budget', '5');
    expect(agreeing.code, agreeing.stderr).toBe(0);
    expect((await journalRecords(out)).filter((r) => r.type === 'trial')).toHaveLength(5);
  });

  it('7: --resume with nothing to resume yet starts the run and says so (search and train)', async () => {
    const out = path.join(root, 'fresh-search');
    const s = await search(out, '--resume', '--strategy', 'random', '--budget', '2');
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/nothing to resume in .*fresh-search: no study is journaled there yet \(no trials\.jsonl\); starting the study/);
    expect((await journalRecords(out)).filter((r) => r.type === 'trial')).toHaveLength(2);
    // A journal killed before its first line was complete counts as none.
    const torn = path.join(root, 'torn-search');
    await fsp.mkdir(torn, { recursive: true });
    await fsp.writeFile(path.join(torn, 'trials.jsonl'), '{"type":"study","form');
    const t = await search(torn, '--resume', '--strategy', 'random', '--budget', '1');
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toMatch(/trials\.jsonl holds no complete record\); starting the study/);

    const trained = path.join(root, 'fresh-train');
    const tr = await train(trained, '--resume');
    expect(tr.code, tr.stderr).toBe(0);
    expect(tr.stderr).toMatch(/nothing to resume in .*fresh-train\/checkpoints: no checkpoint was written yet; starting the run from step 0/);
    expect(existsSync(path.join(trained, 'supernet.json'))).toBe(true);
  });
});
