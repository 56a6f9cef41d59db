// y-leveldb ships types that its package.json "exports" does not expose under
// NodeNext resolution; declare the part tandem uses.
declare module 'y-leveldb' {
  export class LeveldbPersistence {
    constructor (location: string, options?: { Level?: unknown; levelOptions?: object })
    _transact<T> (f: (db: any) => Promise<T>): Promise<T | null>
    getAllDocNames (): Promise<string[]>
    getStateVector (docName: string): Promise<Uint8Array>
    getYDoc (docName: string): Promise<import('yjs').Doc>
    storeUpdate (docName: string, update: Uint8Array): Promise<number>
    destroy (): Promise<void>
  }
  export function getCurrentUpdateClock (db: any, docName: string): Promise<number>
  export function getLevelBulkKeys (db: any, opts: object): Promise<any[]>
  export function getLevelBulkEntries (db: any, opts: object): Promise<Array<{ key: any[]; value: Uint8Array }>>
}
