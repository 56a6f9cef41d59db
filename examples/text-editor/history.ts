/**
 * The History panel: the document's versions (time, label, authors), a
 * named version of the current text, a read-only preview of any version,
 * and Restore, which makes the shared text equal to the version for
 * everyone (the state before is kept as a "before restore" version).
 */
import type { HistoryClient, TandemClient, Version } from 'tandem/client'

export interface HistoryElements {
  list: HTMLElement
  form: HTMLFormElement
  label: HTMLInputElement
  message: HTMLElement
  /** The preview pane, shown instead of the editor. */
  preview: HTMLElement
  previewTitle: HTMLElement
  previewText: HTMLElement
  restore: HTMLButtonElement
  close: HTMLButtonElement
  editor: HTMLElement
}

/** How often the list is fetched again (automatic versions and other people's appear). */
const REFRESH_MS = 4000

const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
const day = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' })

export function titleOf (version: Version): string {
  if (version.label !== null && version.label !== '') return version.label
  return version.kind === 'backup' ? 'Before a restore' : 'Automatic save'
}

function whenOf (version: Version): string {
  const at = new Date(version.createdAt)
  const today = new Date().toDateString() === at.toDateString()
  return today ? time.format(at) : `${day.format(at)}, ${time.format(at)}`
}

/** Wires the panel; returns a function that stops its timer. */
export function bindHistory (client: TandemClient, el: HistoryElements): () => void {
  const history: HistoryClient = client.history
  let versions: Version[] = []
  let selected: Version | null = null
  let busy = false

  const say = (text: string): void => { el.message.textContent = text }

  const render = (): void => {
    el.list.replaceChildren(...versions.map((version) => {
      const item = document.createElement('li')
      item.className = 'version'
      item.dataset.id = version.id
      item.dataset.kind = version.kind
      if (selected?.id === version.id) item.classList.add('selected')
      const open = document.createElement('button')
      open.type = 'button'
      open.className = 'version-open'
      const title = document.createElement('span')
      title.className = 'version-title'
      title.textContent = titleOf(version)
      const meta = document.createElement('span')
      meta.className = 'version-meta'
      meta.textContent = [whenOf(version), version.authors.join(', ')].filter((s) => s !== '').join(' · ')
      open.append(title, meta)
      open.addEventListener('click', () => { void show(version) })
      item.append(open)
      return item
    }))
    if (versions.length === 0) say('No versions yet. Name one, or wait: one is saved after a pause in editing.')
  }

  const refresh = async (): Promise<void> => {
    // Nothing stored yet (a new document, or offline edits on their way):
    // the server would answer 404, which a browser logs as an error.
    const status = client.status
    // The browser may know before the client does; a request now would only fail.
    if (status === 'offline' || navigator.onLine === false) {
      say('History is not available offline.')
      return
    }
    if (client.doc.store.clients.size === 0 || status !== 'saved') {
      if (versions.length === 0) render()
      return
    }
    try {
      versions = (await history.list({ limit: 50 })).versions
      if (el.message.dataset.sticky !== 'true') say('')
      render()
    } catch (err) {
      const code = (err as { code?: string }).code
      // A document nobody has written to yet has no history.
      if (code === 'NOT_FOUND') {
        versions = []
        render()
      } else {
        say(client.status === 'offline' ? 'History is not available offline.' : `History unavailable: ${(err as Error).message}`)
      }
    }
  }

  const show = async (version: Version): Promise<void> => {
    try {
      const doc = await history.doc(version.id)
      el.previewText.textContent = doc.getText('text').toString()
      doc.destroy()
    } catch (err) {
      say(`Could not open that version: ${(err as Error).message}`)
      return
    }
    selected = version
    el.previewTitle.textContent = `${titleOf(version)} · ${whenOf(version)}`
    el.preview.hidden = false
    el.editor.hidden = true
    render()
  }

  const hide = (): void => {
    selected = null
    el.preview.hidden = true
    el.editor.hidden = false
    render()
  }

  el.form.addEventListener('submit', (event) => {
    event.preventDefault()
    if (busy) return
    busy = true
    const label = el.label.value.trim()
    history.create(label === '' ? null : label).then(async (version) => {
      el.label.value = ''
      say(`Saved “${titleOf(version)}”.`)
      await refresh()
    }, (err: Error) => say(`Not saved: ${err.message}`)).finally(() => { busy = false })
  })

  el.restore.addEventListener('click', () => {
    if (selected === null || busy) return
    busy = true
    const version = selected
    history.restore(version.id).then(async () => {
      hide()
      say(`Restored “${titleOf(version)}”. The text before is kept as “Before a restore”.`)
      await refresh()
    }, (err: Error) => say(`Not restored: ${err.message}`)).finally(() => { busy = false })
  })

  el.close.addEventListener('click', hide)

  void refresh()
  const timer = setInterval(() => { void refresh() }, REFRESH_MS)
  // The first save of a new document makes its history readable.
  const off = client.on('status', (status) => { if (status === 'saved' && versions.length === 0) void refresh() })
  return () => {
    clearInterval(timer)
    off()
  }
}
