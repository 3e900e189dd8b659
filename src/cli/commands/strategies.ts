/** `nls strategies`: the registered search strategies and their options. */
import type { CommandModule } from 'yargs';
import { listStrategies } from '../../search/registry.js';
import { loadStrategyPlugin } from '../../search/plugins.js';
import { emit, type GlobalOptions } from '../common.js';

interface StrategiesArgs extends GlobalOptions {
  plugin: string[];
}

export const strategiesCommand: CommandModule<GlobalOptions, StrategiesArgs> = {
  command: 'strategies',
  describe: 'list the built-in and loaded plugin search strategies with their options',
  builder: (y) => y.option('plugin', { type: 'string', array: true, default: [], describe: 'load a plugin first (path or package name; repeatable)' }),
  handler: async (argv) => {
    for (const p of argv.plugin) await loadStrategyPlugin(p);
    const list = listStrategies().map((f) => ({ name: f.name, version: f.version, description: f.description, options: f.options }));
    emit(argv, list, () =>
      list
        .map((f) =>
          [
            `${f.name} ${f.version}: ${f.description}`,
            ...f.options.map((o) => `    ${o.name} (${o.type}${o.default !== undefined ? `, default ${String(o.default)}` : ''}${o.choices ? `; ${o.choices.join('|')}` : ''}): ${o.description}`),
          ].join('\n'),
        )
        .join('\n\n'),
    );
  },
};
