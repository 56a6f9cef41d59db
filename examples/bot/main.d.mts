import type { TandemServer } from 'tandem'
export function startBot (server: TandemServer, name: string): Promise<() => void>
export function main (options?: { log?: (line: string) => void, timeoutMs?: number }): Promise<string[]>
