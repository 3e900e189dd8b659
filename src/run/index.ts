/** Run folders: manifests, input and output digests, reproduction and comparison. */
export { runEnvironment, environmentDifferences, gitState, type GitState, type RunEnvironment } from './environment.js';
export { currentMachine, describeMachine, machineDifferences, parseCpuFeatures, sameMachine, type MachineSignature } from './machine.js';
// sha256File is exported by the package root with the supernet artifact.
export { hashPath, hashTree, treeDigest, type FileDigest } from './hash.js';
export { BUILTIN_DATA, findInput, locateInputValue, recordInput, referencedInputs, type FoundInput, type InputKind, type InputOption } from './inputs.js';
export { MAX_LISTED_FILES, readRunManifest, RUN_MANIFEST_FILE, RUN_MANIFEST_FORMAT, writeRunManifest, type JsonValue, type RunInput, type RunManifest } from './manifest.js';
export {
  acquireRunLock,
  checkRunKind,
  holderState,
  isRunLockFile,
  prepareRunFolder,
  readRunLock,
  RUN_LOCK_FILE,
  RUN_LOCK_TAKEOVER_FILE,
  runKindOf,
  withRunLock,
  type RunKind,
  type RunLock,
  type RunLockHolder,
  type RunLockOptions,
} from './lock.js';
export { isNotOutput, NOT_OUTPUTS, recordInputs, recordRun, recordableOptions, type RecordRunOptions } from './record.js';
export {
  canonicalJsonLines,
  compareRunOutputs,
  DEFAULT_TOLERANCE,
  TIMING_KEYS,
  withoutTimings,
  withRunFolder,
  type FileComparison,
  type FileVerdict,
  type MetricDifference,
  type RunComparison,
  type Tolerance,
  type ToleranceSpec,
} from './compare.js';
export { machineNote, NOT_REPLAYED, nlsProcessRunner, replayArgv, REPRODUCE_EXIT, reproduceRun, type CommandRunner, type ReproduceOptions, type ReproduceResult } from './reproduce.js';
