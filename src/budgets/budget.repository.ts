import { sql, type Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { instantFromPg } from "../time.js";
import type { Budget, BudgetScope } from "./budget.js";

interface BudgetRow {
  scope_kind: BudgetScope["kind"];
  scope_id: string;
  monthly_limit_usd: string;
  time_zone: string;
  updated_at: string;
}

function budgetFromRow(row: BudgetRow): Budget {
  return {
    scope: { kind: row.scope_kind, id: row.scope_id },
    monthlyLimitUsd: row.monthly_limit_usd,
    timeZone: row.time_zone,
    updatedAt: instantFromPg(row.updated_at),
  };
}

/** Creates or replaces the budget of a scope; returns it as stored. */
export async function upsertBudget(
  db: Kysely<Database>,
  scope: BudgetScope,
  monthlyLimitUsd: string,
  timeZone: string,
): Promise<Budget> {
  const row = await db
    .insertInto("budget")
    .values({ scope_kind: scope.kind, scope_id: scope.id, monthly_limit_usd: monthlyLimitUsd, time_zone: timeZone })
    .onConflict((oc) =>
      oc.columns(["scope_kind", "scope_id"]).doUpdateSet({
        monthly_limit_usd: monthlyLimitUsd,
        time_zone: timeZone,
        updated_at: sql<string>`now()`,
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
  return budgetFromRow(row);
}

export async function findBudget(db: Kysely<Database>, scope: BudgetScope): Promise<Budget | undefined> {
  const row = await db
    .selectFrom("budget")
    .selectAll()
    .where("scope_kind", "=", scope.kind)
    .where("scope_id", "=", scope.id)
    .executeTakeFirst();
  return row ? budgetFromRow(row) : undefined;
}

/** Every budget: global first, then users, then agents, each by id. */
export async function listBudgets(db: Kysely<Database>): Promise<Budget[]> {
  const rows = await db
    .selectFrom("budget")
    .selectAll()
    .orderBy(sql`array_position(array['global', 'user', 'agent'], scope_kind)`)
    .orderBy("scope_id")
    .execute();
  return rows.map(budgetFromRow);
}

/** Removes a scope's budget; true when there was one. */
export async function deleteBudget(db: Kysely<Database>, scope: BudgetScope): Promise<boolean> {
  const result = await db
    .deleteFrom("budget")
    .where("scope_kind", "=", scope.kind)
    .where("scope_id", "=", scope.id)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}
