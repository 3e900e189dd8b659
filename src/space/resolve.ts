/** Resolving a search-space spec against a model: layer checks and expansion into genes. */
import { NlsError } from '../errors.js';
import { DEFAULT_DROPOUT, DEFAULT_SCALING, type GroupSpec, isWidthGroup, type LayerSelection, type SearchSpaceSpec, WIDTH_MODULES } from './format.js';
import { ProblemList } from './problems.js';
import { SearchSpace, type GeneInit } from './search-space.js';
import { checkSpec, type ModelShape, originOf } from './validate.js';

/** Options of {@link resolveSearchSpace}. */
export interface ResolveOptions {
  /** Number of decoder layers of the model; layer indices must lie in `0..numLayers-1`. */
  readonly numLayers: number;
  /** File to name in errors; defaults to the file the spec was loaded from. */
  readonly file?: string | undefined;
  /**
   * MLP intermediate size of every layer of the model (`LlamaConfig.intermediateSizes`, or
   * `intermediateSize` repeated). When given, width choices are checked against it.
   */
  readonly intermediateSizes?: readonly number[] | undefined;
  /**
   * `[in, out]` of each linear module of a layer (`linearShape` of src/model/llama.ts). When given,
   * a rank above `min(in, out)` of a group's module is refused (docs/search-spaces.md).
   */
  readonly linearShape?: ModelShape['linearShape'];
}

/** The {@link ModelShape} of resolve / load options: only the fields given. */
export function modelShapeOf(options: Pick<ResolveOptions, 'intermediateSizes' | 'linearShape'>): ModelShape {
  return {
    ...(options.intermediateSizes !== undefined ? { intermediateSizes: options.intermediateSizes } : {}),
    ...(options.linearShape !== undefined ? { linearShape: options.linearShape } : {}),
  };
}

function layerList(sel: LayerSelection, numLayers: number): number[] {
  return sel === 'all' ? Array.from({ length: numLayers }, (_, i) => i) : [...sel];
}

/**
 * Validate `spec` completely (structure and layer ranges for a model with `numLayers` layers)
 * and expand it into a {@link SearchSpace}: one gene per (layer, group), in canonical
 * layer-major order. Group `layers`, `alpha` and `dropout` replace the top-level values. Width
 * groups become width genes (`kind: 'width'`, choices = widths); with
 * `options.intermediateSizes` their widths are checked against the model, with `options.linearShape`
 * every group's r_max against `min(in, out)` of its modules.
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
  checkSpec(spec, problems, numLayers, modelShapeOf(options));
  problems.throwIfAny(file);

  const instances: GeneInit[] = [];
  spec.groups.forEach((g: GroupSpec, groupIndex) => {
    for (const layer of layerList(g.layers ?? spec.layers ?? 'all', numLayers)) {
      if (isWidthGroup(g)) {
        // Width genes carry no adapter: alpha, dropout and scaling are unused (kept for the type).
        instances.push({
          kind: 'width',
          layer,
          group: g.name,
          groupIndex,
          modules: WIDTH_MODULES,
          choices: g.widths,
          ranks: [],
          alpha: spec.alpha,
          dropout: 0,
          scaling: spec.scaling ?? DEFAULT_SCALING,
        });
        continue;
      }
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
