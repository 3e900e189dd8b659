/**
 * Test backend setup: NLS_TEST_BACKEND (default wasm, the default on this machine) selects
 * the tfjs backend for a test file.
 */
import { initBackend, type BackendName } from '../../src/backend/index.js';

export const TEST_BACKEND = (process.env.NLS_TEST_BACKEND ?? 'wasm') as BackendName;

export async function useTestBackend(): Promise<void> {
  await initBackend(TEST_BACKEND, { quiet: true });
}
