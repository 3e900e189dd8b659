/** `nls space FILE`: validate a search space and summarise it. */
import type { CommandModule } from 'yargs';
import { BUILTIN_SEARCH_SPACES, loadAndResolveSearchSpace } from '../../space/index.js';
import { formatTable } from '../../util/table.js';
import { emit, type GlobalOptions } from '../common.js';
import { numberArg } from '../args.js';

interface SpaceArgs extends GlobalOptions {
  file: string;
  layers: number;
}

export const spaceCommand: CommandModule<GlobalOptions, SpaceArgs> = {
  command: 'space <file>',
  describe: 'validate a search space and print its genes, cardinality and heuristic subnets',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: `a shipped search space (${BUILTIN_SEARCH_SPACES.join(', ')}) or a search-space JSON file (./demo for a local file named like a shipped one)` })
      .option('layers', { ...numberArg('layers', 'positive integer'), demandOption: true, describe: 'number of decoder layers of the model it is for' }),
  handler: async (argv) => {
    // A shipped name is the shipped space; anything else a path (docs/search-spaces.md).
    const space = await loadAndResolveSearchSpace(argv.file, { numLayers: argv.layers });
    const heuristics = { max: space.maxConfig(), median: space.medianConfig(), min: space.minConfig() };
    const summary = {
      name: space.name,
      genes: space.size,
      cardinality: space.cardinality().toString(),
      adaptedModules: space.adapterPlan().length,
      widthLayers: space.widthPlan().map((w) => w.layer),
      heuristics: Object.fromEntries(Object.entries(heuristics).map(([k, c]) => [k, space.key(c)])),
      rankPatterns: Object.fromEntries(Object.entries(heuristics).map(([k, c]) => [k, space.rankPattern(c)])),
    };
    emit(argv, summary, () =>
      [
        `${space.name}: ${space.size} genes over ${space.numLayers} layers, ${space.cardinality().toLocaleString('en-US')} configurations, ${summary.adaptedModules} adapted modules` +
          (summary.widthLayers.length > 0 ? `, elastic MLP widths on ${summary.widthLayers.length} layers` : ''),
        '',
        formatTable(['subnet', 'key', `ranks (${space.rankPatternLegend()})`], Object.entries(heuristics).map(([k, c]) => [k, space.key(c), space.rankPattern(c)])),
      ].join('\n'),
    );
  },
};
