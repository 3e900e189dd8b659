/**
 * The set of elastic LoRA adapters attached to a model: the weight-sharing supernet's
 * trainable part. Created from a plan (one spec per adapted module), typically a search
 * space's `adapterPlan()`.
 */
import * as tf from '@tensorflow/tfjs';
import { NlsError } from '../errors.js';
import type { LinearSlot } from '../model/linear.js';
import { rankTooLargeProblem } from '../space/validate.js';
import { createRng, uniformArray } from '../util/rng.js';
import { ElasticLoraAdapter, type ElasticLoraSpec, type FakeQuantizer } from './elastic-lora.js';

/** Something that has linear slots keyed `layers.{i}.{module}` (a LlamaModel). */
export interface HasLinearSlots {
  linearSlots(): Map<string, LinearSlot>;
}

/** Elastic LoRA adapters attached to a model's linear slots. */
export class AdapterSet {
  private constructor(
    /** Adapters by module key, in plan order. */
    readonly adapters: ReadonlyMap<string, ElasticLoraAdapter>,
    private readonly slots: ReadonlyMap<string, LinearSlot>,
  ) {}

  /**
   * Create adapters for every spec in `plan` and attach them to `model`.
   *
   * Initialisation follows PEFT: A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming-uniform with a = sqrt(5)),
   * B = 0, so the adapted model starts equal to the base. Values come from `seed` through a
   * JS RNG, so they are identical on every backend.
   *
   * @throws NlsError, before anything is attached, for a module the model lacks or an r_max above
   *   `min(in, out)` of its module (a rank the update B·A cannot use; named with the plan entry's
   *   group when it has one).
   */
  static attach(model: HasLinearSlots, plan: readonly (ElasticLoraSpec & { readonly group?: string })[], seed: number | string): AdapterSet {
    const slots = model.linearSlots();
    for (const spec of plan) {
      const slot = slots.get(spec.key);
      if (!slot || !(spec.rMax > Math.min(slot.inFeatures, slot.outFeatures))) continue;
      const { message, fix } = rankTooLargeProblem(spec.rMax, [{ module: spec.key, shape: [slot.inFeatures, slot.outFeatures] }]);
      throw new NlsError(`${spec.group !== undefined ? `group ${JSON.stringify(spec.group)}: ` : ''}${message}; fix: ${fix}`, { field: spec.key });
    }
    const rng = createRng(seed);
    const adapters = new Map<string, ElasticLoraAdapter>();
    const used = new Map<string, LinearSlot>();
    for (const spec of plan) {
      const slot = slots.get(spec.key);
      if (!slot) {
        throw new NlsError(`no such linear module in the model (it has ${slots.size} linear modules, e.g. ${[...slots.keys()][0]})`, {
          field: spec.key,
        });
      }
      if (slot.hook || adapters.has(spec.key)) throw new NlsError('module already has an adapter attached', { field: spec.key });
      if (!Number.isInteger(spec.rMax) || spec.rMax < 1) throw new NlsError(`r_max must be a positive integer, got ${spec.rMax}`, { field: spec.key });
      const inDim = slot.inFeatures;
      const outDim = slot.outFeatures;
      const aValues = uniformArray(rng, inDim * spec.rMax, 1 / Math.sqrt(inDim));
      // aValues are drawn in PEFT's [r, in] order, then stored transposed as [in, r].
      const aT = tf.tidy(() => tf.variable(tf.transpose(tf.tensor2d(aValues, [spec.rMax, inDim])) as tf.Tensor2D, true));
      const bT = tf.tidy(() => tf.variable(tf.zeros([spec.rMax, outDim]) as tf.Tensor2D, true));
      adapters.set(spec.key, new ElasticLoraAdapter(spec, aT, bT));
      used.set(spec.key, slot);
    }
    for (const [key, adapter] of adapters) used.get(key)!.hook = adapter;
    return new AdapterSet(adapters, used);
  }

  /**
   * Activate ranks: `ranks` maps module key -> rank. Modules not named keep their rank.
   * Copies no weights.
   */
  setActiveRanks(ranks: ReadonlyMap<string, number>): void {
    for (const key of ranks.keys()) {
      if (!this.adapters.has(key)) throw new NlsError('no adapter on this module', { field: key });
    }
    for (const [key, rank] of ranks) this.adapters.get(key)!.setActiveRank(rank);
  }

  /**
   * Enter multi-candidate mode (inference only): the following forward passes score
   * `rankSets.length` = K rank configurations at once. Their input batch must hold the same rows
   * tiled K times, candidate-major (rows of candidate 0, then candidate 1, ...), and candidate k
   * is computed as if `setActiveRanks(rankSets[k])` were active. Modules a rank set does not name
   * take their current active rank. The single-candidate ranks are left untouched and apply again
   * after {@link clearCandidates}. Each adapter whose candidates differ allocates one small mask
   * tensor, freed by {@link clearCandidates}; calling this again replaces the previous candidates.
   * Prefer {@link withCandidates}, which always clears.
   *
   * @param rankSets - one map module key -> rank per candidate (at least one).
   */
  setCandidateRanks(rankSets: readonly ReadonlyMap<string, number>[]): void {
    if (rankSets.length === 0) throw new NlsError('at least one candidate rank set is needed', { field: 'rankSets' });
    rankSets.forEach((ranks, i) => {
      for (const [key, rank] of ranks) {
        const adapter = this.adapters.get(key);
        if (!adapter) throw new NlsError('no adapter on this module', { field: key });
        if (!Number.isInteger(rank) || rank < 0 || rank > adapter.spec.rMax) {
          throw new NlsError(`candidate ${i}: rank must be an integer in [0, ${adapter.spec.rMax}], got ${rank}`, { field: key });
        }
      }
    });
    // Everything is validated first, so a bad rank set leaves no adapter half switched.
    for (const [key, adapter] of this.adapters) adapter.setCandidateRanks(rankSets.map((ranks) => ranks.get(key) ?? adapter.activeRank));
  }

  /** Leave multi-candidate mode and free its masks; the single active ranks apply again. No-op when not in it. */
  clearCandidates(): void {
    for (const a of this.adapters.values()) a.clearCandidates();
  }

  /** Candidates per forward pass in multi-candidate mode; undefined in single-candidate mode. */
  get candidateCount(): number | undefined {
    return this.adapters.values().next().value?.candidateCount;
  }

  /**
   * Run `fn` in multi-candidate mode for `rankSets` (see {@link setCandidateRanks}) and return to
   * single-candidate mode afterwards, also when `fn` throws. Refuses to nest.
   */
  async withCandidates<T>(rankSets: readonly ReadonlyMap<string, number>[], fn: () => T | Promise<T>): Promise<T> {
    if (this.candidateCount !== undefined) throw new NlsError('already in multi-candidate mode (withCandidates does not nest)', { field: 'rankSets' });
    this.setCandidateRanks(rankSets);
    try {
      return await fn();
    } finally {
      this.clearCandidates();
    }
  }

  /**
   * Make every adapter respect its base weight (SparsePEFT / QA-SparsePEFT, see
   * `ElasticLoraAdapter.setBaseConstraint`): with `sparse`, each delta is masked by the non-zeros
   * of its base weight as it is now (prune the base first); `fakeQuantize`, when given for a
   * module key, fake-quantizes that module's merged weight (the adapter takes ownership of it).
   */
  constrainToBase(options: { readonly sparse: boolean; readonly fakeQuantize?: ReadonlyMap<string, FakeQuantizer> }): void {
    for (const [key, adapter] of this.adapters) {
      const slot = this.slots.get(key)!;
      const fakeQuantize = options.fakeQuantize?.get(key);
      const mask = options.sparse ? tf.tidy(() => tf.cast(tf.notEqual(slot.weightT, 0), 'float32') as tf.Tensor2D) : undefined;
      if (!mask && !fakeQuantize) {
        adapter.clearBaseConstraint();
        continue;
      }
      adapter.setBaseConstraint({ ...(mask ? { mask } : {}), ...(fakeQuantize ? { fakeQuantize } : {}) });
    }
  }

  /** Set every adapter to its maximum rank. */
  activateMax(): void {
    for (const a of this.adapters.values()) a.setActiveRank(a.spec.rMax);
  }

  /** Current active rank of every adapter. */
  activeRanks(): Map<string, number> {
    return new Map([...this.adapters].map(([k, a]) => [k, a.activeRank]));
  }

  /** Trainable variables (A^T and B^T of every adapter), in plan order. */
  variables(): tf.Variable[] {
    return [...this.adapters.values()].flatMap((a) => [a.aT, a.bT]);
  }

  /** Adapter parameters active under the current ranks and MLP widths (a narrowed slot's adapter counts its active rows). */
  activeParameterCount(): number {
    let n = 0;
    for (const [key, a] of this.adapters) {
      const slot = this.slots.get(key)!;
      n += a.activeParameterCount(slot.activeIn, slot.activeOut);
    }
    return n;
  }

  /** Adapter parameters allocated (all at r_max). */
  totalParameterCount(): number {
    return this.variables().reduce((s, v) => s + v.size, 0);
  }

  /** Detach the adapters from the model (the model is plain again) and free their weights. */
  dispose(): void {
    for (const [key, slot] of this.slots) {
      if (slot.hook === this.adapters.get(key)) slot.hook = undefined;
    }
    for (const a of this.adapters.values()) a.dispose();
  }
}
