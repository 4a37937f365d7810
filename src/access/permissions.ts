import type { Role } from "./tokens.js";

/**
 * What each RPC needs. quote: any authenticated caller (pricing a usage reveals nothing stored); write: recording
 * events; read: queries and watches; admin: the price catalog and budgets. Unknown methods need admin, so a new RPC
 * that was not classified here is closed rather than open (and test/unit/permissions.test.ts fails until it is).
 */
export type Permission = "quote" | "read" | "write" | "admin";

export const METHOD_PERMISSIONS: Readonly<Record<string, Permission>> = {
  CalculateCost: "quote",
  EstimateCost: "quote",
  TrackApiCall: "write",
  TrackAgentExecution: "write",
  IngestEvents: "write",
  TrackEvents: "write",
  AggregateByTask: "read",
  AggregateByAgent: "read",
  AggregateByUser: "read",
  AggregateByPeriod: "read",
  AggregateCosts: "read",
  GetStats: "read",
  GetProviderBreakdown: "read",
  GetCostSummary: "read",
  GetCostHistory: "read",
  GetBudgetStatus: "read",
  ListBudgets: "read",
  ListModelPrices: "read",
  WatchStats: "read",
  ExportEvents: "read",
  UpsertModelPrice: "admin",
  SetBudget: "admin",
  DeleteBudget: "admin",
};

const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  reader: new Set(["quote", "read"]),
  writer: new Set(["quote", "write"]),
  admin: new Set(["quote", "read", "write", "admin"]),
};

/** The permission an RPC of CostTrackingService needs, by its method name. */
export function permissionOf(method: string): Permission {
  return METHOD_PERMISSIONS[method] ?? "admin";
}

export function roleGrants(role: Role, permission: Permission): boolean {
  return GRANTS[role].has(permission);
}
