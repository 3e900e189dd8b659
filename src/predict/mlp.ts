/**
 * A small multi-layer perceptron regressor on configuration features, trained with tfjs.
 *
 * Training runs on the current tfjs backend (Adam on the mean squared error of standardized
 * targets, a fixed number of epochs, minibatches in a seeded order); inference runs in plain
 * JavaScript on the stored weights, so `predict` is synchronous, allocates no tensors, needs no
 * `dispose`, and a loaded predictor gives the same numbers on every backend.
 */
import * as tf from '@tensorflow/tfjs';
import { NlsError } from '../errors.js';
import type { Config, SearchSpace } from '../space/index.js';
import { createRng, shuffleInPlace, uniformArray } from '../util/rng.js';
import { requireFitted, type ParamReader, type Predictor, type PredictorFile, type PredictorSample, predictorDocument } from './predictor.js';
import { configFeatures, featureCount, standardizedDesign, type FeatureStandardization } from './ridge.js';

/** Options of {@link MlpPredictor}. */
export interface MlpOptions {
  /** Widths of the hidden layers (ReLU). Default [32, 32]; [] gives a linear model. */
  readonly hidden?: readonly number[];
  /** Passes over the samples. Default 300. */
  readonly epochs?: number;
  /** Adam learning rate. Default 0.01. */
  readonly learningRate?: number;
  /** Samples per step; at least the number of samples means full-batch. Default 64. */
  readonly batchSize?: number;
  /** Seed of the initial weights and of the minibatch order. Default 0. */
  readonly seed?: number;
}

/** {@link MlpOptions} with every default filled in. */
export interface ResolvedMlpOptions {
  /** See {@link MlpOptions.hidden}. */
  readonly hidden: readonly number[];
  /** See {@link MlpOptions.epochs}. */
  readonly epochs: number;
  /** See {@link MlpOptions.learningRate}. */
  readonly learningRate: number;
  /** See {@link MlpOptions.batchSize}. */
  readonly batchSize: number;
  /** See {@link MlpOptions.seed}. */
  readonly seed: number;
}

/** Defaults of {@link MlpOptions}. */
export const DEFAULT_MLP_OPTIONS: ResolvedMlpOptions = Object.freeze({ hidden: Object.freeze([32, 32]), epochs: 300, learningRate: 0.01, batchSize: 64, seed: 0 });

/** One dense layer: `out = in · kernel + bias`, kernel row-major [inputs, outputs]. */
interface DenseLayer {
  readonly inputs: number;
  readonly outputs: number;
  readonly kernel: Float64Array;
  readonly bias: Float64Array;
}

interface MlpState {
  readonly space: SearchSpace;
  readonly standardization: FeatureStandardization;
  readonly targetMean: number;
  /** Population standard deviation of the targets; 0 when they are all equal. */
  readonly targetScale: number;
  readonly layers: readonly DenseLayer[];
  /** Mean squared error of the standardized targets after training. */
  readonly finalLoss: number;
  /** Backend the weights were trained on (determinism holds per backend). */
  readonly backend: string;
  readonly fitted: { readonly samples: number; readonly seconds: number };
}

function resolveOptions(options: MlpOptions): ResolvedMlpOptions {
  const o = { ...DEFAULT_MLP_OPTIONS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as ResolvedMlpOptions;
  const bad = (field: string, what: string, got: unknown): never => {
    throw new NlsError(`mlp ${field} must be ${what}, got ${JSON.stringify(got)}; fix: set ${field} to ${what} (default ${JSON.stringify(DEFAULT_MLP_OPTIONS[field as keyof ResolvedMlpOptions])})`, { field });
  };
  if (!Array.isArray(o.hidden) || !o.hidden.every((h) => Number.isSafeInteger(h) && h > 0)) bad('hidden', 'an array of positive integers', o.hidden);
  if (!Number.isSafeInteger(o.epochs) || o.epochs < 1) bad('epochs', 'a positive integer', o.epochs);
  if (typeof o.learningRate !== 'number' || !Number.isFinite(o.learningRate) || o.learningRate <= 0) bad('learningRate', 'a positive number', o.learningRate);
  if (!Number.isSafeInteger(o.batchSize) || o.batchSize < 1) bad('batchSize', 'a positive integer', o.batchSize);
  if (!Number.isSafeInteger(o.seed)) bad('seed', 'an integer', o.seed);
  return Object.freeze({ ...o, hidden: Object.freeze([...o.hidden]) });
}

/**
 * MLP regressor: {@link configFeatures} standardized → hidden ReLU layers → one linear output,
 * targets standardized. Weights start Glorot-uniform from the seed (drawn in JavaScript, so the
 * start is the same on every backend); the samples are sorted before training, so for a seed
 * and a backend the fit is deterministic and independent of the sample order.
 *
 * Use it when the value is not additive over genes (interactions between layers, saturation)
 * and there are enough samples (hundreds or more); otherwise prefer ridge or the lookup table.
 */
export class MlpPredictor implements Predictor {
  /** Kind name in predictor files. */
  static readonly KIND = 'mlp';
  readonly kind = MlpPredictor.KIND;
  /** Options with defaults filled in. */
  readonly options: ResolvedMlpOptions;
  private state: MlpState | undefined;

  /** @throws NlsError naming the option when an option is out of range. */
  constructor(options: MlpOptions = {}) {
    this.options = resolveOptions(options);
  }

  /**
   * Train on `samples` of `space` on the current tfjs backend. Every tensor created is disposed
   * before this returns, whether it succeeds or throws.
   *
   * @throws NlsError when training diverges (non-finite loss); lower the learning rate.
   */
  async fit(space: SearchSpace, samples: readonly PredictorSample[]): Promise<void> {
    await tf.ready();
    const start = performance.now();
    const { sorted, n, d, x, standardization } = standardizedDesign(space, samples);
    let sum = 0;
    for (const s of sorted) sum += s.value;
    const targetMean = sum / n;
    let sq = 0;
    for (const s of sorted) sq += (s.value - targetMean) ** 2;
    const sd = Math.sqrt(sq / n);
    // Constant targets get scale 0: the network then trains on zeros and every prediction is
    // exactly the constant, whatever the weights.
    const targetScale = sd > 1e-12 * Math.max(1, Math.abs(targetMean)) ? sd : 0;
    const y = Float32Array.from(sorted, (s) => (targetScale > 0 ? (s.value - targetMean) / targetScale : 0));

    const { hidden, epochs, learningRate, batchSize, seed } = this.options;
    const widths = [d, ...hidden, 1];
    const initRng = createRng(`nls-mlp-init:${seed}`);
    const orderRng = createRng(`nls-mlp-order:${seed}`);

    const owned: tf.Tensor[] = [];
    const optimizer = tf.train.adam(learningRate);
    try {
      const xs = tf.tensor2d(Float32Array.from(x), [n, d]);
      const ys = tf.tensor2d(y, [n, 1]);
      owned.push(xs, ys);
      const vars: tf.Variable[] = [];
      for (let l = 0; l + 1 < widths.length; l++) {
        const fanIn = widths[l] ?? 1;
        const fanOut = widths[l + 1] ?? 1;
        const bound = Math.sqrt(6 / (fanIn + fanOut));
        const init = uniformArray(initRng, fanIn * fanOut, bound);
        // tidy disposes the initial-value tensors; variables are never tracked by a scope.
        const kernel = tf.tidy(() => tf.variable(tf.tensor2d(init, [fanIn, fanOut]), true));
        owned.push(kernel);
        const bias = tf.tidy(() => tf.variable(tf.zeros([fanOut]), true));
        owned.push(bias);
        vars.push(kernel, bias);
      }
      const forward = (input: tf.Tensor2D): tf.Tensor2D => {
        let h = input;
        for (let l = 0; l < vars.length; l += 2) {
          h = tf.add(tf.matMul(h, vars[l] as tf.Tensor2D), vars[l + 1] as tf.Tensor1D);
          if (l + 2 < vars.length) h = tf.relu(h);
        }
        return h;
      };
      const mse = (xb: tf.Tensor2D, yb: tf.Tensor2D): tf.Scalar => tf.mean(tf.squaredDifference(forward(xb), yb));

      const fullBatch = batchSize >= n;
      const order = Array.from({ length: n }, (_, i) => i);
      for (let epoch = 0; epoch < epochs; epoch++) {
        if (fullBatch) {
          tf.tidy(() => {
            optimizer.minimize(() => mse(xs, ys), false, vars);
          });
          continue;
        }
        shuffleInPlace(order, orderRng);
        for (let b0 = 0; b0 < n; b0 += batchSize) {
          const idx = order.slice(b0, b0 + batchSize);
          tf.tidy(() => {
            const ib = tf.tensor1d(idx, 'int32');
            const xb = tf.gather(xs, ib);
            const yb = tf.gather(ys, ib);
            optimizer.minimize(() => mse(xb, yb), false, vars);
          });
        }
      }
      const finalLoss = tf.tidy(() => mse(xs, ys).dataSync()[0] ?? Number.NaN);
      if (!Number.isFinite(finalLoss)) {
        throw new NlsError(`mlp training diverged (final loss ${finalLoss}); fix: lower learningRate (now ${learningRate}) or check the sample values`, { field: 'learningRate' });
      }
      const layers: DenseLayer[] = [];
      for (let l = 0; l < vars.length; l += 2) {
        const inputs = widths[l / 2] ?? 0;
        const outputs = widths[l / 2 + 1] ?? 0;
        layers.push({ inputs, outputs, kernel: Float64Array.from((vars[l] as tf.Variable).dataSync()), bias: Float64Array.from((vars[l + 1] as tf.Variable).dataSync()) });
      }
      this.state = {
        space,
        standardization,
        targetMean,
        targetScale,
        layers,
        finalLoss,
        backend: tf.getBackend(),
        fitted: { samples: n, seconds: (performance.now() - start) / 1000 },
      };
    } finally {
      tf.dispose(owned);
      optimizer.dispose();
    }
  }

  /** Predicted value of `config` (plain JavaScript forward pass in float64 on the stored weights). */
  predict(config: Config): number {
    const st = requireFitted(this.state, this.kind);
    const x = configFeatures(st.space, config);
    const { means, scales } = st.standardization;
    let h: Float64Array = x.map((v, j) => (v - (means[j] ?? 0)) / (scales[j] ?? 1));
    st.layers.forEach((layer, l) => {
      const out = Float64Array.from(layer.bias);
      for (let i = 0; i < layer.inputs; i++) {
        const hi = h[i] ?? 0;
        if (hi === 0) continue;
        const row = i * layer.outputs;
        for (let j = 0; j < layer.outputs; j++) out[j] = (out[j] ?? 0) + hi * (layer.kernel[row + j] ?? 0);
      }
      if (l + 1 < st.layers.length) for (let j = 0; j < out.length; j++) out[j] = Math.max(0, out[j] ?? 0);
      h = out;
    });
    return (h[0] ?? 0) * st.targetScale + st.targetMean;
  }

  /** Predicted values of `configs`. */
  predictMany(configs: readonly Config[]): number[] {
    return configs.map((c) => this.predict(c));
  }

  /** Mean squared error on the standardized training targets after the last epoch. */
  get finalLoss(): number {
    return requireFitted(this.state, this.kind).finalLoss;
  }

  /**
   * The `nls-predictor/1` document: options, standardization, the weights as nested number
   * arrays (`kernel[input][output]`, `bias[output]`), the final loss and the training backend.
   */
  toJSON(): PredictorFile {
    const st = requireFitted(this.state, this.kind);
    const o = this.options;
    return predictorDocument(this.kind, st.space, st.fitted, {
        options: { hidden: [...o.hidden], epochs: o.epochs, learningRate: o.learningRate, batchSize: o.batchSize, seed: o.seed },
        featureMeans: [...st.standardization.means],
        featureScales: [...st.standardization.scales],
        targetMean: st.targetMean,
        targetScale: st.targetScale,
        layers: st.layers.map((layer) => ({
          kernel: Array.from({ length: layer.inputs }, (_, i) => Array.from(layer.kernel.subarray(i * layer.outputs, (i + 1) * layer.outputs))),
          bias: Array.from(layer.bias),
        })),
        finalLoss: st.finalLoss,
        backend: st.backend,
    });
  }

  /** Loader of the `mlp` kind (see PredictorLoader in predictor.ts). */
  static fromJSON(this: void, file: PredictorFile, space: SearchSpace, params: ParamReader): MlpPredictor {
    const d = featureCount(space);
    const opts = params.field('options');
    const hidden = opts
      .field('hidden')
      .array()
      .map((r) => r.integer(1));
    let predictor: MlpPredictor;
    try {
      predictor = new MlpPredictor({
        hidden,
        epochs: opts.field('epochs').integer(1),
        learningRate: opts.field('learningRate').number(),
        batchSize: opts.field('batchSize').integer(1),
        seed: opts.field('seed').integer(),
      });
    } catch (err) {
      if (err instanceof NlsError) opts.fail(err.message);
      throw err;
    }
    const means = params.field('featureMeans').numbers(d);
    const scales = params
      .field('featureScales')
      .array(d)
      .map((r) => {
        const v = r.number();
        if (!(v > 0)) r.fail(`expected a positive scale, got ${v}`);
        return v;
      });
    const targetMean = params.field('targetMean').number();
    const targetScaleReader = params.field('targetScale');
    const targetScale = targetScaleReader.number(0);
    const widths = [d, ...hidden, 1];
    const layers = params
      .field('layers')
      .array(widths.length - 1)
      .map((lr, l): DenseLayer => {
        const inputs = widths[l] ?? 0;
        const outputs = widths[l + 1] ?? 0;
        const kernel = new Float64Array(inputs * outputs);
        lr.field('kernel')
          .array(inputs)
          .forEach((row, i) => kernel.set(row.numbers(outputs), i * outputs));
        return { inputs, outputs, kernel, bias: Float64Array.from(lr.field('bias').numbers(outputs)) };
      });
    const finalLoss = params.field('finalLoss').number(0);
    const backend = params.field('backend').string();
    predictor.state = { space, standardization: { means, scales }, targetMean, targetScale, layers, finalLoss, backend, fitted: { ...file.fitted } };
    return predictor;
  }
}
