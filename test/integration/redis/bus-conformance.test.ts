import { Redis } from 'ioredis';
import { redisBus } from '../../../src/redis/index.js';
import { registerBusConformanceSuite } from '../../../src/testing/index.js';
import { redisUrlForTests } from '../../support/services.js';

const url = await redisUrlForTests();

// The suite picks namespaces of its own (`bconf-…`): pub/sub leaves no keys behind.
registerBusConformanceSuite('redis (own connections from url)', () => ({ bus: redisBus({ url }) }));

registerBusConformanceSuite('redis (client given)', () => {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  return { bus: redisBus({ client }), cleanup: async () => void (await client.quit()) };
});
