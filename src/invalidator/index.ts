export { Invalidator, type InvalidatorOptions } from './invalidator.js';
