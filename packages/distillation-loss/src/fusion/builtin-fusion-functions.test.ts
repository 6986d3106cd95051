import { testFusionFunction } from '../testing.js';
import { builtinFusionFunctions } from './fusion-registry.js';

for (const fusion of Object.values(builtinFusionFunctions)) testFusionFunction(fusion);
