import { sql } from "kysely";
import pg from "pg";
import type { DatabaseHandle } from "../db/database.js";
import type { CommittedEvents } from "../ledger/ledger.service.js";
import type { Logger } from "../logger.js";
import type { Instant } from "../time.js";

/**
 * What a replica hears about ledger changes. `events`: some replica committed `count` new events with event times
 * from `earliest` to `latest`. `resync`: notices may have been missed (the listen connection was lost and is back),
 * so anything may have changed.
 */
export type ChangeNotice = { kind: "events"; count: number; earliest: Instant; latest: Instant } | { kind: "resync" };

/**
 * Cross-replica change notification over the database itself (no other broker): PostgreSQL LISTEN/NOTIFY on a
 * dedicated connection, or PGlite's own listen API on the embedded engine.
 */
export interface ChangeFeed {
  /**
   * Announces committed events to every replica (this one included). Returns at once and never throws: the
   * NOTIFY is sent right after the commit, and writes that commit while one is in flight share the next one.
   */
  publish(events: CommittedEvents): void;
  /** Calls the listener for every notice until the returned function is called. */
  subscribe(listener: (notice: ChangeNotice) => void): () => void;
  /** Stops listening; publish() does nothing afterwards. */
  close(): Promise<void>;
}

/** The NOTIFY channel. Payloads are a few dozen bytes of JSON, far under NOTIFY's 8,000-byte limit. */
export const CHANGE_CHANNEL = "costtracking_ledger_events";

/** The application_name of the PostgreSQL listen connection, so operators (and tests) can find it. */
export const LISTENER_APPLICATION_NAME = "costtracking-change-feed";

/** Reconnection backoff of the PostgreSQL listener: doubling from 100 ms to 5 s, with jitter. */
const RECONNECT_INITIAL_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/** Opens the change feed of a database; on PostgreSQL it connects (and LISTENs) before returning. */
export async function openChangeFeed(database: DatabaseHandle, logger: Logger): Promise<ChangeFeed> {
  const listeners = new Set<(notice: ChangeNotice) => void>();
  const dispatch = (notice: ChangeNotice) => {
    for (const listener of listeners) {
      try {
        listener(notice);
      } catch (error) {
        logger.error("change listener failed", { error: String(error) });
      }
    }
  };
  const onPayload = (payload: string | undefined) => dispatch(parsePayload(payload));

  let stopListening: () => Promise<void>;
  if (database.pglite) {
    stopListening = await database.pglite.listen(CHANGE_CHANNEL, onPayload);
  } else if (database.pool) {
    const listener = new PostgresListener(database.pool, onPayload, () => dispatch({ kind: "resync" }), logger);
    await listener.start();
    stopListening = () => listener.close();
  } else {
    throw new Error("the database handle has neither a PGlite instance nor a pg pool");
  }

  const publisher = new CoalescingPublisher((payload) =>
    sql`select pg_notify(${CHANGE_CHANNEL}, ${payload})`.execute(database.db).then(() => undefined),
    logger,
  );
  return {
    publish: (events) => publisher.publish(events),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      await publisher.close();
      listeners.clear();
      await stopListening();
    },
  };
}

/** A notice from a NOTIFY payload; anything unreadable is treated as "anything may have changed". */
export function parsePayload(payload: string | undefined): ChangeNotice {
  try {
    const parsed = JSON.parse(payload ?? "") as { n?: unknown; from?: unknown; to?: unknown };
    if (typeof parsed.n === "number" && typeof parsed.from === "string" && typeof parsed.to === "string") {
      return { kind: "events", count: parsed.n, earliest: parsed.from, latest: parsed.to };
    }
  } catch {
    // fall through
  }
  return { kind: "resync" };
}

/** Merges two announcements into one: the counts add up and the time spans join. */
function merge(a: CommittedEvents | undefined, b: CommittedEvents): CommittedEvents {
  if (!a) return b;
  return {
    count: a.count + b.count,
    earliest: a.earliest < b.earliest ? a.earliest : b.earliest,
    latest: a.latest > b.latest ? a.latest : b.latest,
  };
}

/**
 * The least time between two NOTIFYs of a replica. A lone write is announced at once; under sustained ingestion
 * the writes of each 20 ms share one NOTIFY, so announcing costs at most 50 small statements a second whatever the
 * ingest rate (and adds at most 20 ms to a monitor's latency).
 */
const NOTIFY_MIN_GAP_MS = 20;

/**
 * Sends one NOTIFY at a time, at most one per NOTIFY_MIN_GAP_MS: what commits meanwhile is merged into the next.
 * So a burst of writes of any size reaches the listeners as a handful of notices.
 */
class CoalescingPublisher {
  private pending: CommittedEvents | undefined;
  private sending: Promise<void> | undefined;
  private lastSentAt = -Infinity;
  private closed = false;

  constructor(
    private readonly send: (payload: string) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  publish(events: CommittedEvents): void {
    if (this.closed) return;
    this.pending = merge(this.pending, events);
    this.sending ??= this.drain();
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const wait = this.lastSentAt + NOTIFY_MIN_GAP_MS - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const { count, earliest, latest } = this.pending;
      this.pending = undefined;
      this.lastSentAt = performance.now();
      try {
        await this.send(JSON.stringify({ n: count, from: earliest, to: latest }));
      } catch (error) {
        // The events are committed; a lost notice only delays monitors until the next one (or a resync).
        this.logger.warn("could not announce committed events", { error: String(error) });
      }
    }
    this.sending = undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.sending;
  }
}

/**
 * LISTEN on a connection of its own (a pooled connection would be handed to queries, and lose the LISTEN when
 * returned). When the connection is lost (a database restart, a terminated backend, a network cut) it reconnects
 * with jittered backoff and then reports a resync, because notices sent meanwhile were lost.
 */
class PostgresListener {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly onPayload: (payload: string | undefined) => void,
    private readonly onReconnected: () => void,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.client = await this.connect();
  }

  private async connect(): Promise<pg.Client> {
    const options = this.pool.options;
    const client = new pg.Client({
      ...(options.connectionString ? { connectionString: options.connectionString } : {}),
      ...(options.host ? { host: options.host, port: options.port, user: options.user, database: options.database } : {}),
      ...(options.password ? { password: options.password } : {}),
      application_name: LISTENER_APPLICATION_NAME,
      connectionTimeoutMillis: 5_000,
      // Notices a dead peer (no FIN, no RST) instead of listening to a silent socket for ever.
      keepAlive: true,
    });
    client.on("notification", (message) => {
      if (message.channel === CHANGE_CHANNEL) this.onPayload(message.payload);
    });
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client, undefined));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
      return client;
    } catch (error) {
      client.end().catch(() => {});
      throw error;
    }
  }

  private lost(client: pg.Client, error: Error | undefined): void {
    if (this.closed || client !== this.client) return;
    this.client = undefined;
    client.end().catch(() => {});
    this.logger.warn("change feed connection lost; reconnecting", { error: error ? error.message : "ended" });
    this.reconnectLater();
  }

  private reconnectLater(): void {
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_INITIAL_MS * 2 ** this.failures);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect().then(
        (client) => {
          if (this.closed) {
            client.end().catch(() => {});
            return;
          }
          this.client = client;
          this.failures = 0;
          this.logger.info("change feed reconnected");
          this.onReconnected();
        },
        (error: unknown) => {
          if (this.closed) return;
          this.failures++;
          this.logger.warn("change feed reconnect failed", { error: String(error), attempt: this.failures });
          this.reconnectLater();
        },
      );
    }, delay);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}
