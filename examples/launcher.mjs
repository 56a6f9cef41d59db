/**
 * Starts one browser example: a tandem server, the page bundled with esbuild
 * into a temporary folder, and a small static file server for it. Used by
 * `run.mjs` (npm run example) and by the end-to-end tests.
 */
import { build } from 'esbuild'
import { createServer as createHttpServer } from 'node:http'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createServer } from 'tandem'

const examplesDir = path.dirname(fileURLToPath(import.meta.url))
const rootDir = path.dirname(examplesDir)

export const BROWSER_EXAMPLES = ['text-editor', 'drawing', 'presence']

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.png': 'image/png'
}

/** Bundles `examples/<name>/app.ts` into `outDir/app.js`. */
export async function bundle (name, outDir) {
  await build({
    entryPoints: [path.join(examplesDir, name, 'app.ts')],
    outfile: path.join(outDir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    // The page uses the client from this checkout, exactly as an app would
    // import it from the published package.
    alias: { 'tandem/client': path.join(rootDir, 'src/client/index.ts') },
    logLevel: 'warning'
  })
}

/**
 * @param {string} name one of BROWSER_EXAMPLES
 * @param {{ host?: string, port?: number, tandemPort?: number, persistence?: 'leveldb' | 'memory', dataDir?: string, logLevel?: string }} [options]
 */
export async function startExample (name, options = {}) {
  if (!BROWSER_EXAMPLES.includes(name)) throw new Error(`unknown example ${name}; try one of ${BROWSER_EXAMPLES.join(', ')}`)
  const host = options.host ?? '127.0.0.1'
  const persistence = options.persistence ?? 'leveldb'
  const outDir = await mkdtemp(path.join(tmpdir(), `tandem-${name}-`))
  let tandem
  let web
  let tandemPort
  try {
    await bundle(name, outDir)
    tandem = createServer({
      host,
      port: options.tandemPort ?? 1234,
      persistence,
      dataDir: options.dataDir ?? path.join(tmpdir(), 'tandem-examples', name),
      logLevel: options.logLevel ?? 'warn'
    })
    tandemPort = (await tandem.listen()).port

    const files = {
      '/': path.join(examplesDir, name, 'index.html'),
      '/index.html': path.join(examplesDir, name, 'index.html'),
      '/style.css': path.join(examplesDir, name, 'style.css'),
      '/shared/style.css': path.join(examplesDir, 'shared', 'style.css'),
      '/app.js': path.join(outDir, 'app.js'),
      '/app.js.map': path.join(outDir, 'app.js.map')
    }
    web = createHttpServer((req, res) => {
      const { pathname } = new URL(req.url ?? '/', 'http://localhost')
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405).end()
        return
      }
      if (pathname === '/config.js') {
        res.writeHead(200, { 'content-type': TYPES['.js'], 'cache-control': 'no-store' })
        res.end(`window.TANDEM = ${JSON.stringify({ port: tandemPort })}\n`)
        return
      }
      const file = files[pathname]
      if (file === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
        return
      }
      readFile(file).then((body) => {
        res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' })
        res.end(req.method === 'HEAD' ? undefined : body)
      }, () => {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      })
    })
    await new Promise((resolve, reject) => {
      web.once('error', reject)
      web.listen(options.port ?? 8080, host, () => { web.off('error', reject); resolve() })
    })
  } catch (err) {
    web?.close()
    await tandem?.close()
    await rm(outDir, { recursive: true, force: true })
    throw err
  }
  const address = web.address()
  const displayHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host
  let closing
  return {
    url: `http://${displayHost}:${address.port}/`,
    tandemPort,
    /** Stops the page server and tandem (which stores every pending write). Safe twice. */
    close () {
      closing ??= (async () => {
        web.closeAllConnections?.()
        await new Promise((resolve) => web.close(() => resolve()))
        await tandem.close()
        await rm(outDir, { recursive: true, force: true })
      })()
      return closing
    }
  }
}
