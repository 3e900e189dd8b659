/**
 * Plugin strategies through the CLI (issue 18, item 12): journaled with their module and
 * SHA-256; one of several exported strategies chosen with SPEC#NAME; resumed from the journal.
 */
import { createHash } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nls } from '../helpers/cli.js';
import { journalRecords, type ToySupernet, toySupernet } from '../helpers/toy-supernet.js';

let root = '';
let toy: ToySupernet;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-plugin-strategies-'));
  toy = await toySupernet(root);
  // A plugin module exporting two strategies.
  await fsp.writeFile(
    path.join(root, 'two.js'),
    `const strategy = (name) => ({
  name, version: '1.0.0', description: name, options: [],
  create() {
    return { ask(n, ctx) { return Array.from({ length: n }, () => ctx.space.sample(ctx.rng)); }, tell() {} };
  },
});
export default [strategy('acme-first'), strategy('acme-second')];
`,
  );
}, 120_000);

afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const search = (out: string, ...args: string[]) => nls('search', '--supernet', toy.supernet, '--engine', 'tfjs', '--out', out, ...args);

describe('plugin strategies through the CLI', () => {
  it('12: a plugin strategy is journaled with its module and SHA-256; SPEC#NAME picks one of several, and resume reloads it', async () => {
    const module = path.join(root, 'two.js');
    const sha256 = createHash('sha256').update(readFileSync(module)).digest('hex');
    const ambiguous = await search(path.join(root, 'plugin-ambiguous'), '--strategy', module, '--budget', '1');
    expect(ambiguous.code, ambiguous.stderr).toBe(1);
    expect(ambiguous.stderr).toMatch(/two\.js: strategy: exports 2 strategies \(acme-first, acme-second\); fix: choose one: --strategy .*two\.js#acme-first, --strategy .*two\.js#acme-second/);

    const out = path.join(root, 'plugin');
    const r = await search(out, '--strategy', `${module}#acme-second`, '--budget', '2');
    expect(r.code, r.stderr).toBe(0);
    const header = (await journalRecords(out))[0]!;
    expect(header.strategy).toMatchObject({ name: 'acme-second', source: { kind: 'plugin', module, sha256, spec: module } });
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { inputs: { name: string; path: string; sha256: string }[] };
    expect(manifest.inputs.find((i) => i.name === 'strategy')).toMatchObject({ path: module, sha256 });

    const unknown = await search(path.join(root, 'plugin-unknown'), '--strategy', `${module}#acme-third`, '--budget', '1');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/exports no strategy named "acme-third" \(its strategies: acme-first, acme-second\)/);

    // Resumed without --strategy: the plugin is loaded from the module the journal records.
    const resumed = await search(out, '--resume', '--budget', '3');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((await journalRecords(out)).filter((x) => x.type === 'trial')).toHaveLength(3);
    const after = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { options: { strategy: string } };
    expect(after.options.strategy).toBe(`${module}#acme-second`);
  });
});
