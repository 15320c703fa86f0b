/**
 * A private Redis Cluster for tests and the bench: six `redis-server`s of our own
 * (3 masters, 3 replicas) on free loopback ports, joined by `redis-cli --cluster create`.
 * Each node is an {@link OwnServer} from services.ts, so `stopAll()` and process exit
 * stop them like any other server, and each removes its own temporary directory
 * (where its `nodes.conf` lives).
 *
 * The cluster bus listens on a second free port per node (`--cluster-port`, Redis 7),
 * not on the default `port + 10000`, which a free ephemeral port could push past 65535.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster, type ClusterOptions, Redis } from 'ioredis';
import { freePort, HOW_REDIS, type OwnServer, onPath, startRedisServer } from './services.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/** A node of a cluster started here. */
export interface ClusterNode {
  readonly host: string;
  readonly port: number;
  readonly server: OwnServer;
}

/** A cluster started by {@link startRedisCluster}. */
export interface OwnCluster {
  /** Every node, masters first as created (the roles move with failovers). */
  readonly nodes: readonly ClusterNode[];
  /** `host:port` of every node, for ioredis' startup nodes. */
  readonly startupNodes: ReadonlyArray<{ host: string; port: number }>;
  /**
   * A new ioredis `Cluster` on it, closed by `stop()`. Defaults suit a test: one retry
   * per command, a fast slots refresh, no ready check beyond ioredis' own.
   */
  client(options?: ClusterOptions): Cluster;
  /** The port of the master that holds `key`'s slot now (asked of the nodes themselves). */
  masterOf(key: string): Promise<number>;
  /**
   * `CLUSTER FAILOVER` on a replica of the master on `masterPort` (a coordinated
   * failover: the replica catches up before it takes over, nothing acknowledged is
   * lost); resolves once every live node sees the replica as the master of those slots.
   * Resolves the new master's port.
   */
  failover(masterPort: number): Promise<number>;
  /** The ports of the online replicas of the master on `masterPort`. */
  replicasOf(masterPort: number): Promise<number[]>;
  /** SIGKILLs the node on `port` (a master's failure); later calls ask only the live nodes. */
  kill(port: number): void;
  /** Stops every node and closes every client opened by {@link client}. */
  stop(): Promise<void>;
}

/** Options of {@link startRedisCluster}. */
export interface ClusterStartOptions {
  /** `cluster-node-timeout`, in ms: how soon a silent node counts as failed. Default 1000. */
  readonly nodeTimeoutMs?: number;
}

/** How long the cluster may take to form (six processes, `--cluster create`, gossip). */
const FORM_TIMEOUT_MS = 20_000;

/**
 * Starts a 6-node cluster (3 masters, 3 replicas) and waits until every node reports
 * `cluster_state:ok` and every replica is in sync with its master.
 *
 * @throws Error with {@link HOW_REDIS} when `redis-server` or `redis-cli` is not on PATH.
 */
export async function startRedisCluster(options: ClusterStartOptions = {}): Promise<OwnCluster> {
  if (!onPath('redis-server') || !onPath('redis-cli')) {
    throw new Error(`cannot start a private Redis Cluster: ${HOW_REDIS} (and redis-cli)`);
  }
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1_000;
  const nodes: ClusterNode[] = [];
  const killed = new Set<number>();
  const clients: Array<Redis | Cluster> = [];
  const stop = async () => {
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
    await Promise.all(nodes.map((node) => node.server.stop()));
  };
  try {
    // Each try of a node names a fresh bus port: a port found free can be taken before
    // the node binds it, and the node then exits (startRedisServer tries again).
    const started = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const server = await startRedisServer(undefined, async () => [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-port',
          String(await freePort()),
          '--cluster-node-timeout',
          String(nodeTimeoutMs),
          '--daemonize',
          'no',
        ]);
        return { host: '127.0.0.1', port: server.port, server };
      }),
    );
    nodes.push(...started);
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `${n.host}:${n.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { timeout: FORM_TIMEOUT_MS },
    );
    await waitFor('the cluster to form', () => formed(nodes), FORM_TIMEOUT_MS, 50);
  } catch (error) {
    await stop();
    throw error;
  }
  const admin = (port: number) => {
    const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0, lazyConnect: true });
    client.on('error', () => {});
    return client;
  };
  return {
    nodes,
    startupNodes: nodes.map(({ host, port }) => ({ host, port })),
    client(clusterOptions = {}) {
      const client = new Cluster(
        nodes.map(({ host, port }) => ({ host, port })),
        {
          slotsRefreshTimeout: 2_000,
          ...clusterOptions,
          redisOptions: { maxRetriesPerRequest: 1, ...clusterOptions.redisOptions },
        },
      );
      client.on('error', () => {});
      clients.push(client);
      return client;
    },
    masterOf: (key) => withClient(admin, livePort(nodes, killed), (c) => masterPortOf(c, key)),
    replicasOf: (masterPort) => replicasOf(admin, masterPort),
    kill(port) {
      const node = nodes.find((n) => n.port === port);
      if (node === undefined) throw new Error(`no node of the cluster on port ${port}`);
      killed.add(port);
      node.server.signal('SIGKILL');
    },
    failover: (masterPort) => failoverMaster(nodes, admin, masterPort),
    stop,
  };
}

/** Whether every node says `cluster_state:ok` and every replica's link to its master is up. */
async function formed(nodes: readonly ClusterNode[]): Promise<boolean> {
  const states = await Promise.all(
    nodes.map(async ({ port }) => {
      const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0 });
      client.on('error', () => {});
      try {
        const info = (await client.cluster('INFO')) as string;
        const replication = await client.info('replication');
        const synced = !replication.includes('role:slave') || replication.includes('master_link_status:up');
        return info.includes('cluster_state:ok') && synced;
      } catch {
        return false;
      } finally {
        client.disconnect();
      }
    }),
  );
  return states.every(Boolean);
}

function livePort(nodes: readonly ClusterNode[], killed: ReadonlySet<number>): number {
  const live = nodes.find((n) => !killed.has(n.port));
  if (live === undefined) throw new Error('every node of the cluster was killed');
  return live.port;
}

async function withClient<T>(
  admin: (port: number) => Redis,
  port: number,
  use: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = admin(port);
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

/** The master port of `key`'s slot, from `CLUSTER SHARDS`-like data of `CLUSTER SLOTS`. */
async function masterPortOf(client: Redis, key: string): Promise<number> {
  const slot = (await client.cluster('KEYSLOT', key)) as number;
  const ranges = (await client.cluster('SLOTS')) as unknown as Array<[number, number, [string, number]]>;
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  if (range === undefined) throw new Error(`no node holds slot ${slot}`);
  return range[2][1];
}

/** The ports of the replicas of the master on `masterPort`, from its own `INFO replication`. */
async function replicasOf(admin: (port: number) => Redis, masterPort: number): Promise<number[]> {
  const info = await withClient(admin, masterPort, (c) => c.info('replication'));
  return [...info.matchAll(/^slave\d+:ip=[^,]+,port=(\d+),state=online/gm)].map((m) => Number(m[1]));
}

async function failoverMaster(
  nodes: readonly ClusterNode[],
  admin: (port: number) => Redis,
  masterPort: number,
): Promise<number> {
  const [replica] = await replicasOf(admin, masterPort);
  if (replica === undefined) throw new Error(`the master on ${masterPort} has no online replica`);
  await withClient(admin, replica, (c) => c.cluster('FAILOVER'));
  await waitFor(
    `the replica on ${replica} to take over from ${masterPort}`,
    async () => {
      const roles = await Promise.all(
        nodes.map(({ port }) =>
          withClient(admin, port, (c) => c.cluster('SLOTS')).then(
            (ranges) => (ranges as unknown as Array<[number, number, [string, number]]>).map((r) => r[2][1]),
            () => [] as number[],
          ),
        ),
      );
      return roles.every((masters) => masters.includes(replica) && !masters.includes(masterPort));
    },
    10_000,
    50,
  );
  return replica;
}

/**
 * The startup nodes of `REDIS_CLUSTER_NODES` (`host:port,host:port,…`), or `undefined`
 * when it is unset.
 */
export function clusterNodesFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): Array<{ host: string; port: number }> | undefined {
  const list = env.REDIS_CLUSTER_NODES?.trim();
  if (!list) return undefined;
  return list.split(',').map((entry) => {
    const [host, port] = entry.trim().split(':');
    return { host: host || '127.0.0.1', port: Number(port) };
  });
}
