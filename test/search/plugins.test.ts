import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import { isPathSpec, loadStrategyPlugin, loadStrategySpec, pluginFactories, splitStrategySpec } from '../../src/search/plugins.js';
import { StrategyRegistry } from '../../src/search/registry.js';
import { Study } from '../../src/search/study.js';
import { functionEvaluator } from '../../src/search/evaluator.js';
import { objectivesOf, SPACE, tempDir } from './fixtures.js';

const dir = tempDir('nls-plugins-');
const EXAMPLE = fileURLToPath(new URL('../../examples/nls-strategy-example', import.meta.url));

/** A minimal valid plugin source with strategy `name`. */
function pluginSource(name: string, exportStyle: 'default' | 'named' | 'array' = 'default'): string {
  const factory = `{
  name: ${JSON.stringify(name)},
  version: '1.0.0',
  description: 'test plugin',
  options: [{ name: 'k', type: 'integer', default: 1, description: 'unused' }],
  create: () => ({ ask: (n, ctx) => Array.from({ length: n }, () => ctx.space.sample(ctx.rng)), tell: () => {} }),
}`;
  if (exportStyle === 'named') return `export const strategy = ${factory};\n`;
  if (exportStyle === 'array') return `export const strategies = [${factory}, { ...${factory}, name: ${JSON.stringify(`${name}-2`)} }];\n`;
  return `export default ${factory};\n`;
}

function write(rel: string, text: string): string {
  const file = path.join(dir, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

describe('isPathSpec', () => {
  it('tells paths from package names', () => {
    for (const p of ['./x.js', '../x.js', '/abs/x.js', 'file:///x.js', 'C:\\x.js', '.\\x.js']) expect(isPathSpec(p)).toBe(true);
    for (const p of ['nls-strategy-x', '@acme/strategies', '@acme/strategies/fast', 'plugins/x.js']) expect(isPathSpec(p)).toBe(false);
  });
});

describe('loadStrategyPlugin', () => {
  it('loads a default export by relative path, registers it and records path and SHA-256', async () => {
    const file = write('a/plugin-default.js', pluginSource('plugin-default'));
    const registry = new StrategyRegistry({ builtins: false });
    const loaded = await loadStrategyPlugin('./a/plugin-default.js', { cwd: dir, registry });
    expect(loaded.module).toBe(file);
    expect(loaded.sha256).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    expect(loaded.factories.map((f) => f.name)).toEqual(['plugin-default']);
    expect(registry.entry('plugin-default').source).toEqual({ kind: 'plugin', module: file, sha256: loaded.sha256, spec: './a/plugin-default.js' });
    // loading again is harmless
    await loadStrategyPlugin(file, { cwd: '/', registry });
  });

  it('loads named `strategy` and `strategies` exports', async () => {
    write('b/named.js', pluginSource('plugin-named', 'named'));
    write('b/array.js', pluginSource('plugin-array', 'array'));
    const registry = new StrategyRegistry({ builtins: false });
    expect((await loadStrategyPlugin('./b/named.js', { cwd: dir, registry })).factories.map((f) => f.name)).toEqual(['plugin-named']);
    expect((await loadStrategyPlugin('./b/array.js', { cwd: dir, registry })).factories.map((f) => f.name)).toEqual(['plugin-array', 'plugin-array-2']);
    expect(registry.list().map((f) => f.name)).toEqual(['plugin-array', 'plugin-array-2', 'plugin-named']);
  });

  it('explains what is wrong with a module, naming the file', async () => {
    const none = write('c/none.js', 'export const x = 1;\n');
    await expect(loadStrategyPlugin(none, { registry: false })).rejects.toThrow(/exports no strategy \(its exports: x\).*export default/);
    const noVersion = write('c/no-version.js', pluginSource('plugin-nov').replace("version: '1.0.0',", ''));
    const err = await loadStrategyPlugin(noVersion, { registry: false }).catch((e: unknown) => e as NlsError);
    expect(err).toBeInstanceOf(NlsError);
    expect((err as NlsError).message).toContain(`${noVersion}: export default is not a valid strategy factory: version is undefined`);
    const syntax = write('c/syntax.js', 'export default {;\n');
    await expect(loadStrategyPlugin(syntax, { registry: false })).rejects.toThrow(/cannot load strategy plugin/);
    await expect(loadStrategyPlugin('./c/missing.js', { cwd: dir, registry: false })).rejects.toThrow(/plugin file not found/);
    await expect(loadStrategyPlugin('nls-no-such-plugin-package', { cwd: dir, registry: false })).rejects.toThrow(/cannot find strategy plugin package "nls-no-such-plugin-package".*npm install/);
    write('c/plugins/x.js', pluginSource('plugin-x'));
    await expect(loadStrategyPlugin('plugins/x.js', { cwd: path.join(dir, 'c'), registry: false })).rejects.toThrow(/did you mean the file \.\/plugins\/x\.js/);
  });

  it('refuses two exported strategies with one name, and name clashes with registered ones', () => {
    const f = { name: 'dup', version: '1.0.0', description: '', options: [], create: () => ({ ask: () => [], tell: () => undefined }) };
    expect(() => pluginFactories({ strategies: [f, { ...f }] }, 'x.js')).toThrow(/two exported strategies are named "dup"/);
    expect(pluginFactories({ default: f, strategy: f }, 'x.js')).toEqual([f]);
    expect(pluginFactories({ default: { default: [f] } }, 'cjs.js')).toEqual([f]);
  });

  it('resolves an installed package by name through its exports', async () => {
    const project = path.join(dir, 'project');
    mkdirSync(path.join(project, 'node_modules', '@acme'), { recursive: true });
    symlinkSync(EXAMPLE, path.join(project, 'node_modules', 'nls-strategy-example'), 'dir');
    const scoped = path.join(project, 'node_modules', '@acme', 'strategies');
    mkdirSync(path.join(scoped, 'lib'), { recursive: true });
    writeFileSync(path.join(scoped, 'package.json'), JSON.stringify({ name: '@acme/strategies', type: 'module', exports: { '.': { import: './lib/main.js' }, './fast': './lib/fast.js' } }));
    writeFileSync(path.join(scoped, 'lib', 'main.js'), pluginSource('acme-main'));
    writeFileSync(path.join(scoped, 'lib', 'fast.js'), pluginSource('acme-fast'));
    const cwd = path.join(project, 'sub', 'dir');
    mkdirSync(cwd, { recursive: true });
    const registry = new StrategyRegistry({ builtins: false });
    const example = await loadStrategyPlugin('nls-strategy-example', { cwd, registry });
    expect(example.factories.map((f) => f.name)).toEqual(['example-local-search']);
    expect((await loadStrategyPlugin('@acme/strategies', { cwd, registry })).factories[0]!.name).toBe('acme-main');
    expect((await loadStrategyPlugin('@acme/strategies/fast', { cwd, registry })).factories[0]!.name).toBe('acme-fast');
    await expect(loadStrategyPlugin('@acme/strategies/slow', { cwd, registry })).rejects.toThrow(/does not export "\.\/slow"/);
  });

  it('a study records the plugin module and hash in its header', async () => {
    const file = write('d/recorded.js', pluginSource('plugin-recorded'));
    const registry = new StrategyRegistry({ builtins: false });
    const loaded = await loadStrategyPlugin(file, { registry });
    const journal = path.join(dir, 'd', 'trials.jsonl');
    const study = await Study.create({
      journal,
      space: SPACE,
      registry,
      strategy: 'plugin-recorded',
      objectives: [{ name: 'e', direction: 'minimize' }, { name: 's', direction: 'maximize' }],
      constraints: [{ name: 'c' }],
      seed: 1,
      budget: 3,
      fsync: false,
      evaluator: functionEvaluator((c) => objectivesOf(c)),
    });
    await study.run();
    expect(study.header.strategy).toEqual({ name: 'plugin-recorded', version: '1.0.0', options: { k: 1 }, source: { kind: 'plugin', module: file, sha256: loaded.sha256, spec: file } });
    // Resuming in a process that has not loaded the plugin loads it from the recorded module.
    const fresh = new StrategyRegistry({ builtins: false });
    const resumed = await Study.resume(journal, { space: SPACE, registry: fresh, budget: 5, fsync: false, evaluator: functionEvaluator((c) => objectivesOf(c)) });
    await resumed.run();
    expect(fresh.has('plugin-recorded')).toBe(true);
    expect(resumed.evaluations).toBe(5);
  });

  it('a factory object a plugin registered, passed to a study in code, is journaled as the plugin (not "api")', async () => {
    const file = write('e/by-object.js', pluginSource('plugin-by-object'));
    const registry = new StrategyRegistry({ builtins: false });
    const loaded = await loadStrategyPlugin(file, { registry });
    const study = await Study.create({
      journal: path.join(dir, 'e', 'trials.jsonl'),
      space: SPACE,
      registry,
      strategy: loaded.factories[0]!,
      objectives: [{ name: 'e', direction: 'minimize' }, { name: 's', direction: 'maximize' }],
      constraints: [{ name: 'c' }],
      seed: 1,
      budget: 1,
      fsync: false,
      evaluator: functionEvaluator((c) => objectivesOf(c)),
    });
    expect(study.header.strategy.source).toEqual({ kind: 'plugin', module: file, sha256: loaded.sha256, spec: file });
  });
});

describe('loadStrategySpec: one of several strategies', () => {
  it('splits SPEC#NAME, but keeps a path whose file name holds a #', () => {
    expect(splitStrategySpec('./plugin.js#fast')).toEqual({ module: './plugin.js', name: 'fast' });
    expect(splitStrategySpec('@acme/strategies#fast')).toEqual({ module: '@acme/strategies', name: 'fast' });
    expect(splitStrategySpec('./plugin.js')).toEqual({ module: './plugin.js' });
    expect(splitStrategySpec('./plugin.js#')).toEqual({ module: './plugin.js#' });
    write('f/odd#name.js', pluginSource('plugin-odd'));
    expect(splitStrategySpec('./f/odd#name.js', dir)).toEqual({ module: './f/odd#name.js' });
  });

  it('picks each exported strategy by its name, and refuses an ambiguous or unknown choice listing the names', async () => {
    const file = write('g/several.js', pluginSource('plugin-many', 'array'));
    const registry = new StrategyRegistry({ builtins: false });
    expect((await loadStrategySpec('./g/several.js#plugin-many-2', { cwd: dir, registry })).factory.name).toBe('plugin-many-2');
    expect((await loadStrategySpec(`${file}#plugin-many`, { registry })).factory.name).toBe('plugin-many');
    await expect(loadStrategySpec('./g/several.js', { cwd: dir, registry })).rejects.toThrow(
      /several\.js: strategy: exports 2 strategies \(plugin-many, plugin-many-2\); fix: choose one: --strategy \.\/g\/several\.js#plugin-many, --strategy \.\/g\/several\.js#plugin-many-2/,
    );
    await expect(loadStrategySpec('./g/several.js#nope', { cwd: dir, registry })).rejects.toThrow(/exports no strategy named "nope" \(its strategies: plugin-many, plugin-many-2\)/);
    // A module with one strategy needs no name.
    write('g/one.js', pluginSource('plugin-one'));
    expect((await loadStrategySpec('./g/one.js', { cwd: dir, registry })).factory.name).toBe('plugin-one');
  });
});
