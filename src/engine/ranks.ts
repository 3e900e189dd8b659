/** Checking a configuration's ranks against the adapters an engine knows, before anything changes. */
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
