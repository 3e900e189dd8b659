/**
 * Sub-spaces of a trained supernet: a search space whose every configuration the supernet can
 * activate exactly as trained, e.g. fewer rank choices, or a rank fixed on some layers. Searching
 * one is how a study narrows a large trained space (and how the tabular benchmark gets a small
 * space whose every configuration can be evaluated).
 */
import { NlsError } from '../errors.js';
import { loraScale, type SearchSpace } from './search-space.js';

/**
 * Why `sub` is not a sub-space of `trained` (empty when it is): it must adapt exactly the same
 * modules with the same r_max and the same LoRA scale at every rank it allows, and every rank it
 * allows for a module must be one the supernet trained for that module; it must have width genes
 * on exactly the supernet's width layers, with widths the supernet trained.
 */
export function subspaceProblems(trained: SearchSpace, sub: SearchSpace): string[] {
  const problems: string[] = [];
  const trainedPlan = new Map(trained.adapterPlan().map((e) => [e.key, e]));
  const subPlan = new Map(sub.adapterPlan().map((e) => [e.key, e]));
  for (const key of trainedPlan.keys()) if (!subPlan.has(key)) problems.push(`${key} is adapted in the supernet but not in "${sub.name}"; fix: give it a group (a single rank choice fixes it)`);
  for (const [key, s] of subPlan) {
    const t = trainedPlan.get(key);
    if (t === undefined) {
      problems.push(`${key} has no adapter in the supernet; fix: remove it from "${sub.name}"`);
      continue;
    }
    if (s.rMax !== t.rMax) problems.push(`${key}: r_max is ${s.rMax}, the supernet's adapter has r_max ${t.rMax}; fix: list ${t.rMax} first in its ranks`);
    const untrained = s.ranks.filter((r) => !t.ranks.includes(r));
    if (untrained.length > 0) problems.push(`${key}: ranks [${untrained.join(', ')}] were not trained; fix: use ranks from [${t.ranks.join(', ')}]`);
    for (const r of s.ranks) {
      if (t.ranks.includes(r) && loraScale(s, r) !== loraScale(t, r)) {
        problems.push(`${key}: the LoRA scale at rank ${r} differs from the supernet's (alpha/scaling); fix: use alpha ${t.alpha} and scaling ${t.scaling}`);
        break;
      }
    }
  }
  // Width genes: the same layers, and only widths the supernet trained.
  const trainedWidths = new Map(trained.widthPlan().map((w) => [w.layer, w]));
  const subWidths = new Map(sub.widthPlan().map((w) => [w.layer, w]));
  for (const layer of trainedWidths.keys()) if (!subWidths.has(layer)) problems.push(`layer ${layer} has an elastic MLP width in the supernet but not in "${sub.name}"; fix: give it a width group (a single width choice fixes it)`);
  for (const [layer, s] of subWidths) {
    const t = trainedWidths.get(layer);
    if (t === undefined) {
      problems.push(`layer ${layer} has no elastic MLP width in the supernet; fix: remove the width group from "${sub.name}" on that layer`);
      continue;
    }
    const untrained = s.widths.filter((w) => !t.widths.includes(w));
    if (untrained.length > 0) problems.push(`layer ${layer}: widths [${untrained.join(', ')}] were not trained; fix: use widths from [${t.widths.join(', ')}]`);
  }
  return problems;
}

/**
 * Check that `sub` is a sub-space of `trained` (see {@link subspaceProblems}).
 *
 * @throws NlsError listing every problem, naming `file` when given.
 */
export function assertSubspace(trained: SearchSpace, sub: SearchSpace, file?: string): void {
  const problems = subspaceProblems(trained, sub);
  if (problems.length > 0) {
    throw new NlsError(`search space "${sub.name}" is not a sub-space of the supernet's space "${trained.name}":\n  - ${problems.join('\n  - ')}`, file !== undefined ? { file } : {});
  }
}
