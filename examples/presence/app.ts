/**
 * A chat room: messages in a Y.Array, the room title in an LWW register,
 * who's online with online/away status, and a typing indicator carried by
 * presence (no extra protocol).
 */
import { connect, type Peer } from 'tandem/client'
import { awayAfterMs, bindOnlineList, bindSaveIndicator, docName, identity, serverUrl } from '../shared/ui.js'

interface Message {
  id: string
  author: string
  color: string
  text: string
  sentAt: number
}

/** How long after the last keystroke "typing…" goes away. */
const TYPING_IDLE_MS = 3000

const me = identity()
const client = connect({
  url: serverUrl(),
  doc: docName('presence'),
  offline: true,
  awayAfterMs: awayAfterMs(60_000)
})
client.presence.set({ name: me.name, color: me.color, typing: false })

const messages = client.doc.getArray<Message>('messages')
const room = client.register<{ title: string }>('room')

// --- title (LWW register) --------------------------------------------------

const titleInput = document.getElementById('title') as HTMLInputElement
const showTitle = (title: string | undefined): void => {
  // Do not overwrite what the user is typing; the next change or blur catches up.
  if (document.activeElement !== titleInput) titleInput.value = title ?? 'Untitled room'
}
showTitle(room.get('title'))
room.observe('title', showTitle)
const commitTitle = (): void => {
  const title = titleInput.value.trim()
  if (title !== '' && title !== room.get('title')) room.set('title', title)
  titleInput.value = room.get('title') ?? 'Untitled room'
}
titleInput.addEventListener('change', commitTitle)
titleInput.addEventListener('blur', commitTitle)
titleInput.addEventListener('keydown', (event) => { if (event.key === 'Enter') titleInput.blur() })

// --- messages --------------------------------------------------------------

const list = document.getElementById('messages')!
const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })

function renderMessages (): void {
  list.replaceChildren(...messages.toArray().map((message) => {
    const item = document.createElement('li')
    item.className = 'message'
    const avatar = document.createElement('span')
    avatar.className = 'avatar'
    avatar.style.background = message.color
    avatar.textContent = message.author.slice(0, 1).toUpperCase()
    const body = document.createElement('div')
    const meta = document.createElement('div')
    meta.className = 'meta'
    const author = document.createElement('b')
    author.textContent = message.author
    meta.append(author, time.format(message.sentAt))
    const text = document.createElement('div')
    text.className = 'text'
    text.textContent = message.text
    body.append(meta, text)
    item.append(avatar, body)
    return item
  }))
  list.scrollTop = list.scrollHeight
}
messages.observe(renderMessages)
renderMessages()

const input = document.getElementById('message') as HTMLInputElement
document.getElementById('composer')!.addEventListener('submit', (event) => {
  event.preventDefault()
  const text = input.value.trim()
  if (text === '') return
  messages.push([{
    id: `${client.doc.clientID}-${Date.now().toString(36)}`,
    author: me.name,
    color: me.color,
    text,
    sentAt: Date.now()
  }])
  input.value = ''
  setTyping(false)
})

// --- typing indicator ------------------------------------------------------

let typingTimer: ReturnType<typeof setTimeout> | undefined
function setTyping (typing: boolean): void {
  clearTimeout(typingTimer)
  if (typing) typingTimer = setTimeout(() => setTyping(false), TYPING_IDLE_MS)
  if (client.presence.local.typing !== typing) client.presence.set({ typing })
}
input.addEventListener('input', () => setTyping(input.value !== ''))

const typingLine = document.getElementById('typing')!
function renderTyping (): void {
  const names = client.presence.peers().filter((peer) => peer.state.typing === true).map((peer) => peer.name ?? 'Someone')
  typingLine.textContent = names.length === 0
    ? ''
    : names.length === 1 ? `${names[0]} is typing…` : `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`
}
client.presence.on('change', renderTyping)

bindSaveIndicator(client, document.getElementById('save')!)
bindOnlineList(client, document.getElementById('people')!, {
  note: (peer: Peer) => peer.state.typing === true ? 'typing…' : undefined
})

// For the browser console (and the end-to-end tests).
Object.assign(globalThis, { example: { client, messages, room } })
