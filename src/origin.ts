import type { Connection } from './connection.js'

/**
 * Where a change to a room's document came from. Every transaction on a room's
 * Y.Doc carries one, and the origin alone decides what happens next:
 *
 * | origin     | store                        | relay to local clients      | publish to other instances |
 * |------------|------------------------------|-----------------------------|----------------------------|
 * | connection | yes                          | all but the sender          | yes                        |
 * | http       | yes                          | all                         | yes                        |
 * | fanout     | only if storage is not shared| all                         | no (it came from there)    |
 * | load       | no (it came from storage)    | no                          | no                         |
 */
export type Origin =
  | { kind: 'connection'; connection: Connection }
  | { kind: 'http' }
  | { kind: 'fanout' }
  | { kind: 'load' }

export const HTTP_ORIGIN: Origin = Object.freeze({ kind: 'http' })
export const FANOUT_ORIGIN: Origin = Object.freeze({ kind: 'fanout' })
export const LOAD_ORIGIN: Origin = Object.freeze({ kind: 'load' })
