/** Where this package lives on disk and what version it is. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root (the folder holding package.json). Works from src/ (tsx) and dist/ alike,
 * since both sit one level below it.
 */
export const PACKAGE_ROOT: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** This package's version, from package.json. */
export const NLS_VERSION: string = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Path of a file shipped with the package (models/, search-spaces/). */
export function packagePath(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, ...parts);
}
