/** Placeholder until the section is written against src/cache.ts. */
import type { Section } from '../section.js';
import { SkipSection } from '../services.js';

export const invalidationSection: Section = {
  name: 'invalidation',
  title: 'invalidation (waiting for the core API)',
  async run() {
    throw new SkipSection('not yet available: waits for src/cache.ts');
  },
};
