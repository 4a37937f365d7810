import type { Kysely } from "kysely";
import { AggregationService, type Stats } from "../aggregation/aggregation.service.js";
import type { Dimension, EventFilter, GroupTotals, PeriodWord } from "../aggregation/event-filter.js";
import type { ReadReplica, ReplicaStatus } from "../db/read-replica.js";
import type { Database } from "../db/schema.js";
import { ConsumerTooSlowError, ServerShuttingDownError } from "../errors.js";
import { Money } from "../money.js";
import { instantFromDate, type Clock, type Instant } from "../time.js";
import { budgetCrossings, budgetState, defaultBudgets, type BudgetAlert, type BudgetScope, type BudgetSource, type BudgetState } from "./budget.js";
import type { ChangeFeed, ChangeNotice } from "./change-feed.js";
import { ReplicaSync } from "./replica-sync.js";
import { monthBounds } from "./watch.repository.js";

/** The time range a watch counts: the filter's own (fixed), a range word, or a rolling window ending now. */
export type WatchRange = { kind: "filter" } | { kind: "period"; period: PeriodWord } | { kind: "rolling"; seconds: number };

/** A validated WatchStats request. */
export interface WatchQuery {
  filter: EventFilter;
  range: WatchRange;
  timeZone: string;
  groupBy: Dimension | undefined;
  groupLimit: number;
  minIntervalMs: number;
  heartbeatMs: number;
}

/** The limits of a watch request, documented in watch.proto. */
export const WATCH_LIMITS = {
  defaultMinIntervalMs: 1_000,
  minIntervalFloorMs: 100,
  maxMinIntervalMs: 3_600_000,
  defaultHeartbeatMs: 15_000,
  heartbeatFloorMs: 1_000,
  maxHeartbeatMs: 300_000,
  defaultGroupLimit: 100,
  maxGroupLimit: 1_000,
  maxWindowSeconds: 366 * 86_400,
} as const;

/** One full answer to a watch query, read from one consistent database snapshot. */
export interface WatchAnswer {
  snapshotTime: Instant;
  stats: Stats;
  groups: GroupTotals[];
  omittedGroupCount: number;
  budget: BudgetState;
  /** How far behind the primary the read replica was; undefined when the answer was read from the primary. */
  readReplica: ReplicaStatus | undefined;
  /** The figures only (not the times, not the replica's lag), to tell whether the answer changed. */
  fingerprint: string;
}

export interface WatchSnapshot extends Omit<WatchAnswer, "fingerprint"> {
  sequence: number;
}

/** A message of a watch stream. */
export type WatchUpdate =
  | { kind: "snapshot"; snapshot: WatchSnapshot }
  | { kind: "heartbeat"; time: Instant }
  | { kind: "budgetAlert"; alert: BudgetAlert };

/** Where a watch delivers its updates: the transport, as the RPC layer adapts it. */
export interface WatchSink {
  /** Delivers an update; false when the transport's buffer is full (then the RPC layer calls drained() later). */
  send(update: WatchUpdate): boolean;
  /** Ends the stream with an error. */
  end(error: unknown): void;
}

/** An open watch, as its RPC layer holds it. */
export interface WatchHandle {
  /** The transport's buffer has room again. */
  drained(): void;
  /** The caller went away: stop and free everything. */
  close(): void;
}

export interface WatchServiceOptions {
  clock: Clock;
  /** How long a stream's transport buffer may stay full before the stream is ended with RESOURCE_EXHAUSTED. */
  stallMs: number;
  budgets?: BudgetSource;
  /**
   * Set when `db` is a read replica: each computation round first waits (bounded) for the replica to replay the
   * primary's WAL up to where it was when the change was heard, and snapshots carry the replica's lag.
   */
  replica?: ReadReplica;
  /** Reports failures of the background checks of a lagging replica. */
  onReplicaError?: (error: unknown) => void;
}

/** How long a computation round waits for the read replica to replay the change that woke it (then computes anyway). */
export const REPLICA_CATCH_UP_TIMEOUT_MS = 2_000;
/** How often a replica that is further behind than that is checked, so monitors get the change once it arrives. */
const REPLICA_CHASE_INTERVAL_MS = 250;

/** Cached answers of ranges that move with time are reused only this fresh, so a new stream never starts stale. */
const MOVING_RANGE_REUSE_MS = 1_000;

/**
 * After a computation that took T, the next one starts no sooner than T x this later. With one computation at a
 * time, monitors hold at most a third of one database connection's time however many there are and however
 * large the ledger grows: past that, their updates slow down (and coalesce), ingestion does not.
 */
const COMPUTE_REST_FACTOR = 2;

/** Runs computations one at a time, first come first served, resting between them in proportion to their cost. */
export class ComputeGate {
  private busy = false;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly restFactor: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.busy) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy = true;
    const started = performance.now();
    try {
      return await work();
    } finally {
      setTimeout(() => this.handOver(), (performance.now() - started) * this.restFactor).unref();
    }
  }

  /** Passes the turn to the next waiting computation, if any. */
  private handOver(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.busy = false;
  }
}

/**
 * Live answers for monitors. Every replica hears every committed write through the change feed; a notice marks
 * the affected watches dirty, and each dirty watch recomputes its full answer when its interval allows:
 *
 * - Full snapshots, not deltas. A snapshot replaces what the consumer shows, so a coalesced, dropped or
 *   reordered update can never leave a dashboard wrong, a reconnect needs no replay, and the server keeps no
 *   per-consumer history: only the last answer it sent (to skip sending the same answer twice).
 * - Rate: at most one snapshot per min interval; notices in between only set a flag, so a burst of any size
 *   costs each watch one recomputation per interval.
 * - Shared work: watches with the same query share one computation (a "topic"): 100 dashboards on the same view
 *   cost one query per interval, not 100. Computations run one at a time with a rest in proportion to their cost
 *   (ComputeGate), so monitors never take more than a fixed share of the database from ingestion.
 * - Back-pressure: a watch whose transport buffer is full sends nothing more (its changes coalesce into the next
 *   snapshot once the buffer drains); if it stays full for `stallMs` the stream is ended with
 *   ConsumerTooSlowError. Ingestion never waits for a watch.
 */
export class WatchService {
  private epoch = 0;
  private readonly topics = new Map<string, Topic>();
  private readonly streams = new Set<WatchStream>();
  private readonly unsubscribe: () => void;
  private readonly budgets: BudgetSource;
  private readonly gate = new ComputeGate(COMPUTE_REST_FACTOR);
  private readonly replicaSync: ReplicaSync | undefined;
  private closed = false;

  constructor(
    private readonly db: Kysely<Database>,
    feed: ChangeFeed,
    private readonly options: WatchServiceOptions,
  ) {
    this.budgets = options.budgets ?? defaultBudgets;
    this.replicaSync =
      options.replica &&
      new ReplicaSync(options.replica, {
        catchUpTimeoutMs: REPLICA_CATCH_UP_TIMEOUT_MS,
        chaseIntervalMs: REPLICA_CHASE_INTERVAL_MS,
        // The replica now holds a change some snapshot was computed without: recompute every watch.
        onCaughtUp: () => this.onNotice({ kind: "resync" }),
        onError: (error) => options.onReplicaError?.(error),
      });
    this.unsubscribe = feed.subscribe((notice) => this.onNotice(notice));
  }

  /** Opens a watch: its first snapshot is computed at once. */
  open(query: WatchQuery, sink: WatchSink): WatchHandle {
    if (this.closed) {
      sink.end(new ServerShuttingDownError("the server is shutting down; reconnect"));
      return { drained() {}, close() {} };
    }
    const key = JSON.stringify([query.filter, query.range, query.timeZone, query.groupBy, query.groupLimit]);
    let topic = this.topics.get(key);
    if (!topic) {
      topic = new Topic(query, () => this.epoch, () => this.compute(query));
      this.topics.set(key, topic);
    }
    const stream = new WatchStream(query, sink, topic, this.options, this.epoch, {
      nextEpoch: () => ++this.epoch,
      closed: () => {
        this.streams.delete(stream);
        topic.streams.delete(stream);
        if (topic.streams.size === 0 && this.topics.get(key) === topic) this.topics.delete(key);
      },
    });
    this.streams.add(stream);
    topic.streams.add(stream);
    stream.start();
    return stream;
  }

  /** The number of open streams and of distinct queries they watch. */
  get load(): { streams: number; topics: number } {
    return { streams: this.streams.size, topics: this.topics.size };
  }

  /**
   * On a read replica: the computation rounds that waited for it to replay a change, how many are waiting now, and
   * how many gave up after REPLICA_CATCH_UP_TIMEOUT_MS (their snapshots showed the lag; a new one followed once it
   * caught up). Undefined when snapshots are read from the primary.
   */
  get replicaCatchUps(): { rounds: number; waiting: number; timedOut: number } | undefined {
    return this.replicaSync && { ...this.replicaSync.counts };
  }

  /** Ends every stream (UNAVAILABLE: reconnect elsewhere) and stops listening. */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    this.replicaSync?.close();
    for (const stream of [...this.streams]) stream.fail(new ServerShuttingDownError("the server is shutting down; reconnect"));
  }

  private onNotice(notice: ChangeNotice): void {
    const epoch = ++this.epoch;
    const now = this.options.clock.now().getTime();
    for (const topic of this.topics.values()) {
      if (!topic.affectedBy(notice, now)) continue;
      for (const stream of topic.streams) stream.invalidate(epoch);
    }
  }

  /**
   * The full answer, from one read-only REPEATABLE READ transaction: every figure sees the same events. On a read
   * replica, not before the replica has replayed the changes heard so far (or the wait's bound has passed).
   */
  private async compute(query: WatchQuery): Promise<WatchAnswer> {
    const caughtUp = this.replicaSync ? await this.replicaSync.catchUp(this.epoch) : undefined;
    return this.gate.run(() => this.computeNow(query, caughtUp?.primaryLsn));
  }

  private async computeNow(query: WatchQuery, primaryLsn: string | undefined): Promise<WatchAnswer> {
    const now = this.options.clock.now();
    const instant = instantFromDate(now);
    const scope = budgetScopeOf(query.filter);
    const budget = await this.budgets.monthlyBudgetUsd(scope);
    return this.db
      .transaction()
      .setIsolationLevel("repeatable read")
      .setAccessMode("read only")
      .execute(async (trx) => {
        // First statement, so the lag describes the transaction's own snapshot.
        const readReplica =
          this.options.replica && primaryLsn !== undefined ? await this.options.replica.statusAt(trx, primaryLsn) : undefined;
        // One "now" for the whole answer, so the range and the budget month agree.
        const aggregation = new AggregationService(trx, { now: () => new Date(now) });
        const range = await resolveRange(aggregation, query, now);
        const scoped: EventFilter = { ...query.filter, startTime: range.start, endTime: range.end };
        const stats = await aggregation.getStats(scoped, undefined, query.timeZone);
        const allGroups = query.groupBy ? await aggregation.totalsBy(scoped, query.groupBy) : [];
        const month = await monthBounds(trx, instant, query.timeZone);
        const spent = await aggregation.totals({ ...scopeFilter(scope), startTime: month.start });
        const groups = allGroups.slice(0, query.groupLimit);
        const omittedGroupCount = allGroups.length - groups.length;
        const budgetNow = budgetState({
          scope,
          budget,
          spent: new Money(spent.costUsd),
          monthStart: month.start,
          monthEnd: month.end,
          now,
        });
        const { startTime: _start, endTime: _end, ...figures } = stats;
        return {
          snapshotTime: instant,
          stats,
          groups,
          omittedGroupCount,
          budget: budgetNow,
          readReplica,
          fingerprint: JSON.stringify([figures, groups, omittedGroupCount, budgetNow]),
        };
      });
  }
}

/** The budget a filter watches: its user's, else its agent's, else the global one. */
export function budgetScopeOf(filter: EventFilter): BudgetScope {
  if (filter.userId) return { kind: "user", id: filter.userId };
  if (filter.agentId) return { kind: "agent", id: filter.agentId };
  return { kind: "global" };
}

function scopeFilter(scope: BudgetScope): EventFilter {
  if (scope.kind === "user") return { userId: scope.id };
  if (scope.kind === "agent") return { agentId: scope.id };
  return {};
}

async function resolveRange(
  aggregation: AggregationService,
  query: WatchQuery,
  now: Date,
): Promise<{ start: Instant | undefined; end: Instant | undefined }> {
  switch (query.range.kind) {
    case "filter":
      return { start: query.filter.startTime, end: query.filter.endTime };
    case "period":
      return aggregation.resolvePeriod(query.range.period, query.timeZone);
    case "rolling":
      return { start: instantFromDate(new Date(now.getTime() - query.range.seconds * 1000)), end: undefined };
  }
}

/**
 * The watches of one query and their shared answer. An answer may serve a watch when its computation started
 * after the latest notice that concerned the watch (epochs order notices and computations).
 */
class Topic {
  readonly streams = new Set<WatchStream>();
  private latest: { epoch: number; at: number; answer: WatchAnswer } | undefined;
  private inflight: { epoch: number; promise: Promise<WatchAnswer> } | undefined;
  readonly movesWithTime: boolean;

  constructor(
    private readonly query: WatchQuery,
    private readonly currentEpoch: () => number,
    private readonly computeAnswer: () => Promise<WatchAnswer>,
  ) {
    this.movesWithTime = query.range.kind !== "filter";
  }

  /** Whether a notice can change this topic's answer: events outside a fixed range or rolling window cannot. */
  affectedBy(notice: ChangeNotice, nowMs: number): boolean {
    if (notice.kind === "resync") return true;
    const { range, filter } = this.query;
    if (range.kind === "filter") {
      if (filter.startTime && notice.latest < filter.startTime) return false;
      if (filter.endTime && notice.earliest >= filter.endTime) return false;
    }
    if (range.kind === "rolling" && Date.parse(notice.latest) < nowMs - range.seconds * 1000) return false;
    return true;
  }

  /** An answer that reflects every notice up to `needed`: the cached one, the one being computed, or a new one. */
  answer(needed: number): Promise<WatchAnswer> {
    const latest = this.latest;
    if (latest && latest.epoch >= needed && (!this.movesWithTime || performance.now() - latest.at < MOVING_RANGE_REUSE_MS)) {
      return Promise.resolve(latest.answer);
    }
    if (this.inflight && this.inflight.epoch >= needed) return this.inflight.promise;
    const epoch = this.currentEpoch();
    const at = performance.now();
    const promise = this.computeAnswer();
    const inflight = { epoch, promise };
    this.inflight = inflight;
    promise.then(
      (answer) => {
        if (!this.latest || this.latest.epoch <= epoch) this.latest = { epoch, at, answer };
        if (this.inflight === inflight) this.inflight = undefined;
      },
      () => {
        if (this.inflight === inflight) this.inflight = undefined;
      },
    );
    return promise;
  }
}

/** One open stream: its rate limit, heartbeat, back-pressure and budget crossings. */
class WatchStream implements WatchHandle {
  private needed: number;
  private dirty = true;
  private computing = false;
  private blocked = false;
  private closed = false;
  private heartbeatOwed = false;
  private lastSentAt = -Infinity;
  private lastFingerprint: string | undefined;
  private lastBudget: BudgetState | undefined;
  private sequence = 0;
  private dueTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly query: WatchQuery,
    private readonly sink: WatchSink,
    private readonly topic: Topic,
    private readonly options: WatchServiceOptions,
    epoch: number,
    private readonly service: { nextEpoch(): number; closed(): void },
  ) {
    this.needed = epoch;
  }

  start(): void {
    this.schedule();
    this.armHeartbeat();
  }

  /** Something this watch counts may have changed. */
  invalidate(epoch: number): void {
    this.dirty = true;
    this.needed = Math.max(this.needed, epoch);
    this.schedule();
  }

  drained(): void {
    if (!this.blocked || this.closed) return;
    this.blocked = false;
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    this.schedule();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.dueTimer);
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.stallTimer);
    this.lastFingerprint = undefined;
    this.lastBudget = undefined;
    this.service.closed();
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.close();
    this.sink.end(error);
  }

  /** Runs a recomputation when one is wanted and allowed: dirty, idle, not blocked, and the interval has passed. */
  private schedule(): void {
    if (this.closed || this.computing || this.blocked || this.dueTimer || !this.dirty) return;
    const wait = this.lastSentAt + this.query.minIntervalMs - performance.now();
    this.dueTimer = setTimeout(() => {
      this.dueTimer = undefined;
      void this.run();
    }, Math.max(0, wait));
  }

  private async run(): Promise<void> {
    if (this.closed || this.blocked) return;
    // A timer may fire a fraction of a millisecond early; the interval is a promise to the consumer.
    if (performance.now() < this.lastSentAt + this.query.minIntervalMs) return this.schedule();
    this.dirty = false;
    this.computing = true;
    let answer: WatchAnswer;
    try {
      answer = await this.topic.answer(this.needed);
    } catch (error) {
      this.computing = false;
      this.fail(error);
      return;
    }
    this.computing = false;
    if (this.closed) return;
    this.deliver(answer);
    this.schedule();
  }

  /** Sends the answer when it differs from the last one sent, followed by any budget crossings. */
  private deliver(answer: WatchAnswer): void {
    const alerts = budgetCrossings(this.lastBudget, answer.budget);
    if (answer.fingerprint === this.lastFingerprint && alerts.length === 0) {
      if (this.heartbeatOwed) this.sendHeartbeat();
      return;
    }
    this.sequence++;
    this.lastFingerprint = answer.fingerprint;
    this.lastBudget = answer.budget;
    this.lastSentAt = performance.now();
    this.heartbeatOwed = false;
    const { fingerprint: _fingerprint, ...snapshot } = answer;
    let room = this.sink.send({ kind: "snapshot", snapshot: { ...snapshot, sequence: this.sequence } });
    for (const alert of alerts) room = this.sink.send({ kind: "budgetAlert", alert }) && room;
    this.afterWrite(room);
  }

  private sendHeartbeat(): void {
    this.heartbeatOwed = false;
    this.afterWrite(this.sink.send({ kind: "heartbeat", time: instantFromDate(this.options.clock.now()) }));
  }

  private afterWrite(room: boolean): void {
    this.armHeartbeat();
    if (room || this.blocked) return;
    this.blocked = true;
    this.stallTimer = setTimeout(
      () => this.fail(new ConsumerTooSlowError(`the stream was not read for ${this.options.stallMs} ms; reconnect`)),
      this.options.stallMs,
    );
  }

  private armHeartbeat(): void {
    clearTimeout(this.heartbeatTimer);
    if (this.closed) return;
    this.heartbeatTimer = setTimeout(() => this.onHeartbeatDue(), this.query.heartbeatMs);
  }

  /**
   * Nothing was sent for a heartbeat interval. A range that moves with time (a rolling window, a range word) is
   * re-evaluated first, so events leaving the window show within one heartbeat; the heartbeat is sent only if
   * that changed nothing. A blocked stream gets nothing: its consumer has unread messages already.
   */
  private onHeartbeatDue(): void {
    this.heartbeatTimer = undefined;
    if (this.closed) return;
    if (this.blocked) return this.armHeartbeat();
    const mayRefresh = performance.now() >= this.lastSentAt + this.query.minIntervalMs;
    if (this.topic.movesWithTime && mayRefresh && !this.computing) {
      this.heartbeatOwed = true;
      this.invalidate(this.service.nextEpoch());
      return;
    }
    this.sendHeartbeat();
  }
}
