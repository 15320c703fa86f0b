// The example's story, shared by main.ts (which prints it) and the CI test (which
// asserts it): deposits through the command side while two query processes read, and a
// write by plain SQL that no cache hears of. Every read is checked against the last
// committed event: none may be older.
import pg from 'pg';
import type { CommandHandler } from './commands.js';
import type { QueryProcess } from './processes.js';

/** What a run saw. */
export interface ScenarioResult {
  readonly commands: number;
  readonly reads: number;
  /** Reads that returned a projection or history older than the last committed event. */
  readonly staleReads: number;
  /** Statements that reached the database for reads, both processes together, by table. */
  readonly queries: { balances: number; events: number };
}

/**
 * Runs the story: both processes read account 1 (warm), then `rounds` deposits, each
 * followed by reads of the balance and the history in both processes once its
 * invalidations arrived (the trigger's and the Invalidator's: the bus's latency is the
 * only lag the cache allows), then a deposit to account 2 written by plain SQL (only the
 * trigger hears it).
 */
export async function runScenario(
  [q1, q2]: readonly [QueryProcess, QueryProcess],
  commands: CommandHandler,
  admin: pg.Pool,
  schema: string,
  rounds: number,
): Promise<ScenarioResult> {
  let reads = 0;
  let staleReads = 0;
  const check = (lastEventId: number | undefined, committed: number) => {
    reads++;
    if ((lastEventId ?? 0) < committed) staleReads++;
  };
  let committed = await commands.deposit(1, 100);
  await delivered([q1, q2], () => commands.deposit(1, 0).then((id) => (committed = id)), 2);
  for (const q of [q1, q2]) {
    check((await q.balance(1))?.lastEventId, committed);
    check((await q.history(1)).lastEventId, committed);
  }
  for (let i = 0; i < rounds; i++) {
    await delivered([q1, q2], () => commands.deposit(1, 10).then((id) => (committed = id)), 2);
    for (const q of [q1, q2]) {
      check((await q.balance(1))?.lastEventId, committed);
      check((await q.history(1)).lastEventId, committed);
    }
  }
  // Account 2, written by plain SQL in one transaction: no Invalidator, only the trigger.
  for (const q of [q1, q2]) check((await q.balance(2))?.lastEventId, 0);
  let outside = 0;
  await delivered(
    [q1, q2],
    async () => {
      outside = await plainDeposit(admin, schema, 2, 50);
    },
    1,
  );
  for (const q of [q1, q2]) check((await q.balance(2))?.lastEventId, outside);
  const [c1, c2] = await Promise.all([q1.counts(), q2.counts()]);
  return {
    commands: rounds + 3,
    reads,
    staleReads,
    queries: { balances: c1.balances + c2.balances, events: c1.events + c2.events },
  };
}

/** Runs `write`, then waits until each process has applied `messages` more invalidations (bounded). */
async function delivered(
  processes: readonly QueryProcess[],
  write: () => Promise<unknown>,
  messages: number,
): Promise<void> {
  const before = await Promise.all(processes.map((q) => q.invalidations()));
  await write();
  const deadline = Date.now() + 10_000;
  for (;;) {
    const now = await Promise.all(processes.map((q) => q.invalidations()));
    if (now.every((n, i) => n >= (before[i] as number) + messages)) return;
    if (Date.now() > deadline)
      throw new Error(`invalidations not delivered within 10 s (${before} -> ${now})`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A deposit as a script or psql would make it: plain SQL, no cache anywhere. */
async function plainDeposit(
  admin: pg.Pool,
  schema: string,
  accountId: number,
  amount: number,
): Promise<number> {
  const s = pg.escapeIdentifier(schema);
  const { rows } = await admin.query<{ id: string }>(
    `WITH e AS (INSERT INTO ${s}.events (account_id, amount) VALUES ($1, $2) RETURNING id)
     INSERT INTO ${s}.balances (account_id, balance, last_event_id) SELECT $1, $2, id FROM e
     ON CONFLICT (account_id) DO UPDATE
       SET balance = balances.balance + EXCLUDED.balance, last_event_id = EXCLUDED.last_event_id
     RETURNING last_event_id AS id`,
    [accountId, amount],
  );
  return Number(rows[0]?.id);
}
