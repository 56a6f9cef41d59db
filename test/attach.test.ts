/**
 * `attach(host)` with HTTP on: tandem answers only its own routes and every
 * other request reaches the host's own handler untouched, on the same port
 * as the WebSockets; `close()` gives the host its listener back.
 */
import { createServer as createHttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { createServer } from '../src/index.js'
import { testScope, until } from './helpers.js'

const scope = testScope()

describe('attach', () => {
  it('serves tandem\'s routes and WebSockets on a host server and leaves every other request to the host', async () => {
    const hostErrors: Error[] = []
    const host = createHttpServer((req, res) => {
      try {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.end(`host says hello to ${req.url}`)
      } catch (err) {
        hostErrors.push(err as Error)
      }
    })
    const tandem = createServer({ persistence: 'memory', logLevel: 'silent' })
    tandem.attach(host)
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve))
    scope.defer(() => new Promise<void>((resolve) => { host.closeAllConnections(); host.close(() => resolve()) }))
    const { port } = host.address() as AddressInfo
    const http = `http://127.0.0.1:${port}`
    await tandem.ready()

    const app = await fetch(`${http}/app/hello`)
    expect(app.status).toBe(200)
    expect(await app.text()).toBe('host says hello to /app/hello')
    const health = await fetch(`${http}/healthz`)
    expect(health.status).toBe(200)
    expect((await health.json()).status).toBe('ok')
    expect((await fetch(`${http}/docs/nothing-here`)).status).toBe(404)

    const a = scope.open(`ws://127.0.0.1:${port}`, 'shared-port')
    const b = scope.open(`ws://127.0.0.1:${port}`, 'shared-port')
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('text').insert(0, 'over the host')
    await until(() => b.doc.getText('text').toString() === 'over the host', 'the edit through the host\'s port')
    a.destroy()
    b.destroy()

    await tandem.close()
    // The host keeps its server, and gets every path back.
    const after = await fetch(`${http}/healthz`)
    expect(await after.text()).toBe('host says hello to /healthz')
    expect(hostErrors).toEqual([])
  })

  it('lets a host that routes requests itself ask handleRequest', async () => {
    const tandem = createServer({ persistence: 'memory', logLevel: 'silent' })
    scope.defer(() => tandem.close())
    const host = createHttpServer((req, res) => {
      if (tandem.handleRequest(req, res)) return
      res.end('mine')
    })
    host.on('upgrade', tandem.handleUpgrade)
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve))
    scope.defer(() => new Promise<void>((resolve) => { host.closeAllConnections(); host.close(() => resolve()) }))
    const { port } = host.address() as AddressInfo
    await tandem.ready()
    expect(await (await fetch(`http://127.0.0.1:${port}/elsewhere`)).text()).toBe('mine')
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
  })
})
