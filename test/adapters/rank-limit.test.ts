/**
 * A LoRA rank above min(in, out) of its module adds parameters and memory but nothing the update
 * B·A can express (issue 18, item 11: rank 4096 on 256-wide projections trained silently and used
 * 1.36 GB). It is refused where a plan meets a model: search-space resolution with the model's
 * shapes (naming the space file, the group's ranks and the module's shape) and AdapterSet.attach.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import { NlsError } from '../../src/errors.js';
import { LlamaModel, linearShape } from '../../src/model/llama.js';
import { saveModelFolder } from '../../src/model/model-folder.js';
import { runSupernetTraining } from '../../src/pipeline/train-supernet.js';
import { loadAndResolveSearchSpace, resolveSearchSpace, SearchSpaceError, validateSearchSpaceSpec } from '../../src/space/index.js';
import { Progress } from '../../src/util/progress.js';
import { useTestBackend } from '../helpers/backend.js';
import { tinyConfig } from '../helpers/tiny-model.js';

// hidden 16, q 16, k/v 8 (2 kv heads x 4), MLP 24.
const cfg = tinyConfig({ vocabSize: 320 });
const shape = (layer: number, module: Parameters<typeof linearShape>[2]) => linearShape(cfg, layer, module);

function spec(qkvRanks: number[], mlpRanks: number[] = [8, 4]) {
  return {
    format: 'nls-search-space/1',
    name: 'rank-limit',
    alpha: 16,
    groups: [
      { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: qkvRanks },
      { name: 'mlp', modules: ['up_proj', 'down_proj'], ranks: mlpRanks },
    ],
  };
}

let root = '';
beforeAll(async () => {
  await useTestBackend();
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-rank-limit-'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

describe('ranks above a module\'s width', () => {
  it('resolution against the model\'s shapes refuses them, naming the file, the group\'s ranks, the module\'s shape and the fix', async () => {
    const file = path.join(root, 'too-wide.json');
    await fsp.writeFile(file, JSON.stringify(spec([4096, 8]), null, 2));
    const err = await loadAndResolveSearchSpace(file, { numLayers: cfg.numHiddenLayers, linearShape: shape }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SearchSpaceError);
    const message = (err as Error).message;
    expect(message).toContain(file);
    expect(message).toContain('groups[0].ranks[0]');
    expect(message).toMatch(/rank 4096/);
    // k_proj and v_proj are the narrowest modules of the group: [16 in, 8 out].
    expect(message).toMatch(/k_proj \[16 in, 8 out\]/);
    expect(message).toMatch(/min\(in, out\) = 8/);
    expect(message).toMatch(/use ranks no larger than 8/);
    // Exactly min(in, out) is allowed (a full-rank update), and without shapes nothing is checked.
    expect(resolveSearchSpace(validateSearchSpaceSpec(spec([8, 4], [16, 8])), { numLayers: 2, linearShape: shape }).size).toBe(4);
    expect(resolveSearchSpace(validateSearchSpaceSpec(spec([4096, 8])), { numLayers: 2 }).size).toBe(4);
    // The MLP group is checked against its own modules (up_proj [16 in, 24 out], down_proj [24 in, 16 out]).
    expect(() => resolveSearchSpace(validateSearchSpaceSpec(spec([8], [17, 8])), { numLayers: 2, linearShape: shape })).toThrow(/groups\[1\]\.ranks\[0\].*rank 17/s);
  });

  it('AdapterSet.attach refuses a plan whose r_max exceeds a module\'s min(in, out)', () => {
    const model = LlamaModel.random(cfg, 1);
    try {
      const plan = resolveSearchSpace(validateSearchSpaceSpec(spec([12, 8])), { numLayers: 2 }).adapterPlan();
      const err = (() => {
        try {
          AdapterSet.attach(model, plan, 0);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(NlsError);
      expect((err as NlsError).field).toBe('layers.0.k_proj');
      expect((err as Error).message).toMatch(/group "qkv"/);
      expect((err as Error).message).toMatch(/\[16 in, 8 out\]/);
      expect((err as Error).message).toMatch(/fix: .*no larger than 8/);
      // Nothing stays attached after the refusal.
      expect([...model.linearSlots().values()].every((s) => s.hook === undefined)).toBe(true);
    } finally {
      model.dispose();
    }
  });

  it('nls train refuses such a space before training', async () => {
    const model = LlamaModel.random(cfg, 2);
    await saveModelFolder(path.join(root, 'model'), model, { byteTokenizer: true });
    model.dispose();
    await fsp.writeFile(path.join(root, 'data.jsonl'), Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `day ${i}`, label: i % 2 ? 'yes' : 'no' })).join('\n'));
    const file = path.join(root, 'space.json');
    await fsp.writeFile(file, JSON.stringify(spec([4096, 8])));
    await expect(
      runSupernetTraining({
        model: path.join(root, 'model'),
        data: path.join(root, 'data.jsonl'),
        space: file,
        out: path.join(root, 'out'),
        rule: 'sandwich',
        steps: 1,
        lr: 0.01,
        warmupSteps: 0,
        batchSize: 2,
        gradAccum: 1,
        maxLength: 16,
        weightDecay: 0,
        seed: 0,
        progress: new Progress({ quiet: true }),
      }),
    ).rejects.toThrow(/space\.json.*groups\[0\]\.ranks\[0\].*rank 4096/s);
  });
});
