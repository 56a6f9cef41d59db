/**
 * Last-writer-wins registers on the entries of a `Y.Map`.
 *
 * Each key holds one plain value (JSON or bytes) that is always replaced as a
 * whole, never merged. The conflict rule is the one of `Y.Map` itself, and it
 * is the same on every replica without any clock or server decision:
 *
 * - A set that has seen another set of the same key wins over it (causal order).
 * - Two concurrent sets of one key (neither saw the other, e.g. both made
 *   offline) are ordered by the Yjs client id of the writer: the write from the
 *   higher `doc.clientID` wins. Every replica picks the same winner once it
 *   has both updates, whatever the order they arrive in.
 * - A delete is a set to "absent" and follows the same rule.
 *
 * Wall-clock time plays no part, so a client with a wrong clock cannot win
 * every conflict.
 */
import * as Y from 'yjs'

/** A value a register can hold: replaced as a whole on every set. */
export type RegisterValue =
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | RegisterValue[]
  | { [key: string]: RegisterValue }

export type RegisterSchema = { [key: string]: RegisterValue }

export interface RegisterChange {
  /** True when the change was made through this replica's own document. */
  local: boolean
}

export interface Register<T extends RegisterSchema> {
  /** The backing map, for bindings that need it. */
  readonly map: Y.Map<T[keyof T]>
  get<K extends keyof T & string>(key: K): T[K] | undefined
  set<K extends keyof T & string>(key: K, value: T[K]): void
  delete<K extends keyof T & string>(key: K): void
  has<K extends keyof T & string>(key: K): boolean
  /**
   * Calls `listener` with the new value (or `undefined` after a delete) each
   * time the key changes, locally or remotely. Returns the unsubscribe function.
   */
  observe<K extends keyof T & string>(
    key: K,
    listener: (value: T[K] | undefined, change: RegisterChange) => void
  ): () => void
  /** A plain snapshot of every key that is set. */
  toJSON(): Partial<T>
}

/**
 * Opens the registers stored in `doc.getMap(mapName)`.
 *
 * @example
 *   const room = register<{ title: string }>(doc, 'room')
 *   room.set('title', 'Weekly sync')
 *   room.observe('title', (title) => { heading.textContent = title ?? '' })
 */
export function register<T extends RegisterSchema> (doc: Y.Doc, mapName: string): Register<T> {
  const map = doc.getMap<T[keyof T]>(mapName)
  return {
    map,
    get: (key) => map.get(key) as any,
    set: (key, value) => {
      if (value === undefined) throw new TypeError(`register ${mapName}.${key}: undefined is not a value, use delete()`)
      map.set(key, value)
    },
    delete: (key) => { map.delete(key) },
    has: (key) => map.has(key),
    observe: (key, listener) => {
      const handler = (event: Y.YMapEvent<T[keyof T]>): void => {
        if (!event.keysChanged.has(key)) return
        listener(map.get(key) as any, { local: event.transaction.local })
      }
      map.observe(handler)
      return () => map.unobserve(handler)
    },
    toJSON: () => {
      const out: Partial<T> = {}
      for (const [key, value] of map.entries()) (out as any)[key] = value
      return out
    }
  }
}
