export interface NodeClientResult {
  text: string
  owner: string | undefined
  same: boolean
}
export declare function main (options?: { log?: (line: string) => void, timeoutMs?: number }): Promise<NodeClientResult>
