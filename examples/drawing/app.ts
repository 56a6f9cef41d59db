/**
 * A shared canvas: strokes live in a Y.Array (each a Y.Map whose points grow
 * while you draw, so others see the line as it is drawn), live cursors and the
 * online/away list come from presence, and Y.UndoManager undoes only the
 * strokes drawn here.
 */
import * as Y from 'yjs'
import { connect, type Peer } from 'tandem/client'
import { awayAfterMs, bindOnlineList, bindSaveIndicator, docName, identity, serverUrl } from '../shared/ui.js'

interface Point { x: number, y: number }
type Stroke = Y.Map<unknown>

const PALETTE = ['#0f172a', '#e11d48', '#2563eb', '#16a34a', '#d97706', '#7c3aed']
const WIDTH = 960
const HEIGHT = 600

const me = identity()
const client = connect({
  url: serverUrl(),
  doc: docName('drawing'),
  offline: true,
  awayAfterMs: awayAfterMs(30_000)
})
client.presence.set({ name: me.name, color: me.color, cursor: null })

const strokes = client.doc.getArray<Stroke>('strokes')
/** Origin of every local drawing transaction; the undo manager tracks only it. */
const LOCAL = Symbol('local drawing')
// One undo step per stroke: capturing is cut at pen down and pen up, never by time.
const undoManager = new Y.UndoManager(strokes, { trackedOrigins: new Set([LOCAL]), captureTimeout: 24 * 60 * 60 * 1000 })

// --- drawing ---------------------------------------------------------------

const canvas = document.getElementById('canvas') as HTMLCanvasElement
const ctx = canvas.getContext('2d')!
const scale = window.devicePixelRatio || 1
canvas.width = WIDTH * scale
canvas.height = HEIGHT * scale
ctx.scale(scale, scale)

let penColor = me.color
let current: { stroke: Stroke, points: Y.Array<number>, last: Point } | null = null

function pointFrom (event: PointerEvent): Point {
  const rect = canvas.getBoundingClientRect()
  return { x: Math.round(event.clientX - rect.left), y: Math.round(event.clientY - rect.top) }
}

canvas.addEventListener('pointerdown', (event) => {
  if (event.button !== 0) return
  canvas.setPointerCapture(event.pointerId)
  const p = pointFrom(event)
  undoManager.stopCapturing()
  const stroke = new Y.Map<unknown>()
  const points = new Y.Array<number>()
  client.doc.transact(() => {
    stroke.set('id', `${client.doc.clientID}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`)
    stroke.set('color', penColor)
    stroke.set('width', 4)
    stroke.set('author', me.name)
    stroke.set('points', points)
    points.push([p.x, p.y])
    strokes.push([stroke])
  }, LOCAL)
  current = { stroke, points, last: p }
})

canvas.addEventListener('pointermove', (event) => {
  const p = pointFrom(event)
  moveCursor(p)
  if (current === null) return
  // Skip sub-pixel jitter; it only adds updates.
  if (Math.abs(p.x - current.last.x) + Math.abs(p.y - current.last.y) < 2) return
  const points = current.points
  client.doc.transact(() => points.push([p.x, p.y]), LOCAL)
  current.last = p
})

const endStroke = (): void => {
  if (current === null) return
  current = null
  undoManager.stopCapturing()
}
canvas.addEventListener('pointerup', endStroke)
canvas.addEventListener('pointercancel', endStroke)
canvas.addEventListener('pointerleave', () => moveCursor(null))

// --- rendering -------------------------------------------------------------

let frame = 0
function scheduleRender (): void {
  if (frame === 0) frame = requestAnimationFrame(render)
}

function render (): void {
  frame = 0
  ctx.clearRect(0, 0, WIDTH, HEIGHT)
  ctx.lineCap = 'round'
  ctx.lineJoin = 'round'
  for (const stroke of strokes) {
    const points = stroke.get('points') as Y.Array<number> | undefined
    if (points === undefined || points.length < 2) continue
    const xy = points.toArray()
    ctx.strokeStyle = String(stroke.get('color') ?? '#0f172a')
    ctx.lineWidth = Number(stroke.get('width') ?? 4)
    ctx.beginPath()
    ctx.moveTo(xy[0], xy[1])
    if (xy.length === 2) ctx.lineTo(xy[0] + 0.1, xy[1])
    for (let i = 2; i + 1 < xy.length; i += 2) ctx.lineTo(xy[i], xy[i + 1])
    ctx.stroke()
  }
  canvas.dataset.strokes = String(strokes.length)
  document.getElementById('count')!.textContent = `${strokes.length} stroke${strokes.length === 1 ? '' : 's'}`
  undoButton.disabled = undoManager.undoStack.length === 0
  redoButton.disabled = undoManager.redoStack.length === 0
}
strokes.observeDeep(scheduleRender)

// --- undo ------------------------------------------------------------------

const undoButton = document.getElementById('undo') as HTMLButtonElement
const redoButton = document.getElementById('redo') as HTMLButtonElement
undoButton.addEventListener('click', () => undoManager.undo())
redoButton.addEventListener('click', () => undoManager.redo())
undoManager.on('stack-item-added', scheduleRender)
undoManager.on('stack-item-popped', scheduleRender)
window.addEventListener('keydown', (event) => {
  if (!(event.ctrlKey || event.metaKey) || event.key.toLowerCase() !== 'z') return
  event.preventDefault()
  if (event.shiftKey) undoManager.redo()
  else undoManager.undo()
})

// --- palette ---------------------------------------------------------------

const palette = document.getElementById('palette')!
for (const color of [me.color, ...PALETTE.filter((c) => c !== me.color)]) {
  const button = document.createElement('button')
  button.style.background = color
  button.title = color
  button.setAttribute('role', 'radio')
  button.setAttribute('aria-checked', String(color === penColor))
  button.addEventListener('click', () => {
    penColor = color
    for (const b of Array.from(palette.children)) b.setAttribute('aria-checked', String(b === button))
  })
  palette.append(button)
}

// --- live cursors ----------------------------------------------------------

let pendingCursor: Point | null = null
let cursorFrame = 0
function moveCursor (p: Point | null): void {
  // At most one presence update per frame, however fast the pointer moves.
  pendingCursor = p
  if (cursorFrame !== 0) return
  cursorFrame = requestAnimationFrame(() => {
    cursorFrame = 0
    client.presence.set({ cursor: pendingCursor })
  })
}

const cursorLayer = document.getElementById('cursors')!
const cursorElements = new Map<number, HTMLElement>()

function renderCursors (): void {
  const seen = new Set<number>()
  for (const peer of client.presence.peers()) {
    const cursor = peer.cursor as Point | null | undefined
    if (cursor == null || typeof cursor.x !== 'number') continue
    seen.add(peer.clientId)
    const element = cursorElements.get(peer.clientId) ?? createCursor(peer)
    element.style.transform = `translate(${cursor.x}px, ${cursor.y}px)`
    element.style.opacity = peer.status === 'away' ? '0.5' : '1'
  }
  for (const [clientId, element] of cursorElements) {
    if (!seen.has(clientId)) {
      element.remove()
      cursorElements.delete(clientId)
    }
  }
}

function createCursor (peer: Peer): HTMLElement {
  const color = peer.color ?? '#64748b'
  const element = document.createElement('div')
  element.className = 'cursor'
  element.dataset.name = peer.name ?? ''
  element.innerHTML = `<svg width="18" height="22" viewBox="0 0 18 22"><path d="M1 1 L1 17 L5.5 13 L8.5 20.5 L11.5 19.2 L8.6 12 L15 12 Z" fill="${color}" stroke="#fff" stroke-width="1.5" stroke-linejoin="round"/></svg>`
  const label = document.createElement('span')
  label.className = 'label'
  label.style.background = color
  label.textContent = peer.name ?? 'Anonymous'
  element.append(label)
  cursorLayer.append(element)
  cursorElements.set(peer.clientId, element)
  return element
}

client.presence.on('change', renderCursors)

bindSaveIndicator(client, document.getElementById('save')!)
bindOnlineList(client, document.getElementById('people')!)
scheduleRender()

// For the browser console (and the end-to-end tests).
Object.assign(globalThis, {
  example: {
    client,
    strokes,
    undoManager,
    strokeIds: () => strokes.toArray().map((s) => String(s.get('id'))).sort()
  }
})
