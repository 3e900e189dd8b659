/**
 * The demo pipeline behind `nls demo`: the built-in model and search space, end to end.
 *
 * Stage one (this issue): load the demo model, attach elastic adapters from
 * search-spaces/demo.json and run the max, median and min subnets.
 */
import * as tf from '@tensorflow/tfjs';
import { AdapterSet } from '../adapters/adapter-set.js';
import { type BackendInfo, type BackendRequest, initBackend } from '../backend/index.js';
import { loadDemoModel } from '../model/demo-model.js';
import { tokenCrossEntropy } from '../model/loss.js';
import { builtinSearchSpacePath, type Config, loadAndResolveSearchSpace } from '../space/index.js';
import { Progress } from '../util/progress.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  readonly backend?: BackendRequest;
  readonly seed?: number;
  readonly progress?: Progress;
}

/** One subnet's row in the demo's result. */
export interface DemoSubnetResult {
  /** `base` (no adapters), `max`, `median` or `min`. */
  readonly name: string;
  /** Canonical configuration key (empty for the base model). */
  readonly key: string;
  /** Active adapter parameters. */
  readonly adapterParameters: number;
  /** Mean next-token cross-entropy on the demo text (nats per byte). */
  readonly loss: number;
}

/** What {@link runDemo} returns. */
export interface DemoResult {
  readonly backend: BackendInfo;
  readonly model: { readonly pretrained: boolean; readonly parameters: number; readonly layers: number };
  readonly space: { readonly name: string; readonly genes: number; readonly cardinality: string };
  readonly subnets: readonly DemoSubnetResult[];
}

/** A few sentences of plain English for the demo's loss (bytes, via the byte tokenizer). */
const DEMO_TEXT = [
  'The jury further said in term-end presentments that the City Executive Committee, which had over-all charge of the election, deserves the praise and thanks of the City of Atlanta for the manner in which the election was conducted.',
  'It urged that the city take steps to remedy this problem.',
  'The grand jury commented on a number of other topics, among them the Atlanta and Fulton County purchasing departments which it said are well operated and follow generally accepted practices.',
];

/** Run the demo pipeline. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const progress = options.progress ?? new Progress();
  const seed = options.seed ?? 0;
  const backend = await initBackend(options.backend ?? 'wasm', { quiet: true });
  progress.log(`backend: ${backend.name} (${backend.device ?? backend.tfjsBackend}); ${backend.reason}`);

  const { model, tokenizer, pretrained } = await loadDemoModel(seed);
  progress.log(
    pretrained
      ? `model: models/demo (${model.parameterCount().toLocaleString('en-US')} parameters)`
      : `model: models/demo not found; using a freshly initialised demo model (${model.parameterCount().toLocaleString('en-US')} parameters, untrained)`,
  );
  const space = await loadAndResolveSearchSpace(builtinSearchSpacePath('demo'), { numLayers: model.config.numHiddenLayers });
  const adapters = AdapterSet.attach(model, space.adapterPlan(), seed);
  progress.log(`search space: ${space.name}, ${space.size} genes, ${space.cardinality().toLocaleString('en-US')} configurations`);

  try {
    const rows = DEMO_TEXT.map((s) => [tokenizer.bosId ?? 0, ...tokenizer.encode(s)]);
    const seq = Math.max(...rows.map((r) => r.length)) - 1;
    const pad = tokenizer.padId ?? 0;
    const ids: number[][] = [];
    const targets: number[][] = [];
    const weights: number[][] = [];
    for (const r of rows) {
      const n = r.length - 1;
      ids.push([...r.slice(0, n), ...Array<number>(seq - n).fill(pad)]);
      targets.push([...r.slice(1), ...Array<number>(seq - n).fill(pad)]);
      weights.push([...Array<number>(n).fill(1), ...Array<number>(seq - n).fill(0)]);
    }
    const lossOf = (): number =>
      tf.tidy(() => {
        const logits = model.forward(tf.tensor2d(ids, undefined, 'int32'));
        return tokenCrossEntropy(logits, tf.tensor2d(targets, undefined, 'int32'), tf.tensor2d(weights)).dataSync()[0]!;
      });
    const run = (name: string, config: Config | undefined): DemoSubnetResult => {
      if (config) adapters.setActiveRanks(space.activeRanks(config));
      else adapters.setActiveRanks(new Map([...adapters.adapters.keys()].map((k) => [k, 0])));
      return { name, key: config ? space.key(config) : '', adapterParameters: adapters.activeParameterCount(), loss: lossOf() };
    };
    const subnets = [
      run('base', undefined),
      run('max', space.maxConfig()),
      run('median', space.medianConfig()),
      run('min', space.minConfig()),
    ];
    return {
      backend,
      model: { pretrained, parameters: model.parameterCount(), layers: model.config.numHiddenLayers },
      space: { name: space.name, genes: space.size, cardinality: space.cardinality().toString() },
      subnets,
    };
  } finally {
    adapters.dispose();
    model.dispose();
  }
}
