/**
 * A shared text editor: CodeMirror 6 bound to a Y.Text with y-codemirror.next,
 * remote cursors and selections with names and colors, who's online, the
 * saved/offline indicator, and version history (save, preview, restore).
 */
import { basicSetup, EditorView } from 'codemirror'
import { keymap } from '@codemirror/view'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import * as Y from 'yjs'
import { connect } from 'tandem/client'
import { awayAfterMs, bindOnlineList, bindSaveIndicator, docName, identity, serverUrl } from '../shared/ui.js'
import { bindHistory } from './history.js'

const me = identity()
const client = connect({
  url: serverUrl(),
  doc: docName('text-editor'),
  offline: true,
  awayAfterMs: awayAfterMs(60_000)
})
client.presence.set({ name: me.name, color: me.color, colorLight: me.colorLight })

const text = client.doc.getText('text')
const undoManager = new Y.UndoManager(text)
const view = new EditorView({
  parent: document.getElementById('editor')!,
  doc: text.toString(),
  extensions: [
    keymap.of(yUndoManagerKeymap),
    basicSetup,
    EditorView.lineWrapping,
    yCollab(text, client.awareness, { undoManager })
  ]
})

bindSaveIndicator(client, document.getElementById('save')!)
bindOnlineList(client, document.getElementById('people')!)
const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T
bindHistory(client, {
  list: byId('versions'),
  form: byId('save-version'),
  label: byId('version-label'),
  message: byId('history-message'),
  preview: byId('preview'),
  previewTitle: byId('preview-title'),
  previewText: byId('preview-text'),
  restore: byId('restore'),
  close: byId('close-preview'),
  editor: byId('editor')
})

// For the browser console (and the end-to-end tests).
Object.assign(globalThis, { example: { client, view, text } })
