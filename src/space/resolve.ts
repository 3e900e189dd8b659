/** Resolving a search-space spec against a model: layer checks and expansion into genes. */
import { NlsError } from '../errors.js';
import { DEFAULT_DROPOUT, DEFAULT_SCALING, type GroupSpec, type LayerSelection, type SearchSpaceSpec } from './format.js';
import { ProblemList } from './problems.js';
import { SearchSpace, type GeneInstance } from './search-space.js';
import { checkSpec, originOf } from './validate.js';

/** Options of {@link resolveSearchSpace}. */
export interface ResolveOptions {
  /** Number of decoder layers of the model; layer indices must lie in `0..numLayers-1`. */
  readonly numLayers: number;
  /** File to name in errors; defaults to the file the spec was loaded from. */
  readonly file?: string | undefined;
}

function layerList(sel: LayerSelection, numLayers: number): number[] {
  return sel === 'all' ? Array.from({ length: numLayers }, (_, i) => i) : [...sel];
}

/**
 * Validate `spec` completely (structure and layer ranges for a model with `numLayers` layers)
 * and expand it into a {@link SearchSpace}: one gene per (layer, group), in canonical
 * layer-major order. Group `layers`, `alpha` and `dropout` replace the top-level values.
 *
 * @throws SearchSpaceError listing every problem (file, JSON path, fix).
 * @throws NlsError when `numLayers` is not a positive integer.
 */
export function resolveSearchSpace(spec: SearchSpaceSpec, options: ResolveOptions): SearchSpace {
  const { numLayers } = options;
  if (!Number.isSafeInteger(numLayers) || numLayers <= 0) {
    throw new NlsError(`numLayers must be a positive integer, got ${String(numLayers)}; fix: pass the model's number of decoder layers`, { field: 'numLayers' });
  }
  const origin = originOf(spec);
  const file = options.file ?? origin?.file;
  const problems = new ProblemList(origin?.positions);
  checkSpec(spec, problems, numLayers);
  problems.throwIfAny(file);

  const instances: Omit<GeneInstance, 'index'>[] = [];
  spec.groups.forEach((g: GroupSpec, groupIndex) => {
    for (const layer of layerList(g.layers ?? spec.layers ?? 'all', numLayers)) {
      instances.push({
        layer,
        group: g.name,
        groupIndex,
        modules: g.modules,
        ranks: g.ranks,
        alpha: g.alpha ?? spec.alpha,
        dropout: g.dropout ?? spec.dropout ?? DEFAULT_DROPOUT,
        scaling: spec.scaling ?? DEFAULT_SCALING,
      });
    }
  });
  return new SearchSpace({ name: spec.name, description: spec.description, numLayers, instances });
}
