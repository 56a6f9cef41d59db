import type * as Y from 'yjs'

/**
 * Whether `doc` was left broken by an exception inside a Yjs transaction.
 *
 * Yjs resets `doc._transaction` and `doc._transactionCleanups` at the end of
 * its transaction cleanup. When the cleanup itself throws (typically a stack
 * overflow while garbage-collecting a deeply nested deleted type), the reset
 * never happens: every later transaction is queued behind the broken one,
 * its cleanup never runs, and the doc never emits `update` again. A room
 * whose doc is in that state accepts writes it will never store, so it must
 * fail instead.
 *
 * Only meaningful between transactions (after `Y.applyUpdate` or `transact`
 * returned or threw), not from inside an observer.
 */
export function isDocStuck (doc: Y.Doc): boolean {
  return doc._transaction !== null || doc._transactionCleanups.length > 0
}
