/**
 * Pieces every browser example shares: who am I, where is the server, the
 * who's-online list and the saved indicator.
 */
import type { Peer, SaveStatus, TandemClient } from 'tandem/client'

const NAMES = ['Ada', 'Grace', 'Alan', 'Barbara', 'Edsger', 'Margaret', 'Donald', 'Frances', 'Ken', 'Radia']
const COLORS = ['#e11d48', '#2563eb', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d']

export interface Identity {
  name: string
  color: string
  colorLight: string
}

const params = new URLSearchParams(location.search)

/** `?name=` and `?color=` pick who you are; otherwise a random name and color. */
export function identity (): Identity {
  const pick = <T>(list: T[]): T => list[Math.floor(Math.random() * list.length)]
  const name = params.get('name') ?? pick(NAMES)
  const color = params.get('color') ?? COLORS[hash(name) % COLORS.length] ?? pick(COLORS)
  return { name, color, colorLight: color + '33' }
}

/** The document name: `?doc=`, or one per example. */
export function docName (example: string): string {
  return params.get('doc') ?? `examples/${example}`
}

/** `?away=` in milliseconds shortens the away timeout (handy to try it out). */
export function awayAfterMs (fallbackMs: number): number {
  const value = Number(params.get('away'))
  return Number.isFinite(value) && value > 0 ? value : fallbackMs
}

/** The tandem server: same host as the page, port from /config.js. */
export function serverUrl (): string {
  const config = (globalThis as { TANDEM?: { port: number } }).TANDEM
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  return `${scheme}://${location.hostname}:${config?.port ?? 1234}`
}

const SAVE_LABELS: Record<SaveStatus, string> = { saved: 'Saved', saving: 'Saving…', offline: 'Offline' }

/** Keeps `element` showing the saved signal; `data-status` drives the styling. */
export function bindSaveIndicator (client: TandemClient, element: HTMLElement): void {
  const render = (status: SaveStatus): void => {
    element.dataset.status = status
    element.textContent = SAVE_LABELS[status]
  }
  render(client.status)
  client.on('status', render)
}

export interface OnlineListOptions {
  /** Extra text after a name, e.g. "typing…". */
  note?: (peer: Peer) => string | undefined
}

/** Renders the who's-online list (you first, then everyone else) into `list`. */
export function bindOnlineList (client: TandemClient, list: HTMLElement, options: OnlineListOptions = {}): () => void {
  const render = (): void => {
    const me = client.presence.local
    const rows = [
      { name: `${me.name ?? 'You'} (you)`, color: me.color, status: client.presence.status, note: undefined, id: client.doc.clientID },
      ...client.presence.peers().map((peer) => ({
        name: peer.name ?? 'Anonymous',
        color: peer.color,
        status: peer.status,
        note: options.note?.(peer),
        id: peer.clientId
      }))
    ]
    list.replaceChildren(...rows.map((row) => {
      const item = document.createElement('li')
      item.className = 'person'
      item.dataset.status = row.status
      item.dataset.clientId = String(row.id)
      const avatar = document.createElement('span')
      avatar.className = 'avatar'
      avatar.style.background = row.color ?? '#64748b'
      avatar.textContent = row.name.slice(0, 1).toUpperCase()
      const name = document.createElement('span')
      name.className = 'name'
      name.textContent = row.name
      const status = document.createElement('span')
      status.className = 'status'
      status.textContent = row.note ?? row.status
      item.append(avatar, name, status)
      return item
    }))
  }
  render()
  return client.presence.on('change', render)
}

function hash (text: string): number {
  let h = 0
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) >>> 0
  return h
}
