/**
 * src/search stays pure TypeScript: no tfjs, and only leaf modules of nls (space, util, errors)
 * plus the pure predictor modules (ridge regression for predictor-guided strategies), which must
 * not import tfjs either.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../src/search', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('src/search imports', () => {
  it('never imports tfjs or model code', () => {
    for (const file of files(ROOT)) {
      const text = readFileSync(file, 'utf8');
      const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]!);
      for (const spec of specs) {
        expect(spec, `${path.relative(ROOT, file)} imports ${spec}`).not.toMatch(/tensorflow|tfjs/);
        if (spec.startsWith('.')) {
          const target = path.resolve(path.dirname(file), spec);
          const rel = path.relative(path.dirname(ROOT), target);
          expect(rel, `${path.relative(ROOT, file)} imports ${spec}`).toMatch(/^(search|space|util|errors|package-info|predict\/(ridge|predictor|quality)\.js$)/);
        }
      }
    }
    const predictDir = path.join(path.dirname(ROOT), 'predict');
    for (const name of ['ridge.ts', 'predictor.ts', 'quality.ts']) {
      const text = readFileSync(path.join(predictDir, name), 'utf8');
      // Static imports only: predictor.ts may load the tfjs-based MLP kind lazily, on demand.
      const specs = [...text.matchAll(/^import\s[^;]*?from\s*'([^']+)'/gm)].map((m) => m[1]!);
      for (const spec of specs) {
        expect(spec, `predict/${name} imports ${spec}`).not.toMatch(/tensorflow|tfjs|mlp|model|adapters/);
      }
    }
  });
});
