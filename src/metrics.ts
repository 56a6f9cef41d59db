import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * Prometheus metrics, one registry per server (never the global one, so
 * several servers in one process do not share counters).
 */
/**
 * Per-message and per-delivery counts are plain numbers on the hot path and
 * copied into prom-client only when /metrics is scraped: a labelled
 * `Counter.inc` per delivery would cost more than the delivery itself.
 */
export class HotCounter {
  private readonly values = new Map<string, number>()
  inc (label: string, by = 1): void {
    this.values.set(label, (this.values.get(label) ?? 0) + by)
  }

  entries (): IterableIterator<[string, number]> {
    return this.values.entries()
  }
}

function lazyCounter (registry: Registry, name: string, help: string, labelName: string | undefined, source: HotCounter): void {
  // eslint-disable-next-line no-new
  new Counter({
    name,
    help,
    labelNames: labelName === undefined ? [] : [labelName],
    registers: [registry],
    collect () {
      this.reset()
      for (const [label, value] of source.entries()) {
        if (labelName === undefined) this.inc(value)
        else this.inc({ [labelName]: label }, value)
      }
    }
  })
}

export function createMetrics () {
  const registry = new Registry()
  // The event-loop delay is sampled every 100 ms rather than prom-client's
  // default 10 ms: a 10 ms timer alone keeps an idle server at about 1 % of
  // a core; 100 ms still gives a scrape interval hundreds of samples, and a
  // long pause always delays the next one.
  collectDefaultMetrics({ register: registry, prefix: 'tandem_', eventLoopMonitoringPrecision: 100 })
  const hot = {
    messagesIn: new HotCounter(),
    messagesOut: new HotCounter(),
    bytesIn: new HotCounter(),
    bytesOut: new HotCounter()
  }
  lazyCounter(registry, 'tandem_messages_in_total', 'Messages received, by type', 'type', hot.messagesIn)
  lazyCounter(registry, 'tandem_messages_out_total', 'Messages sent, by type', 'type', hot.messagesOut)
  lazyCounter(registry, 'tandem_bytes_in_total', 'WebSocket payload bytes received', undefined, hot.bytesIn)
  lazyCounter(registry, 'tandem_bytes_out_total', 'WebSocket payload bytes sent', undefined, hot.bytesOut)
  const m = {
    registry,
    ...hot,
    connections: new Gauge({ name: 'tandem_connections', help: 'Open WebSocket connections', registers: [registry] }),
    rooms: new Gauge({ name: 'tandem_rooms_loaded', help: 'Documents loaded in memory', registers: [registry] }),
    updatesApplied: new Counter({ name: 'tandem_updates_applied_total', help: 'Document updates applied, by origin', labelNames: ['origin'], registers: [registry] }),
    droppedUpdates: new Counter({ name: 'tandem_updates_dropped_total', help: 'Updates dropped, by reason', labelNames: ['reason'], registers: [registry] }),
    storeSeconds: new Histogram({ name: 'tandem_storage_write_seconds', help: 'Time to store one batch', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry] }),
    batchSize: new Histogram({ name: 'tandem_storage_batch_updates', help: 'Updates per stored batch', buckets: [1, 2, 5, 10, 20, 50, 100, 500], registers: [registry] }),
    applyStoreSeconds: new Histogram({ name: 'tandem_update_apply_store_seconds', help: 'From receiving an update to relaying it stored', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry] }),
    storageErrors: new Counter({ name: 'tandem_storage_errors_total', help: 'Failed loads and writes', labelNames: ['op'], registers: [registry] }),
    awarenessStates: new Gauge({ name: 'tandem_awareness_states', help: 'Awareness states held across loaded documents', registers: [registry] }),
    unknownMessages: new Counter({ name: 'tandem_unknown_messages_total', help: 'Messages of an unknown type (ignored)', registers: [registry] }),
    authFailures: new Counter({ name: 'tandem_auth_failures_total', help: 'Rejected requests, by reason', labelNames: ['reason'], registers: [registry] }),
    closes: new Counter({ name: 'tandem_closes_total', help: 'Connections closed, by close code', labelNames: ['code'], registers: [registry] }),
    rateLimited: new Counter({ name: 'tandem_rate_limit_hits_total', help: 'Connections closed by a rate limit, by kind', labelNames: ['kind'], registers: [registry] }),
    refused: new Counter({ name: 'tandem_refused_total', help: 'Messages and requests refused by a limit or check, by error code', labelNames: ['code'], registers: [registry] }),
    deferredFrames: new Counter({ name: 'tandem_frames_deferred_total', help: 'Frames processed in a later event-loop turn because the run of frames they arrived in used up its time slice', registers: [registry] }),
    forgedAwareness: new Counter({ name: 'tandem_awareness_forged_total', help: 'Awareness entries dropped because the connection does not own the client id', registers: [registry] })
  }
  return m
}

export type Metrics = ReturnType<typeof createMetrics>
