/**
 * Predictors of measured quantities (latency, cost, accuracy) from configurations, their
 * quality metrics, and the analytic cost model. See docs/predictors.md.
 *
 * Only `mlp.ts` imports tfjs. This index exports the MLP too; code that must stay free of tfjs
 * imports `predictor.js`, `lookup-table.js`, `ridge.js` and `quality.js` directly, and
 * {@link loadPredictor} imports the MLP only when it loads an `mlp` file.
 *
 * @packageDocumentation
 */
export * from './cost.js';
export {
  PREDICTOR_FORMAT,
  ParamReader,
  canonicalSamples,
  compareConfigs,
  loadPredictor,
  predictorDocument,
  predictorKinds,
  registerPredictorKind,
  requireFitted,
  savePredictor,
  type LoadPredictorOptions,
  type Predictor,
  type PredictorFile,
  type PredictorLoader,
  type PredictorSample,
} from './predictor.js';
export { LookupTablePredictor } from './lookup-table.js';
export {
  DEFAULT_RIDGE_LAMBDA,
  RidgePredictor,
  choleskyFactor,
  choleskySolve,
  configFeatures,
  featureCount,
  featureMatrix,
  featureNames,
  fitStandardization,
  standardizeInPlace,
  type CholeskyFactor,
  type FeatureStandardization,
  type RidgeOptions,
} from './ridge.js';
export { DEFAULT_MLP_OPTIONS, MlpPredictor, type MlpOptions, type ResolvedMlpOptions } from './mlp.js';
export {
  evaluatePredictor,
  kendallTau,
  mape,
  predictorQuality,
  relativeErrors,
  rmse,
  splitSamples,
  withinShare,
  type PredictorQuality,
  type SampleSplit,
  type SampleSplitOptions,
} from './quality.js';
export {
  checkClockForBackend,
  clockFunction,
  cpuTimeMs,
  MEASURE_CLOCKS,
  measureMedian,
  measurePairedDifference,
  median,
  parseClock,
  robustMedian,
  type ClockCheck,
  type MeasureClock,
  type MeasureOptions,
  type Measurement,
  type PairedMeasurement,
  type RobustMedian,
} from './measure.js';
export {
  checkProfile,
  LATENCY_PROFILE_FORMAT,
  lookupTableFromProfile,
  measureProfile,
  parseLatencyProfile,
  parseValidationMethod,
  PROFILE_DEFAULTS,
  profileConfigs,
  profileLatency,
  profileSamples,
  readLatencyProfile,
  VALIDATION_METHODS,
  validateProfile,
  type LatencyProfile,
  type MeasuredLatency,
  type MeasuredSource,
  type ProfileMeasurementOptions,
  type ProfileMeasurements,
  type ProfileRunner,
  type ValidationMethod,
  type PredictorValidation,
  type ProfileLatencyOptions,
  type ProfilePredictorName,
  type ProfileValidation,
  type ProfileValidationOptions,
} from './profile.js';
