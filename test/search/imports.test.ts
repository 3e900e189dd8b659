/** src/search stays pure TypeScript: no tfjs, and only leaf modules of nls (space, util, errors). */
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
          expect(rel, `${path.relative(ROOT, file)} imports ${spec}`).toMatch(/^(search|space|util|errors|package-info)/);
        }
      }
    }
  });
});
