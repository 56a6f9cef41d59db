// Scenario parameters. FULL fits the 15-minute budget on a 2-core machine;
// QUICK is a smoke run of the harness (well under a minute).
export const FULL = {
  repeats: 3,
  fanout: {
    // Low rates get a 0.6 s window (still ≥ 1,000 deliveries at K=10), high rates 1.2 s.
    configs: [
      { clients: 10, rate: 200, windowMs: 600 }, { clients: 50, rate: 200, windowMs: 600 }, { clients: 200, rate: 200, windowMs: 600 },
      { clients: 10, rate: 2000 }, { clients: 50, rate: 2000 }, { clients: 200, rate: 2000 }
    ],
    warmupMs: 300,
    windowMs: 1200,
    processes: 2
  },
  // The issue asks for 5,000 docs × 2; 2,500 × 2 (5,000 connections) keeps the
  // run within budget and per-connection figures did not differ in trial runs.
  manydocs: { docs: 2500, perDoc: 2, concurrency: 200, baselineMs: 500, settleMs: 1000 },
  storm: { clients: 2000, docs: 100, timeoutMs: 30_000 },
  coldload: { updates: 100_000, settleMinMs: 3000 },
  // Memory-only servers have nothing to make durable; the raw relay shows how fast relaying alone goes.
  durable: { targets: ['raw', 'yws-leveldb', 'hp-sqlite', 'tandem-leveldb'], updates: 6000, window: 2000, multi: { processes: 2, writersPerProcess: 2, updates: 3000 }, settleMs: 2500 },
  kill: { rates: [1000, 8000], seconds: 3 },
  redis: { configs: [{ clients: 20, rate: 200 }, { clients: 20, rate: 2000 }], warmupMs: 300, windowMs: 1200 }
}

// The smoke run: every scenario and server once, with tiny loads and short
// waits (so Hocuspocus' 2 s store debounce is not waited out in 5a).
export const QUICK = {
  repeats: 1,
  fanout: { configs: [{ clients: 20, rate: 1000 }], warmupMs: 150, windowMs: 400, processes: 2 },
  manydocs: { docs: 50, perDoc: 2, concurrency: 100, baselineMs: 100, settleMs: 100 },
  storm: { clients: 100, docs: 10, timeoutMs: 10_000 },
  coldload: { updates: 1000, settleMinMs: 300 },
  durable: { targets: ['raw', 'yws-leveldb', 'hp-sqlite', 'tandem-leveldb'], updates: 1000, window: 500, multi: null, settleMs: 300 },
  kill: { rates: [1000], seconds: 1 },
  redis: { configs: [{ clients: 10, rate: 200 }], warmupMs: 150, windowMs: 400 }
}
