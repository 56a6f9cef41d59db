// Scenario parameters. FULL fits the 15-minute budget on a 2-core machine;
// QUICK is a smoke run of the harness (well under a minute).
export const FULL = {
  repeats: 3,
  fanout: {
    configs: [
      { clients: 10, rate: 200 }, { clients: 50, rate: 200 }, { clients: 200, rate: 200 },
      { clients: 10, rate: 2000 }, { clients: 50, rate: 2000 }, { clients: 200, rate: 2000 }
    ],
    warmupMs: 500,
    windowMs: 2000,
    processes: 2
  },
  manydocs: { docs: 5000, perDoc: 2, concurrency: 200, settleMs: 1500 },
  storm: { clients: 2000, docs: 100, timeoutMs: 30_000 },
  coldload: { updates: 100_000, settleMinMs: 3000 },
  durable: { updates: 20_000, window: 2000, multi: { processes: 2, writersPerProcess: 2, updates: 10_000 }, settleMs: 3000 },
  kill: { rates: [1000, 8000], seconds: 3 }
}

export const QUICK = {
  repeats: 1,
  fanout: {
    configs: [{ clients: 20, rate: 1000 }],
    warmupMs: 200,
    windowMs: 500,
    processes: 2
  },
  manydocs: { docs: 50, perDoc: 2, concurrency: 100, settleMs: 100 },
  storm: { clients: 100, docs: 10, timeoutMs: 10_000 },
  coldload: { updates: 1000, settleMinMs: 2500 },
  durable: { updates: 1000, window: 500, multi: null, settleMs: 2500 },
  kill: { rates: [1000], seconds: 1 }
}
