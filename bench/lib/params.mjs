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
  // Idle CPU is sampled over 31 s so that one 30 s ping round falls in the window.
  manydocs: { docs: 5000, perDoc: 2, concurrency: 400, baselineMs: 300, settleMs: 700, idleMs: 31_000, idleTargets: ['raw', 'yws-leveldb', 'tandem-leveldb'] },
  // Two load processes: from one, the generator itself saturated (0.8–0.9 cores).
  storm: { clients: 2000, docs: 100, timeoutMs: 30_000, processes: 2 },
  // Every size for tandem; the 100k build for the others (the cold load opens it).
  // Once: the four builds take a minute per server and vary little.
  build: { repeats: 1, targets: ['yws-leveldb', 'hp-sqlite', 'tandem-leveldb'], sizes: [25_000, 50_000, 100_000, 200_000], compareSizes: [100_000], writers: 4, window: 1000, settleMinMs: 2500, timeoutMs: 240_000 },
  coldload: { updates: 100_000, quietMs: 15_000 },
  crowd: { targets: ['raw', 'yws-leveldb', 'hp-sqlite', 'tandem-leveldb'], clients: 500, processes: 2, timeoutMs: 60_000 },
  hotdoc: { targets: ['raw', 'yws-mem', 'hp-mem', 'tandem-leveldb'], configs: [{ clients: 1000, rate: 200 }], warmupMs: 500, windowMs: 2000, processes: 2 },
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
  manydocs: { docs: 50, perDoc: 2, concurrency: 100, baselineMs: 100, settleMs: 100, idleMs: 1000, idleTargets: ['raw', 'tandem-leveldb'] },
  storm: { clients: 100, docs: 10, timeoutMs: 10_000, processes: 2 },
  build: { targets: ['yws-leveldb', 'hp-sqlite', 'tandem-leveldb'], sizes: [1000, 2000], compareSizes: [1000], writers: 4, window: 200, settleMinMs: 300, timeoutMs: 30_000 },
  coldload: { updates: 1000, quietMs: 2000 },
  crowd: { targets: ['raw', 'yws-leveldb', 'hp-sqlite', 'tandem-leveldb'], clients: 40, processes: 2, timeoutMs: 20_000 },
  hotdoc: { targets: ['raw', 'tandem-leveldb'], configs: [{ clients: 60, rate: 200 }], warmupMs: 150, windowMs: 400, processes: 2 },
  durable: { targets: ['raw', 'yws-leveldb', 'hp-sqlite', 'tandem-leveldb'], updates: 1000, window: 500, multi: null, settleMs: 300 },
  kill: { rates: [1000], seconds: 1, quietMs: 1500 },
  redis: { configs: [{ clients: 10, rate: 200 }], warmupMs: 150, windowMs: 400 }
}
