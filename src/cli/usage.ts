/**
 * Help texts, built from the flag tables so a flag and its help never drift.
 */
import { COMMAND_FLAGS, type CommandName, type FlagSpec } from './flags.js'

const SUMMARIES: Record<CommandName, { usage: string; short: string; about: string }> = {
  serve: {
    short: 'serve documents over WebSocket and HTTP (the default)',
    usage: 'tandem serve [flags]',
    about: 'Serves Yjs documents over the y-websocket protocol, with an HTTP API on the same port.\nSIGTERM or SIGINT: stop accepting, close every socket with 1001, store every pending write, exit 0.'
  },
  list: {
    short: 'print every stored document name, one per line',
    usage: 'tandem list [storage flags]',
    about: 'Prints every stored document name on standard output, one per line, in storage order.\n' +
      'Names are printed as they are (slashes, spaces and any Unicode included), except that a\n' +
      'backslash is printed as \\\\, a newline as \\n, a carriage return as \\r, a tab as \\t, and any\n' +
      'other control character as \\xHH, so that every line is exactly one name.'
  },
  export: {
    short: 'write every stored document to FILE or standard output',
    usage: 'tandem export [--out FILE] [--decode-names] [storage flags]',
    about: 'Writes every stored document in the tandem export format (JSON lines, version 1): a header\n' +
      'line, one line per document {"name", "update": base64 of the whole document as one Yjs update},\n' +
      'and an end line with the document count. With --out the file appears only once it is complete.\n' +
      'Progress and the summary go to standard error; standard output carries only the export.'
  },
  import: {
    short: 'merge an export from FILE or standard input into the storage',
    usage: 'tandem import [FILE] [storage flags]',
    about: 'Merges an export (FILE, or standard input when FILE is missing or -) into the storage. Each\n' +
      'document is merged the way Yjs merges updates: a document that already exists keeps its content\n' +
      'and gains the imported one, and importing the same export twice changes nothing.\n\n' +
      'A damaged or truncated input stops the import with the line number and exit code 1:\n' +
      '  - from a FILE, the whole file is checked before anything is written: nothing is imported;\n' +
      '  - from standard input, documents are merged as they arrive: those before the bad line are\n' +
      '    imported, none after it. Fix the input and import it again; what was imported is not duplicated.'
  },
  delete: {
    short: 'remove documents',
    usage: 'tandem delete NAME... [storage flags]',
    about: 'Removes the named documents and all their stored updates. A name that is not stored is\n' +
      'reported, and the exit code is then 1 (the other names are still deleted).'
  },
  compact: {
    short: "merge each document's stored updates into one (all when no name)",
    usage: 'tandem compact [NAME...] [storage flags]',
    about: 'Merges the stored updates of each named document (of every document when no name is given)\n' +
      'into one, now. The server also does this in the background (--compact-after).'
  }
}

const EXIT_CODES = 'Exit codes: 0 done, 1 the command failed (storage, files, network, damaged input), 2 the command line is wrong,\n130 or 143 interrupted by SIGINT or SIGTERM.'

function flagLines (flags: FlagSpec[]): string {
  return flags.map((f) => {
    const name = `${f.short !== undefined ? `-${f.short}, ` : ''}--${f.flag}${f.arg !== undefined ? ` ${f.arg}` : ''}`
    return `  ${name.padEnd(32)} ${f.help}${f.env !== undefined ? ` [env ${f.env}]` : ''}`
  }).join('\n')
}

/** `tandem <command> --help`. */
export function commandUsage (command: CommandName): string {
  const { usage, about } = SUMMARIES[command]
  const title = command === 'serve' ? 'Flags' : 'Flags (the storage flags are the same as for tandem serve)'
  return `Usage: ${usage}\n\n${about}\n\n${title}:\n${flagLines(COMMAND_FLAGS[command])}\n  ${'-h, --help'.padEnd(32)} show this help\n\n${EXIT_CODES}\n`
}

/** `tandem help`, `tandem --help`. */
export function generalUsage (version: string): string {
  const commands = (Object.keys(SUMMARIES) as CommandName[])
    .map((c) => `  ${SUMMARIES[c].usage.replace(/ \[(storage )?flags\]/, '').replace(/^tandem /, '').padEnd(38)} ${SUMMARIES[c].short}`)
    .join('\n')
  return `tandem ${version}: a self-hosted collaboration backend on Yjs

Usage: tandem <command> [flags]

Commands:
${commands}
  ${'help [COMMAND]'.padEnd(38)} show help for a command

Without a command, tandem serves (tandem --port 1234 is tandem serve --port 1234).
Every flag has an environment variable; a flag wins over its variable.

Storage flags (every command):
${flagLines(COMMAND_FLAGS.list)}

Other flags:
  ${'-h, --help'.padEnd(32)} show help (tandem <command> --help for a command's flags)
  ${'-V, --version'.padEnd(32)} print the version

${EXIT_CODES}
`
}
