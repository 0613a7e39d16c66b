import {
  AggregatorRegistry,
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from "prom-client";
import type { UpstreamCallReport } from "../agents/metrics.js";
import type { EngineMetrics } from "../engine/metrics.js";
import type { ItemStatus, MetricsSnapshot, Store } from "../store/types.js";

/** What the engine of this process reports about itself (Engine.stats()), when it runs here. */
export interface EngineGauges {
  held: number;
  running: number;
  buffered: number;
  /** Claimed ahead of the slots, waiting in the engine's local buffer. */
  claimedAhead?: number;
}

/** A registry's series as JSON (`getMetricsAsJSON`): what the engine thread sends at a scrape. */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

const ITEM_STATUSES: ItemStatus[] = ["pending", "processing", "awaiting_tool_calls", "success", "failed"];

/** Provider, model and outcome names whose series are found by name (`Metrics.upstreamSeries`). */
const MAX_NAMED_SERIES = 1024;

/** One upstream and outcome's series, made once (`Metrics.upstreamSeries`). */
interface UpstreamSeries {
  seconds: Histogram.Internal<string>;
  requests: Counter.Internal;
  /** Calls counted since the last scrape, added to `requests` when the counter is read. */
  pending: number;
}

/** What labels may name: the configured providers and models; anything else is `other`. */
export interface LabelBounds {
  providers: Iterable<string>;
  /** `provider/model` names (the model aliases' targets, the price table's keys). */
  models: Iterable<string>;
}

/**
 * Keeps label values to a known set, so that a client naming a new model per request (the
 * simulated provider takes any name, an OpenAI-compatible server too) cannot grow the registry
 * without bound: unknown providers and models are counted as `other`, codes outside 100-599 too.
 */
export class MetricLabels {
  private readonly providers: Set<string>;
  private readonly models: Set<string>;

  constructor(bounds: LabelBounds) {
    this.providers = new Set(bounds.providers);
    this.models = new Set(bounds.models);
  }

  provider(provider: string): string {
    return this.providers.has(provider) ? provider : "other";
  }

  model(provider: string, model: string): string {
    return this.providers.has(provider) && this.models.has(`${provider}/${model}`) ? model : "other";
  }

  code(code: number | string): string {
    const n = Number(code);
    return Number.isInteger(n) && n >= 100 && n <= 599 ? String(n) : "other";
  }
}

/**
 * The Prometheus registry of one process. Counts of items, batches and webhook deliveries are
 * read from the store at scrape time, so every node of a PostgreSQL deployment reports the same
 * totals and they always equal the batch counters. Upstream calls, 429s and retries are counted
 * by this process's engine through the EngineMetrics hooks.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly engine: EngineMetrics;
  private engineGauges: () => EngineGauges | null = () => null;
  /** The engine thread's series (its engine's gauges and upstream counts), when it runs in one. */
  private remote: (() => Promise<MetricsJson | null>) | null = null;
  /** The last store snapshot and when it was read: scrapes within `snapshotTtlMs` share it. */
  private snapshot: { at: number; value: Promise<MetricsSnapshot> } | null = null;
  private readonly snapshotTtlMs: number;

  private readonly items = new Gauge({
    name: "agentbatch_items",
    help: "Batch items by status, over every batch (from the batch counters)",
    labelNames: ["status"],
    registers: [this.registry],
  });
  private readonly batches = new Gauge({
    name: "agentbatch_batches",
    help: "Batches by status",
    labelNames: ["status"],
    registers: [this.registry],
  });
  private readonly queueDepth = new Gauge({
    name: "agentbatch_queue_depth",
    help: "Pending items of in_progress batches (runnable now or after a retry delay)",
    registers: [this.registry],
  });
  private readonly deliveries = new Gauge({
    name: "agentbatch_webhook_deliveries",
    help: "Webhook deliveries in the outbox by status (pending, delivered, failed)",
    labelNames: ["status"],
    registers: [this.registry],
  });
  private readonly deliveryAttempts = new Gauge({
    name: "agentbatch_webhook_delivery_attempts",
    help: "Attempts made on the webhook deliveries of each status",
    labelNames: ["status"],
    registers: [this.registry],
  });
  private readonly engineItems = new Gauge({
    name: "agentbatch_engine_items",
    help: "Items this process's engine holds: leased, in a model call, awaiting group commit, or claimed ahead",
    labelNames: ["state"],
    registers: [this.registry],
  });
  private readonly upstreamSeconds = new Histogram({
    name: "agentbatch_upstream_request_duration_seconds",
    help: "Latency of model calls by upstream and outcome",
    labelNames: ["provider", "model", "outcome"],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 60, 120],
    registers: [this.registry],
  });
  private readonly upstreamRequests = new Counter({
    name: "agentbatch_upstream_requests_total",
    help: "Model calls by upstream and outcome (success, retryable, failed)",
    labelNames: ["provider", "model", "outcome"],
    registers: [this.registry],
    // Counted per call in a plain number, added here at each read (a scrape, the engine thread's
    // series): prom-client hashes the labels on every inc, once per model call otherwise.
    collect: () => this.flushUpstreamRequests(),
  });
  private readonly rateLimited = new Counter({
    name: "agentbatch_upstream_rate_limited_total",
    help: "Model calls the upstream answered 429 (rate limited)",
    labelNames: ["provider", "model"],
    registers: [this.registry],
  });
  private readonly seriesByLabels = new Map<string, UpstreamSeries>();
  /** The series by provider, model and outcome as calls name them (at most `MAX_NAMED_SERIES`). */
  private readonly series = new Map<string, Map<string, Map<string, UpstreamSeries>>>();
  private namedSeries = 0;
  private readonly retries = new Counter({
    name: "agentbatch_item_retries_total",
    help: "Items put back for another attempt after a retryable failure, by upstream and error code",
    labelNames: ["provider", "model", "code"],
    registers: [this.registry],
  });

  constructor(
    private readonly store: Store,
    options: { processMetrics?: boolean; labels?: LabelBounds; snapshotTtlMs?: number } = {},
  ) {
    this.snapshotTtlMs = options.snapshotTtlMs ?? 0;
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    const bound = new MetricLabels(options.labels ?? { providers: [], models: [] });
    const upstream = (provider: string, model: string) => ({
      provider: bound.provider(provider),
      model: bound.model(provider, model),
    });
    this.engine = {
      upstreamCall: (r: UpstreamCallReport) => {
        const series = this.upstreamSeries(r.provider, r.model, r.outcome, upstream);
        const { seconds } = series;
        seconds.observe(r.durationMs / 1000);
        series.pending++;
        if (r.rateLimited) this.rateLimited.inc(upstream(r.provider, r.model));
      },
      itemRetried: (provider, model, code) =>
        this.retries.inc({ ...upstream(provider, model), code: bound.code(code) }),
    };
  }

  /**
   * The labelled series of one upstream and outcome, made once: prom-client checks and hashes
   * the labels on every observe otherwise, once per model call. The labels are bounded
   * (MetricLabels), so this map is too.
   */
  private upstreamSeries(
    provider: string,
    model: string,
    outcome: string,
    bound: (provider: string, model: string) => { provider: string; model: string },
  ): UpstreamSeries {
    // Known names by provider, model and outcome: no label object or key string per call.
    const known = this.series.get(provider)?.get(model)?.get(outcome);
    if (known) return known;
    const labels = bound(provider, model);
    const key = `${labels.provider}\u0000${labels.model}\u0000${outcome}`;
    let series = this.seriesByLabels.get(key);
    if (!series) {
      const all = { ...labels, outcome };
      series = {
        seconds: this.upstreamSeconds.labels(all),
        requests: this.upstreamRequests.labels(all),
        pending: 0,
      };
      this.seriesByLabels.set(key, series);
    }
    // Names are kept up to a bound: a client may name a new model per request (the simulated
    // provider takes any name); past it a new name is looked up by its labels each time.
    if (this.namedSeries < MAX_NAMED_SERIES) {
      this.namedSeries++;
      let byModel = this.series.get(provider);
      if (!byModel) {
        byModel = new Map();
        this.series.set(provider, byModel);
      }
      let byOutcome = byModel.get(model);
      if (!byOutcome) {
        byOutcome = new Map();
        byModel.set(model, byOutcome);
      }
      byOutcome.set(outcome, series);
    }
    return series;
  }

  /** Adds the calls counted since the last read to the upstream requests counter. */
  private flushUpstreamRequests(): void {
    for (const series of this.seriesByLabels.values()) {
      if (series.pending === 0) continue;
      series.requests.inc(series.pending);
      series.pending = 0;
    }
  }

  /** Reports the engine of this process (its held/running/buffered items) at every scrape. */
  watchEngine(stats: () => EngineGauges | null): void {
    this.engineGauges = stats;
  }

  /**
   * The engine runs in another thread (`src/threads/`): each scrape adds its series, summed with
   * this registry's (prom-client's cluster aggregation: the API thread's chat turns and the
   * engine's items count into the same upstream series).
   */
  watchRemote(series: () => Promise<MetricsJson | null>): void {
    this.remote = series;
  }

  /** The engine thread's side of a scrape: its engine gauges set now, and every series of it. */
  async engineSeries(): Promise<MetricsJson> {
    this.setEngineGauges();
    return this.registry.getMetricsAsJSON();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The store's aggregates, read at most once per `snapshotTtlMs` however many scrapers there
   * are (concurrent scrapes share one read), so scraping cannot load the database.
   */
  private storeSnapshot(): Promise<MetricsSnapshot> {
    const now = Date.now();
    if (!this.snapshot || now - this.snapshot.at >= this.snapshotTtlMs) {
      const value = this.store.metrics.snapshot();
      this.snapshot = { at: now, value };
      value.catch(() => {
        this.snapshot = null;
      });
    }
    return this.snapshot.value;
  }

  /** The Prometheus text exposition, with the store-derived gauges read now. */
  async render(): Promise<string> {
    const snap = await this.storeSnapshot();
    for (const status of ITEM_STATUSES) this.items.set({ status }, snap.items[status] ?? 0);
    this.batches.reset();
    for (const [status, count] of Object.entries(snap.batches)) this.batches.set({ status }, count ?? 0);
    this.queueDepth.set(snap.queueDepth);
    this.deliveries.reset();
    this.deliveryAttempts.reset();
    for (const [status, d] of Object.entries(snap.webhookDeliveries)) {
      this.deliveries.set({ status }, d?.deliveries ?? 0);
      this.deliveryAttempts.set({ status }, d?.attempts ?? 0);
    }
    this.setEngineGauges();
    const remote = this.remote ? await this.remote() : null;
    if (!remote) return this.registry.metrics();
    return AggregatorRegistry.aggregate([await this.registry.getMetricsAsJSON(), remote]).metrics();
  }

  private setEngineGauges(): void {
    const engine = this.engineGauges();
    this.engineItems.reset();
    if (engine) {
      this.engineItems.set({ state: "held" }, engine.held);
      this.engineItems.set({ state: "running" }, engine.running);
      this.engineItems.set({ state: "buffered" }, engine.buffered);
      if (engine.claimedAhead !== undefined)
        this.engineItems.set({ state: "claimed_ahead" }, engine.claimedAhead);
    }
  }
}
