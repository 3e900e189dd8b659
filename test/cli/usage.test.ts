/**
 * Usage errors (issue 18): a bad command line is refused with exit 2 before any work — no model
 * or supernet loaded, no output folder created — and says what was meant.
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nls, nlsInProcessWithStderr } from '../helpers/cli.js';

let tmp = '';
beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-usage-'));
});
afterAll(async () => {
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
});

describe('flags are validated before the command runs', () => {
  it('an unknown flag is refused with a did-you-mean, before the output folder exists (subprocess)', async () => {
    const out = path.join(tmp, 'typo');
    const r = await nls('search', '--supernet', path.join(tmp, 'no-supernet'), '--out', out, '--stratgy', 'random');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/unknown option --stratgy; did you mean --strategy\?/);
    expect(r.stderr).toMatch(/see nls search --help/);
    expect(existsSync(out)).toBe(false);
  });

  it('a number flag given text is refused naming the flag and the text, before any work', async () => {
    const out = path.join(tmp, 'budget');
    const r = await nls('search', '--supernet', path.join(tmp, 'no-supernet'), '--out', out, '--budget', 'ten');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--budget must be a positive integer, got 'ten'/);
    expect(existsSync(out)).toBe(false);
  });

  it('number flags: ranges, integers, repeats and the global --seed', async () => {
    const supernet = path.join(tmp, 'no-supernet');
    const out = path.join(tmp, 'numbers');
    const cases: [string[], RegExp][] = [
      [['search', '--supernet', supernet, '--out', out, '--budget', '0'], /--budget must be a positive integer, got '0'/],
      [['search', '--supernet', supernet, '--out', out, '--workers', '1.5'], /--workers must be a positive integer, got '1.5'/],
      [['search', '--supernet', supernet, '--out', out, '--racing-confidence', '1'], /--racing-confidence must be a number between 0 and 1 \(exclusive\), got '1'/],
      [['search', '--supernet', supernet, '--out', out, '--budget', '5', '--budget', '6'], /--budget is given more than once/],
      [['search', '--supernet', supernet, '--out', out, '--budget'], /--budget needs a value/],
      [['search', '--supernet', supernet, '--out', out, '--seed', 'x'], /--seed must be an integer, got 'x'/],
      [['train', '--model', 'm', '--data', 'd', '--space', 'demo', '--out', out, '--steps', '-3'], /--steps must be a positive integer, got '-3'/],
      [['train', '--model', 'm', '--data', 'd', '--space', 'demo', '--out', out, '--lr', 'fast'], /--lr must be a number > 0, got 'fast'/],
      [['train', '--model', 'm', '--data', 'd', '--space', 'demo', '--out', out, '--checkpoint-every', '0'], /--checkpoint-every must be a positive integer, got '0'/],
      [['space', 'demo', '--layers', 'four'], /--layers must be a positive integer, got 'four'/],
      [['sparsify', '--model', 'demo', '--sparsity', '1', '--out', out], /--sparsity must be a number in \[0, 1\), got '1'/],
    ];
    for (const [args, expected] of cases) {
      const r = await nlsInProcessWithStderr(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(expected);
    }
    expect(existsSync(out)).toBe(false);
  });

  it('a missing required flag and a bad choice are usage errors with the flag spelled as typed', async () => {
    const missing = await nlsInProcessWithStderr('search', '--supernet', path.join(tmp, 'no-supernet'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing required option --out/);
    const choice = await nlsInProcessWithStderr('search', '--supernet', path.join(tmp, 'no-supernet'), '--out', path.join(tmp, 'c'), '--engine', 'onx');
    expect(choice.code).toBe(2);
    expect(choice.stderr).toMatch(/--engine must be one of auto, onnx, tfjs, got 'onx'; did you mean 'onnx'\?/);
  });

  it('an unknown command gets a did-you-mean', async () => {
    const r = await nlsInProcessWithStderr('serach', '--budget', '3');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'serach'; did you mean 'search'\?/);
  });
});

describe('help', () => {
  it('nls help search prints what nls search --help prints (subprocess)', async () => {
    const [viaFlag, viaCommand, top, helpAlone] = await Promise.all([nls('search', '--help'), nls('help', 'search'), nls('--help'), nls('help')]);
    expect(viaFlag.code).toBe(0);
    expect(viaCommand.code).toBe(0);
    expect(viaCommand.stdout).toBe(viaFlag.stdout);
    expect(viaFlag.stdout).toMatch(/--budget/);
    expect(helpAlone.code).toBe(0);
    expect(helpAlone.stdout).toBe(top.stdout);
    expect(top.stdout).toMatch(/nls help \[command\]/);
  });

  it('nls help of an unknown command is a usage error with a did-you-mean', async () => {
    const r = await nlsInProcessWithStderr('help', 'serach');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'serach'; did you mean 'search'\?/);
  });

  it("a command's help lists its own options first, then the global ones (subprocess)", async () => {
    const helps = await Promise.all(['search', 'train', 'space'].map((command) => nls(command, '--help')));
    for (const { stdout, code } of helps) {
      expect(code).toBe(0);
      const own = stdout.indexOf('\nOptions:\n');
      const global = stdout.indexOf('\nGlobal options:\n');
      expect(own, stdout).toBeGreaterThan(0);
      expect(global, stdout).toBeGreaterThan(own);
      const listed = (text: string, flag: string) => new RegExp(`^  ${flag} `, 'm').test(text);
      for (const flag of ['--backend', '--quiet', '--json', '--seed', '--help']) {
        expect(listed(stdout.slice(global), flag), flag).toBe(true);
        expect(listed(stdout.slice(own, global), flag), flag).toBe(false);
      }
    }
  });
});

describe('nls search checks its values before loading the supernet', () => {
  const search = (out: string, ...flags: string[]) => nlsInProcessWithStderr('search', '--supernet', path.join(tmp, 'no-supernet'), '--out', out, ...flags);

  it('an unknown strategy close to a built-in one gets a did-you-mean, not an npm install hint (subprocess)', async () => {
    const out = path.join(tmp, 'nsga3');
    const r = await nls('search', '--supernet', path.join(tmp, 'no-supernet'), '--out', out, '--strategy', 'nsga3');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/unknown search strategy "nsga3"; fix: did you mean "nsga2"\?/);
    expect(r.stderr).not.toMatch(/npm install/);
    expect(existsSync(out)).toBe(false);
  });

  it('strategy plugins that cannot be found, strategy options, objectives, constraints and fidelities', async () => {
    const out = path.join(tmp, 'values');
    const cases: [string[], RegExp][] = [
      [['--strategy', './no-such-plugin.js'], /strategy plugin file not found/],
      [['--strategy', 'nls-strategy-not-installed'], /cannot find strategy plugin package "nls-strategy-not-installed".*npm install nls-strategy-not-installed/],
      [['--strategy', 'nsga2', '--strategy-option', 'populationSiz=12'], /strategy "nsga2" has no option "populationSiz"; fix: did you mean "populationSize"\?/],
      [['--strategy-option', 'populationSize'], /--strategy-option "populationSize": write NAME=VALUE/],
      [['--objectives', 'accuracy,parms'], /unknown objective "parms"/],
      [['--constraint', 'parms<=5'], /cannot read constraint "parms<=5"/],
      [['--fidelities', '0.5,0.25'], /--fidelities/],
    ];
    for (const [flags, expected] of cases) {
      const r = await search(out, ...flags);
      expect(r.code, `${flags.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, flags.join(' ')).toMatch(expected);
    }
    expect(existsSync(out)).toBe(false);
  });

  it('a plugin file that exists passes the check (and the supernet is what fails, exit 1)', async () => {
    const plugin = path.join(tmp, 'plugin.mjs');
    await fsp.writeFile(plugin, 'export default {};\n');
    const r = await search(path.join(tmp, 'plugin-out'), '--strategy', plugin);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/not a supernet folder/);
  });
});
