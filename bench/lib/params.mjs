// Scenario parameters. FULL takes 15–20 minutes on a shared 2-core machine;
// QUICK is a smoke run of the harness (well under a minute).
export const FULL = {
  repeats: 3,
  fanout: {
    // Low rates get a 0.5 s window (still ≥ 900 deliveries at K=10), high rates 1 s.
    configs: [
      { clients: 10, rate: 200, windowMs: 500 }, { clients: 50, rate: 200, windowMs: 500 }, { clients: 200, rate: 200, windowMs: 500 },
      { clients: 10, rate: 2000 }, { clients: 50, rate: 2000 }, { clients: 200, rate: 2000 }
    ],
    warmupMs: 200,
    windowMs: 1000,
    processes: 2
  },
  // Fewer documents would not do: fixed heap overhead spread over 5,000
  // connections instead of 10,000 raised every figure by ~30 % in trial runs.
  manydocs: { docs: 5000, perDoc: 2, concurrency: 400, baselineMs: 300, settleMs: 700 },
  // Two load processes: from one, the generator itself saturated (0.8–0.9 cores).
  storm: { clients: 2000, docs: 100, timeoutMs: 30_000, processes: 2 },
  coldload: { updates: 100_000, settleMinMs: 3000, quietMs: 15_000 },
  // Memory-only servers have nothing to make durable; the raw relay shows how fast relaying alone goes.
  durable: { targets: ['raw', 'yws-leveldb', 'hp-sqlite', 'tandem-leveldb'], updates: 4000, window: 2000, multi: { processes: 2, writersPerProcess: 2, updates: 2000 }, settleMs: 2200 },
  kill: { rates: [1000, 8000], seconds: 3, quietMs: 4000 },
  redis: { configs: [{ clients: 20, rate: 200 }, { clients: 20, rate: 2000 }], warmupMs: 300, windowMs: 1200 }
}

// The smoke run: every scenario and server once, with tiny loads and short
// waits (so Hocuspocus' 2 s store debounce is not waited out in 5a).
export const QUICK = {
  repeats: 1,
  fanout: { configs: [{ clients: 20, rate: 1000 }], warmupMs: 150, windowMs: 400, processes: 2 },
  manydocs: { docs: 50, perDoc: 2, concurrency: 100, baselineMs: 100, settleMs: 100 },
  storm: { clients: 100, docs: 10, timeoutMs: 10_000, processes: 2 },
  coldload: { updates: 1000, settleMinMs: 300, quietMs: 2000 },
  durable: { targets: ['raw', 'yws-leveldb', 'hp-sqlite', 'tandem-leveldb'], updates: 1000, window: 500, multi: null, settleMs: 300 },
  kill: { rates: [1000], seconds: 1, quietMs: 1500 },
  redis: { configs: [{ clients: 10, rate: 200 }], warmupMs: 150, windowMs: 400 }
}
