/**
 * Pieces every browser example shares: who am I, where is the server, the
 * who's-online list and the saved indicator.
 */
import type { Peer, SaveStatus, TandemClient } from 'tandem/client'

const NAMES = ['Ada', 'Grace', 'Alan', 'Barbara', 'Edsger', 'Margaret', 'Donald', 'Frances', 'Ken', 'Radia']
/** Eight hues far enough apart to tell carets apart at a glance (no two reds, no two greens). */
const COLORS = ['#e11d48', '#2563eb', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#92400e', '#334155']

export interface Identity {
  name: string
  color: string
  colorLight: string
}

const params = new URLSearchParams(location.search)

/** The identity `identity()` made, which `bindOnlineList` keeps distinct from the others'. */
let chosen: Identity | undefined

/** `?name=` and `?color=` pick who you are; otherwise a random name and color. */
export function identity (): Identity {
  const name = params.get('name') ?? pick(NAMES)
  const color = params.get('color') ?? pick(COLORS)
  chosen = { name, color, colorLight: color + '33' }
  return chosen
}

function pick<T> (list: T[]): T {
  return list[Math.floor(Math.random() * list.length)]
}

/**
 * Keeps a random name and color apart from everyone else's: two pages can
 * draw the same ones (they pick before they see each other). When a peer
 * shows the same name or color, the one with the larger client id picks
 * again among those nobody uses, so exactly one of the two changes. What
 * `?name=` and `?color=` set is kept.
 */
export function keepIdentityDistinct (client: TandemClient, me: Identity, onChange: () => void = () => {}): () => void {
  const fixedName = params.has('name')
  const fixedColor = params.has('color')
  const check = (): void => {
    const peers = client.presence.peers()
    const clash = (field: 'name' | 'color'): boolean => peers.some((p) => p[field] === me[field] && p.clientId < client.doc.clientID)
    let changed = false
    if (!fixedName && clash('name')) {
      const taken = new Set(peers.map((p) => p.name))
      me.name = pick(NAMES.filter((n) => !taken.has(n) && n !== me.name)) ?? `${me.name} ${1 + peers.length}`
      changed = true
    }
    if (!fixedColor && clash('color')) {
      const taken = new Set(peers.map((p) => p.color))
      me.color = pick(COLORS.filter((c) => !taken.has(c) && c !== me.color)) ?? me.color
      me.colorLight = me.color + '33'
      changed = true
    }
    if (!changed) return
    client.presence.set({ name: me.name, color: me.color, colorLight: me.colorLight })
    onChange()
  }
  check()
  return client.presence.on('change', check)
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

/**
 * Renders the who's-online list (you first, then everyone else) into `list`,
 * and keeps the identity from `identity()` distinct from everyone else's
 * (see `keepIdentityDistinct`): every example shows this list.
 */
export function bindOnlineList (client: TandemClient, list: HTMLElement, options: OnlineListOptions = {}): () => void {
  const render = (): void => {
    const me = client.presence.local
    // While offline nobody sees you, whatever your presence says.
    const myStatus = client.status === 'offline' ? 'offline' : client.presence.status
    const rows = [
      { name: `${me.name ?? 'You'} (you)`, color: me.color, status: myStatus, note: undefined, id: client.doc.clientID },
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
  const stopDistinct = chosen === undefined ? () => {} : keepIdentityDistinct(client, chosen, render)
  const offPresence = client.presence.on('change', render)
  const offStatus = client.on('status', render)
  return () => {
    stopDistinct()
    offPresence()
    offStatus()
  }
}
