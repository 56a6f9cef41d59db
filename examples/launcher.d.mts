export declare const BROWSER_EXAMPLES: string[]
export declare function bundle (name: string, outDir: string): Promise<void>
export interface ExampleOptions {
  host?: string
  /** Page port; 0 picks a free one. @default 8080 */
  port?: number
  /** tandem port; 0 picks a free one. @default 1234 */
  tandemPort?: number
  /** @default 'leveldb' */
  persistence?: 'leveldb' | 'memory'
  /** @default <tmpdir>/tandem-examples/<name> */
  dataDir?: string
  /** @default 'warn' */
  logLevel?: string
}
export interface RunningExample {
  url: string
  tandemPort: number
  close (): Promise<void>
}
export declare function startExample (name: string, options?: ExampleOptions): Promise<RunningExample>
