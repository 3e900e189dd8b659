/** Checking a configuration's ranks (and MLP widths) against what an engine knows, before anything changes. */
import { NlsError } from '../errors.js';

/**
 * Throw an `NlsError` naming the module when `next` names a module without an adapter or a rank
 * outside `[0, rMax]`; every entry is checked before the caller applies any.
 */
export function checkRanks(rMax: ReadonlyMap<string, number>, next: ReadonlyMap<string, number>): void {
  for (const [key, r] of next) {
    const max = rMax.get(key);
    if (max === undefined) throw new NlsError('no adapter on this module', { field: key });
    if (!Number.isInteger(r) || r < 0 || r > max) throw new NlsError(`rank must be an integer in [0, ${max}], got ${r}`, { field: key });
  }
}

/**
 * Throw an `NlsError` naming the layer when `next` names a layer the model does not have or a
 * width outside `[1, its intermediate size]`; every entry is checked before the caller applies any.
 */
export function checkWidths(sizes: readonly number[], next: ReadonlyMap<number, number>): void {
  for (const [layer, w] of next) {
    const full = sizes[layer];
    if (full === undefined || !Number.isSafeInteger(layer)) throw new NlsError(`no layer ${layer} (the model has ${sizes.length})`, { field: `widths.${layer}` });
    if (!Number.isSafeInteger(w) || w < 1 || w > full) throw new NlsError(`MLP width must be an integer in [1, ${full}], got ${w}`, { field: `widths.${layer}` });
  }
}
