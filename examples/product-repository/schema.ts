// The example's own database: a `products` table in a schema of its own, seeded with a
// few rows. Kept apart from the repository so that a test runner without decorator
// support (vitest's transform) can migrate without loading decorated classes.
import pg from 'pg';

/** A row of the products table. */
export interface Product {
  id: number;
  name: string;
  priceCents: number;
}

/** The rows the example starts with. */
export const SEED: readonly Product[] = [
  { id: 1, name: 'Kettle', priceCents: 3_999 },
  { id: 2, name: 'Teapot', priceCents: 2_450 },
  { id: 3, name: 'Mug', priceCents: 899 },
  { id: 4, name: 'Tea tin', priceCents: 1_299 },
];

/**
 * Creates `schema` and its `products` table if missing, and (re)seeds the rows in
 * {@link SEED}. Idempotent: run it before starting the instances.
 */
export async function migrate(pool: pg.Pool, schema: string): Promise<void> {
  const s = pg.escapeIdentifier(schema);
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${s}.products (
       id          integer PRIMARY KEY,
       name        text    NOT NULL,
       price_cents integer NOT NULL CHECK (price_cents >= 0)
     )`,
  );
  await pool.query(
    `INSERT INTO ${s}.products (id, name, price_cents)
     SELECT * FROM unnest($1::int[], $2::text[], $3::int[])
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, price_cents = EXCLUDED.price_cents`,
    [SEED.map((p) => p.id), SEED.map((p) => p.name), SEED.map((p) => p.priceCents)],
  );
}

/** Drops the schema and everything in it (the products and the L3 cache table). */
export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
}
