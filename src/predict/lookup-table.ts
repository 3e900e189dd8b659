/**
 * The lookup-table predictor of Once-for-All: the value of a configuration is a base plus one
 * term per gene for the choice it selects, `base + Σ_g terms[g][config[g]]`. Exact for
 * quantities that add up over modules (parameter counts, latency of a sequential stack measured
 * per module), and a strong baseline for latency in general.
 */
import { NlsError } from '../errors.js';
import type { Config, SearchSpace } from '../space/index.js';
import { canonicalSamples, requireFitted, type ParamReader, type Predictor, type PredictorFile, type PredictorSample, predictorDocument } from './predictor.js';
import { choleskyFactor, choleskySolve } from './ridge.js';

interface TableState {
  readonly space: SearchSpace;
  readonly base: number;
  readonly terms: readonly (readonly number[])[];
  readonly fitted: { readonly samples: number; readonly seconds: number };
}

/**
 * Additive lookup table over (gene, choice).
 *
 * **Fitting** is least squares on one-hot features in reference coding (choice 0 of every gene
 * is folded into the base, so fitted tables have `terms[g][0] = 0`), solved from the normal
 * equations by Cholesky with one step of iterative refinement; on exactly additive data the
 * predictions are recovered to rounding error. Choices that never occur in the samples, and
 * combinations the samples cannot tell apart, get term 0: predictions for them extrapolate, so
 * measure every choice of every gene at least once.
 *
 * **Explicit tables** (e.g. from per-module measurements) come from {@link LookupTablePredictor.fromTable}.
 */
export class LookupTablePredictor implements Predictor {
  /** Kind name in predictor files. */
  static readonly KIND = 'lookup-table';
  readonly kind = LookupTablePredictor.KIND;
  private state: TableState | undefined;

  /**
   * A table given explicitly: `terms[g][c]` is added when gene `g` selects choice `c`.
   *
   * @throws NlsError naming `terms[g]` or `terms[g][c]` when the shape does not match `space`
   * or an entry is not finite.
   */
  static fromTable(space: SearchSpace, base: number, terms: readonly (readonly number[])[]): LookupTablePredictor {
    if (typeof base !== 'number' || !Number.isFinite(base)) throw new NlsError(`base must be a finite number, got ${String(base)}`, { field: 'base' });
    if (!Array.isArray(terms) || terms.length !== space.size) {
      throw new NlsError(`expected one row of terms per gene (${space.size} for search space "${space.name}"), got ${Array.isArray(terms) ? terms.length : typeof terms}; fix: give terms[gene][choice] for every gene`, {
        field: 'terms',
      });
    }
    const rows = terms.map((row, g) => {
      const n = space.choiceCounts[g] ?? 0;
      if (!Array.isArray(row) || row.length !== n) {
        throw new NlsError(`gene ${g} (${space.label(g)}) has ${n} choices [${space.instances[g]?.choices.join(', ')}], got ${Array.isArray(row) ? row.length : typeof row} terms; fix: give one term per choice`, {
          field: `terms[${g}]`,
        });
      }
      return row.map((v, c) => {
        if (typeof v !== 'number' || !Number.isFinite(v)) throw new NlsError(`term is ${String(v)}, not a finite number`, { field: `terms[${g}][${c}]` });
        return v;
      });
    });
    const p = new LookupTablePredictor();
    p.state = { space, base, terms: rows, fitted: { samples: 0, seconds: 0 } };
    return p;
  }

  /** Fit the table by least squares on `samples` of `space`. */
  fit(space: SearchSpace, samples: readonly PredictorSample[]): void {
    const start = performance.now();
    const sorted = canonicalSamples(space, samples);
    const n = sorted.length;
    // Column 0 is the intercept; (g, c >= 1) has its own column.
    const colOf: number[][] = [];
    let p = 1;
    for (let g = 0; g < space.size; g++) {
      const cols = [-1];
      for (let c = 1; c < (space.choiceCounts[g] ?? 0); c++) cols.push(p++);
      colOf.push(cols);
    }
    const active = sorted.map((s) => {
      const cols = [0];
      s.config.forEach((c, g) => {
        const col = colOf[g]?.[c] ?? -1;
        if (col >= 0) cols.push(col);
      });
      return cols;
    });
    // Centering the targets keeps the right-hand side small when values share a large offset.
    let ySum = 0;
    for (const s of sorted) ySum += s.value;
    const yMean = ySum / n;
    const y = sorted.map((s) => s.value - yMean);

    const a = new Float64Array(p * p);
    for (const cols of active) {
      for (const i of cols) for (const j of cols) if (j <= i) a[i * p + j] = (a[i * p + j] ?? 0) + 1;
    }
    const rhs = (residual: readonly number[]): Float64Array => {
      const b = new Float64Array(p);
      active.forEach((cols, i) => {
        for (const j of cols) b[j] = (b[j] ?? 0) + (residual[i] ?? 0);
      });
      return b;
    };
    const factor = choleskyFactor(a, p, 1e-9);
    const beta = choleskySolve(factor, rhs(y));
    // One step of iterative refinement: the normal equations square the condition number, and
    // the refinement recovers the digits that costs.
    const residual = active.map((cols, i) => {
      let v = y[i] ?? 0;
      for (const j of cols) v -= beta[j] ?? 0;
      return v;
    });
    const delta = choleskySolve(factor, rhs(residual));
    for (let j = 0; j < p; j++) beta[j] = (beta[j] ?? 0) + (delta[j] ?? 0);

    const terms = colOf.map((cols) => cols.map((col) => (col < 0 ? 0 : (beta[col] ?? 0))));
    this.state = { space, base: yMean + (beta[0] ?? 0), terms, fitted: { samples: n, seconds: (performance.now() - start) / 1000 } };
  }

  /** The constant part of every prediction. */
  get base(): number {
    return requireFitted(this.state, this.kind).base;
  }

  /** `terms[g][c]`: what choice `c` of gene `g` adds (a copy). */
  get terms(): number[][] {
    return requireFitted(this.state, this.kind).terms.map((row) => [...row]);
  }

  /** `base + Σ_g terms[g][config[g]]`. */
  predict(config: Config): number {
    const st = requireFitted(this.state, this.kind);
    st.space.assertContains(config);
    let v = st.base;
    for (let g = 0; g < config.length; g++) v += st.terms[g]?.[config[g] ?? 0] ?? 0;
    return v;
  }

  /** Predicted values of `configs`. */
  predictMany(configs: readonly Config[]): number[] {
    return configs.map((c) => this.predict(c));
  }

  /** The `nls-predictor/1` document: `params = { base, terms }`. */
  toJSON(): PredictorFile {
    const st = requireFitted(this.state, this.kind);
    return predictorDocument(this.kind, st.space, st.fitted, { base: st.base, terms: st.terms.map((row) => [...row]) });
  }

  /** Loader of the `lookup-table` kind (see {@link PredictorLoader}). */
  static fromJSON(this: void, file: PredictorFile, space: SearchSpace, params: ParamReader): LookupTablePredictor {
    const base = params.field('base').number();
    const terms = params
      .field('terms')
      .array(space.size)
      .map((row, g) => row.numbers(space.choiceCounts[g]));
    const p = LookupTablePredictor.fromTable(space, base, terms);
    p.state = { ...requireFitted(p.state, p.kind), fitted: { ...file.fitted } };
    return p;
  }
}
