import type { Member } from './member.js'

/**
 * Where a change to a room's document came from. Every transaction on a room's
 * Y.Doc carries one, and the functions below, not the room, decide what
 * happens to the change:
 *
 * | origin     | stored                          | relayed to local clients | published to other instances |
 * |------------|---------------------------------|--------------------------|------------------------------|
 * | connection | yes                             | all but the sender       | yes                          |
 * | http       | yes                             | all                      | yes                          |
 * | local      | yes                             | all                      | yes                          |
 * | fanout     | only if storage is not shared   | all                      | no (it came from there)      |
 * | load       | no (it came from storage)       | no                       | no                           |
 *
 * `local` is a change made in this process by the host application (a hook or
 * the server-side document API); any origin that is not one of ours counts as
 * `local`, so a host's own transactions are stored and relayed too.
 */
export type Origin =
  | { readonly kind: 'connection'; readonly member: Member; readonly userId?: string }
  | { readonly kind: 'http'; readonly userId?: string }
  | { readonly kind: 'local' }
  | { readonly kind: 'fanout' }
  | { readonly kind: 'load' }

export type OriginKind = Origin['kind']

export const HTTP_ORIGIN: Origin = Object.freeze({ kind: 'http' })
export const LOCAL_ORIGIN: Origin = Object.freeze({ kind: 'local' })
export const FANOUT_ORIGIN: Origin = Object.freeze({ kind: 'fanout' })
export const LOAD_ORIGIN: Origin = Object.freeze({ kind: 'load' })

const KINDS = new Set<string>(['connection', 'http', 'local', 'fanout', 'load'])

/** The origin of a transaction: ours as is, anything else (a host's own transaction) as `local`. */
export function originOf (value: unknown): Origin {
  if (typeof value === 'object' && value !== null && KINDS.has((value as { kind?: unknown }).kind as string)) {
    return value as Origin
  }
  return LOCAL_ORIGIN
}

/** Whether this instance writes the change to storage. */
export function isStored (origin: Origin, sharedStorage: boolean): boolean {
  if (origin.kind === 'load') return false
  // Another instance stored it already when storage is shared.
  if (origin.kind === 'fanout') return !sharedStorage
  return true
}

/** Whether local clients receive the change. */
export function isRelayed (origin: Origin): boolean {
  return origin.kind !== 'load'
}

/** Whether the change goes to other instances. */
export function isPublished (origin: Origin): boolean {
  return origin.kind !== 'fanout' && origin.kind !== 'load'
}

/** The member that must not get its own change back, if any. */
export function senderOf (origin: Origin): Member | null {
  return origin.kind === 'connection' ? origin.member : null
}

/** The user a change counts for, when one is known. */
export function authorOf (origin: Origin): string | undefined {
  return origin.kind === 'connection' || origin.kind === 'http' ? origin.userId : undefined
}
