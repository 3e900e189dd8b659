import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import yargs from 'yargs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withGlobalOptions } from '../../src/cli/common.js';
import { searchCommand } from '../../src/cli/commands/search.js';
import { hashTree, treeDigest } from '../../src/run/hash.js';
import { findInput, type InputOption } from '../../src/run/inputs.js';
import { readRunManifest, RUN_MANIFEST_FILE } from '../../src/run/manifest.js';
import { recordableOptions, recordRun } from '../../src/run/record.js';
import { NOT_REPLAYED, replayArgv } from '../../src/run/reproduce.js';

let root: string;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-manifest-'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** A run folder with one output, and two inputs next to it: a file and a folder. */
async function fixture(name: string) {
  const base = path.join(root, name);
  const run = path.join(base, 'run');
  await fsp.mkdir(path.join(base, 'model'), { recursive: true });
  await fsp.mkdir(path.join(run, 'sub'), { recursive: true });
  await fsp.writeFile(path.join(base, 'model', 'a.bin'), 'weights');
  await fsp.writeFile(path.join(base, 'model', 'config.json'), '{}');
  await fsp.writeFile(path.join(base, 'space.json'), '{"name":"s"}');
  await fsp.writeFile(path.join(run, 'sub', 'out.txt'), 'result');
  await fsp.writeFile(path.join(run, 'report.md'), 'not an output');
  await fsp.mkdir(path.join(run, 'report'), { recursive: true });
  await fsp.writeFile(path.join(run, 'report', 'pareto.svg'), '<svg/>');
  const inputs: InputOption[] = [
    { option: 'model', kind: 'model' },
    { option: 'space', kind: 'space' },
    { option: 'calib', kind: 'text' },
  ];
  const manifest = await recordRun({
    command: 'train',
    argv: ['train', '--model', 'model', '--space', 'space.json', '--out', 'run'],
    options: { model: 'model', space: 'space.json', out: 'run', steps: 3, seed: 7, 'train-size': 5, trainSize: 5, _: ['train'], $0: 'nls', absent: undefined },
    inputs,
    runDir: 'run',
    cwd: base,
    started: new Date('2026-01-01T00:00:00Z'),
    finished: new Date('2026-01-01T00:00:02Z'),
  });
  return { base, run, manifest };
}

describe('run manifest', () => {
  it('records options by long name, inputs with their digests and where to find them, outputs, seeds and timings', async () => {
    const { base, run, manifest } = await fixture('record');
    expect(manifest.options).toEqual({ model: 'model', out: 'run', seed: 7, space: 'space.json', steps: 3, 'train-size': 5 });
    expect(manifest.seeds).toEqual({ seed: 7 });
    expect(manifest.timings.seconds).toBe(2);
    const [model, space] = manifest.inputs;
    expect(manifest.inputs).toHaveLength(2); // --calib was not given and has no default
    expect(model).toMatchObject({ name: 'model', kind: 'dir', relative: '../model', fileCount: 2, bytes: 9 });
    // A folder's digest is the digest of its sorted file list; each file's digest is its bytes'.
    expect(model!.files).toEqual([
      { path: 'a.bin', bytes: 7, sha256: sha(path.join(base, 'model', 'a.bin')) },
      { path: 'config.json', bytes: 2, sha256: sha(path.join(base, 'model', 'config.json')) },
    ]);
    expect(model!.sha256).toBe(treeDigest(model!.files!));
    expect(space).toMatchObject({ name: 'space', kind: 'file', relative: '../space.json', sha256: sha(path.join(base, 'space.json')) });
    expect(manifest.outputs).toEqual([{ path: 'sub/out.txt', bytes: 6, sha256: sha(path.join(run, 'sub', 'out.txt')) }]);
    expect(manifest.environment.node).toBe(process.versions.node);
    expect(await readRunManifest(run)).toEqual(JSON.parse(readFileSync(path.join(run, RUN_MANIFEST_FILE), 'utf8')));
  });

  it('property: a folder digest does not depend on listing order and changes with any byte', async () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.record({ path: fc.string({ minLength: 1, maxLength: 5 }), bytes: fc.nat(), sha256: fc.nat().map((n) => n.toString(16)) }), { selector: (f) => f.path, minLength: 1, maxLength: 6 }), fc.nat(), (files, k) => {
        expect(treeDigest([...files].reverse())).toBe(treeDigest(files));
        const i = k % files.length;
        const changed = files.map((f, j) => (j === i ? { ...f, sha256: `${f.sha256}0` } : f));
        expect(treeDigest(changed)).not.toBe(treeDigest(files));
      }),
    );
    const dir = path.join(root, 'tree');
    await fsp.mkdir(path.join(dir, 'x'), { recursive: true });
    await fsp.writeFile(path.join(dir, 'x', 'b'), 'b');
    await fsp.writeFile(path.join(dir, '.b.123.tmp'), 'half-written');
    expect((await hashTree(dir)).map((f) => f.path)).toEqual(['x/b']);
  });

  it('reading refuses a missing or malformed manifest, naming the file and field', async () => {
    const dir = path.join(root, 'bad');
    await fsp.mkdir(dir, { recursive: true });
    await expect(readRunManifest(dir)).rejects.toThrow(/manifest\.json: no manifest\.json here; fix/);
    await fsp.writeFile(path.join(dir, RUN_MANIFEST_FILE), '{"format":"nls-run/0"}');
    await expect(readRunManifest(dir)).rejects.toThrow(/manifest\.json: format: unsupported format/);
    await fsp.writeFile(path.join(dir, RUN_MANIFEST_FILE), '{"format":"nls-run/1","command":"search","argv":[],"options":{},"inputs":[],"environment":{},"seeds":{"seed":0}}');
    await expect(readRunManifest(dir)).rejects.toThrow(/manifest\.json: outputs: missing or malformed/);
  });
});

describe('finding inputs again', () => {
  it('finds an input next to the run folder (the tree moved as a whole), or where --input says', async () => {
    const { base, run, manifest } = await fixture('find');
    const moved = path.join(root, 'find-moved');
    await fsp.cp(base, moved, { recursive: true });
    const found = await findInput(manifest.inputs[0]!, path.join(moved, 'run'));
    expect(found).toMatchObject({ via: 'relative', path: path.join(moved, 'model') });
    await fsp.rm(path.join(moved, 'model'), { recursive: true });
    expect((await findInput(manifest.inputs[0]!, path.join(moved, 'run'))).via).toBe('recorded');
    expect((await findInput(manifest.inputs[0]!, run, { model: path.join(base, 'model') })).via).toBe('override');
    await expect(findInput(manifest.inputs[0]!, run, { model: path.join(root, 'nowhere') })).rejects.toThrow(/input model \(model\) is not at .*nowhere; fix: put it back, or pass --input model=PATH/);
  });

  it('refuses an input whose bytes changed, naming the file', async () => {
    const { base, run, manifest } = await fixture('changed');
    await fsp.writeFile(path.join(base, 'model', 'a.bin'), 'weightz');
    await expect(findInput(manifest.inputs[0]!, run)).rejects.toThrow(/input model differs from the one the run used: a\.bin has SHA-256 .*fix: restore the original bytes/);
    await fsp.writeFile(path.join(base, 'model', 'a.bin'), 'weights');
    await fsp.writeFile(path.join(base, 'model', 'extra.bin'), '');
    await expect(findInput(manifest.inputs[0]!, run)).rejects.toThrow(/extra\.bin was added/);
    await fsp.writeFile(path.join(base, 'space.json'), '{"name":"t"}');
    await expect(findInput(manifest.inputs[1]!, run)).rejects.toThrow(/space\.json: input space differs/);
  });
});

describe('replaying a command line', () => {
  /** Parse `argv` with the real `nls search` options and return the options as a manifest records them. */
  async function parseSearch(argv: readonly string[]): Promise<Record<string, unknown>> {
    let parsed: Record<string, unknown> = {};
    await withGlobalOptions(yargs([...argv]))
      .command({ ...searchCommand, handler: (a) => void (parsed = a as Record<string, unknown>) })
      .strict()
      .parseAsync();
    return parsed;
  }

  const STRATEGY_OPTIONS: Readonly<Record<string, readonly string[]>> = {
    nsga2: ['populationSize=12', 'crossoverProb=0.25', 'mutation=adjacent'],
    random: ['maxAttempts=50', 'enumerationLimit=1000'],
    'hill-climbing': ['restarts=2', 'weights=1, 0.5', 'bound=3.5'],
  };

  it('property: replaying the recorded options parses back to the same options (inputs and --out replaced)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          budget: fc.integer({ min: 1, max: 500 }),
          seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          // nls search checks the options of a built-in strategy while parsing: each gets options it has
          // (an integer, a fraction, a string with a space).
          strategy: fc
            .constantFrom('nsga2', 'random', 'hill-climbing')
            .chain((name) => fc.array(fc.constantFrom(...STRATEGY_OPTIONS[name]!), { maxLength: 2 }).map((options) => ({ name, options }))),
          constraint: fc.array(fc.constantFrom('params<=100', 'latency<=3.5', 'accuracy>=0.7'), { maxLength: 3 }),
          workers: fc.integer({ min: 1, max: 4 }),
          resume: fc.boolean(),
          quiet: fc.boolean(),
          validationSize: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
        }),
        async (o) => {
          const typed = [
            'search', '--supernet', 'sn', '--out', 'o1', '--budget', String(o.budget), '--seed', String(o.seed), '--strategy', o.strategy.name, '--workers', String(o.workers),
            ...o.constraint.flatMap((c) => ['--constraint', c]),
            ...o.strategy.options.flatMap((c) => ['--strategy-option', c]),
            ...(o.resume ? ['--resume'] : []),
            ...(o.quiet ? ['--quiet'] : []),
            ...(o.validationSize !== undefined ? ['--validation-size', String(o.validationSize)] : []),
          ];
          const recordedOptions = recordableOptions(await parseSearch(typed));
          const manifest = { command: 'search', options: recordedOptions } as Parameters<typeof replayArgv>[0];
          const found = [{ input: { name: 'supernet' }, path: '/elsewhere/sn', via: 'override' }] as unknown as Parameters<typeof replayArgv>[1];
          const replayed = recordableOptions(await parseSearch(replayArgv(manifest, found, '/new/out')));
          const strip = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).filter(([k]) => !NOT_REPLAYED.includes(k) && k !== 'supernet'));
          expect(strip(replayed)).toEqual(strip(recordedOptions));
          expect(replayed.supernet).toBe('/elsewhere/sn');
          expect(replayed.out).toBe('/new/out');
          expect(replayed.resume).toBe(false);
        },
      ),
      { numRuns: 40 },
    );
  });
});
