/**
 * The built-in search strategies. Each module exports one {@link StrategyFactory}; the registry
 * lists them in {@link BUILTIN_STRATEGIES}. See `docs/strategies.md`.
 */
import type { StrategyFactory } from '../contract.js';
import { exhaustiveStrategy } from './exhaustive.js';
import { heuristicStrategy } from './heuristic.js';
import { hillClimbingStrategy } from './hill-climbing.js';
import { linasStrategy } from './linas.js';
import { moboStrategy } from './mobo.js';
import { nsga2Strategy } from './nsga2.js';
import { randomStrategy } from './random.js';

export { exhaustiveStrategy } from './exhaustive.js';
export { HEURISTIC_SUBNETS, heuristicStrategy, heuristicSubnet, namedHeuristicSubnets, type HeuristicSubnet, type TrainingStatistics } from './heuristic.js';
export { checkScalarization, hillClimbingStrategy, scalarScore, standing, type ScalarizationSpec, type Standing } from './hill-climbing.js';
export { linasStrategy } from './linas.js';
export { moboStrategy } from './mobo.js';
export { nsga2Strategy } from './nsga2.js';
export { randomStrategy } from './random.js';

/** Every built-in strategy factory, in the order `nls strategies` lists them. */
export const BUILTIN_STRATEGIES: readonly StrategyFactory[] = Object.freeze([
  heuristicStrategy,
  randomStrategy,
  exhaustiveStrategy,
  nsga2Strategy,
  hillClimbingStrategy,
  linasStrategy,
  moboStrategy,
]);
