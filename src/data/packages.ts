/** Locating the folders of the npm packages that ship nls's built-in data. */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { NlsError } from '../errors.js';

const require = createRequire(import.meta.url);

/**
 * Folder of an installed package, found through Node's resolution from this file (so it works
 * from a source checkout, a build, or an installed nls).
 *
 * @throws NlsError saying which package to install when it is missing.
 */
export function packageDir(name: string, version: string): string {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch (cause) {
    throw new NlsError(`the built-in data package ${name} is not installed. Fix: npm install --save-exact ${name}@${version}`, {
      field: name,
      cause,
    });
  }
}
