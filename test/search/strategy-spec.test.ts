/** Strategy specs that name nothing: checked without loading anything, misspellings of built-ins told apart from packages to install. */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkStrategySpec, loadStrategyPlugin } from '../../src/search/plugins.js';

describe('checkStrategySpec', () => {
  it('accepts built-in names, existing plugin files (also FILE#NAME) and installed packages', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-spec-'));
    await fsp.writeFile(path.join(dir, 'p.mjs'), 'export default {};\n');
    try {
      for (const spec of ['nsga2', 'random', './p.mjs', './p.mjs#fast', path.join(dir, 'p.mjs')]) expect(() => checkStrategySpec(spec, { cwd: dir }), spec).not.toThrow();
      // An installed package (any package: only its presence is checked), seen from this checkout.
      expect(() => checkStrategySpec('yargs', { cwd: path.resolve(import.meta.dirname, '../..') })).not.toThrow();
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  it('a name close to a built-in strategy is a misspelling of it; another name a package to install; a missing file is named', () => {
    expect(() => checkStrategySpec('nsga3')).toThrow(/unknown search strategy "nsga3"; fix: did you mean "nsga2"\?/);
    expect(() => checkStrategySpec('hill-climb')).toThrow(/did you mean "hill-climbing"\?/);
    expect(() => checkStrategySpec('nls-strategy-acme')).toThrow(/cannot find strategy plugin package "nls-strategy-acme".*npm install nls-strategy-acme/);
    expect(() => checkStrategySpec('./nope.js')).toThrow(/strategy plugin file not found/);
  });

  it('loading such a name gives the same did-you-mean', async () => {
    await expect(loadStrategyPlugin('nsga3', { registry: false })).rejects.toThrow(/did you mean "nsga2"\?/);
  });
});
