/** `nls backends`: which compute backends this machine can use. */
import type { CommandModule } from 'yargs';
import { describeBackends } from '../../backend/index.js';
import { formatTable } from '../../util/table.js';
import { emit, type GlobalOptions } from '../common.js';

export const backendsCommand: CommandModule<GlobalOptions, GlobalOptions> = {
  command: 'backends',
  describe: 'list the tfjs backends, whether each is available here, and how to enable the missing ones',
  handler: async (argv) => {
    const rows = await describeBackends();
    emit(argv, rows, () =>
      [
        formatTable(
          ['backend', 'available', 'package', 'reason'],
          rows.map((r) => [r.name, r.available ? 'yes' : 'no', r.version ? `${r.package}@${r.version}` : r.package, r.reason]),
        ),
        ...rows.filter((r) => r.howToEnable).map((r) => `\nto enable ${r.name}: ${r.howToEnable}`),
      ].join('\n'),
    );
  },
};
