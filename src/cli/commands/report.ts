/** `nls report`: placeholder until the report module lands. */
import type { CommandModule } from 'yargs';
import type { GlobalOptions } from '../common.js';

export const reportCommand: CommandModule<GlobalOptions, GlobalOptions & { run: string }> = {
  command: 'report <run>',
  describe: 'write report.md and report.html for a run folder',
  handler: async () => {
    throw new Error('not implemented yet');
  },
};
