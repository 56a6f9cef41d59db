import { describe, expect, it } from 'vitest'
import { exportPKCS8, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose'
import { accessFor, AuthError, createVerifier, signToken, type Claims } from '../src/auth.js'
import { tokenFromRequest } from '../src/request.js'

const SECRET = 'a-test-secret-of-at-least-32-bytes!!'
const nowSec = (): number => Math.floor(Date.now() / 1000)
const claims = (extra: Partial<Claims> = {}): Claims => ({ sub: 'alice', docs: { 'notes/*': 'write', lobby: 'read' }, ...extra })

async function expectAuthError (promise: Promise<unknown>, code: AuthError['code']): Promise<AuthError> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(AuthError)
  expect((err as AuthError).code).toBe(code)
  expect((err as AuthError).status).toBe(401)
  return err as AuthError
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const unsigned = (header: object, payload: object): string => `${b64url(header)}.${b64url(payload)}.`

async function signWith (alg: string, key: Parameters<SignJWT['sign']>[0], payload: JWTPayload): Promise<string> {
  return await new SignJWT(payload).setProtectedHeader({ alg }).sign(key)
}

describe('accessFor', () => {
  const docs: Claims['docs'] = {
    '*': 'read',
    'notes/*': 'write',
    'notes/private/*': 'read',
    'notes/private/alice': 'write',
    lobby: 'read',
    'lobby*': 'write',
    'a*b': 'write'
  }
  const table: Array<[string, string]> = [
    ['notes/todo', 'write'], // pattern
    ['notes/', 'write'], // the prefix itself matches
    ['notes/private/x', 'read'], // the longer pattern narrows
    ['notes/private/alice', 'write'], // the exact name beats every pattern
    ['notes/private/alice2', 'read'],
    ['notes', 'read'], // `notes/*` needs the slash; falls back to `*`
    ['lobby', 'read'], // exact beats the longer-matching `lobby*`
    ['lobby2', 'write'],
    ['anything', 'read'], // `*` matches everything
    ['a*b', 'write'], // a star inside a name is an ordinary character
    ['axb', 'read'],
    ['', 'read']
  ]
  it.each(table)('%j → %s', (name, expected) => {
    expect(accessFor(docs, name)).toBe(expected)
  })

  it('grants nothing without a matching entry', () => {
    expect(accessFor({ 'notes/*': 'write', lobby: 'read' }, 'other')).toBe('none')
    expect(accessFor({}, 'lobby')).toBe('none')
    expect(accessFor({ lobby: 'read' }, 'lobby2')).toBe('none')
  })

  it('ignores inherited properties and unknown grant values', () => {
    expect(accessFor({}, 'constructor')).toBe('none')
    expect(accessFor({}, '__proto__')).toBe('none')
    expect(accessFor({}, 'toString')).toBe('none')
    expect(accessFor({ x: 'admin' } as unknown as Claims['docs'], 'x')).toBe('none')
  })

  it('the longest pattern wins whatever the key order', () => {
    expect(accessFor({ 'a/b/*': 'read', 'a/*': 'write' }, 'a/b/c')).toBe('read')
    expect(accessFor({ 'a/*': 'write', 'a/b/*': 'read' }, 'a/b/c')).toBe('read')
  })
})

describe('createVerifier with a secret (HS256)', () => {
  const verifier = createVerifier({ secret: SECRET })

  it('accepts a signed token and returns the identity', async () => {
    const exp = nowSec() + 60
    const result = await verifier.verify(await signToken(SECRET, claims({ exp })))
    expect(result.userId).toBe('alice')
    expect({ ...result.docs }).toEqual({ 'notes/*': 'write', lobby: 'read' })
    expect(result.expiresAtMs).toBe(exp * 1000)
  })

  it('leaves expiresAtMs out without exp', async () => {
    const result = await verifier.verify(await signToken(SECRET, claims()))
    expect(result.expiresAtMs).toBeUndefined()
  })

  it('signToken sets exp from expiresIn', async () => {
    const before = nowSec()
    const result = await verifier.verify(await signToken(SECRET, claims(), { expiresIn: 3600 }))
    expect(result.expiresAtMs! / 1000).toBeGreaterThanOrEqual(before + 3600)
    expect(result.expiresAtMs! / 1000).toBeLessThanOrEqual(nowSec() + 3600)
    const spanned = await verifier.verify(await signToken(SECRET, claims(), { expiresIn: '2h' }))
    expect(spanned.expiresAtMs! / 1000).toBeGreaterThanOrEqual(before + 7200)
  })

  it('rejects a missing token', async () => {
    await expectAuthError(verifier.verify(undefined), 'TOKEN_MISSING')
    await expectAuthError(verifier.verify(''), 'TOKEN_MISSING')
  })

  it('rejects garbage and tampered tokens', async () => {
    await expectAuthError(verifier.verify('not-a-jwt'), 'TOKEN_INVALID')
    await expectAuthError(verifier.verify('a.b.c'), 'TOKEN_INVALID')
    const token = await signToken(SECRET, claims())
    const [header, , signature] = token.split('.')
    const forged = `${header}.${b64url({ sub: 'mallory', docs: { '*': 'write' } })}.${signature}`
    await expectAuthError(verifier.verify(forged), 'TOKEN_INVALID')
  })

  it('rejects a token signed with another secret', async () => {
    await expectAuthError(verifier.verify(await signToken('another-secret-of-32-bytes-or-more', claims())), 'TOKEN_INVALID')
  })

  it('rejects alg: none', async () => {
    await expectAuthError(verifier.verify(unsigned({ alg: 'none', typ: 'JWT' }, claims())), 'TOKEN_INVALID')
    await expectAuthError(verifier.verify(unsigned({ alg: 'None' }, claims())), 'TOKEN_INVALID')
  })

  it('rejects other HMAC algorithms with the same secret', async () => {
    const key = new TextEncoder().encode(SECRET)
    await expectAuthError(verifier.verify(await signWith('HS512', key, { ...claims() })), 'TOKEN_INVALID')
  })

  it('rejects an expired token, within and beyond the clock tolerance', async () => {
    // 2 s ago: inside the default 5 s tolerance.
    await expect(verifier.verify(await signToken(SECRET, claims({ exp: nowSec() - 2 })))).resolves.toMatchObject({ userId: 'alice' })
    await expectAuthError(verifier.verify(await signToken(SECRET, claims({ exp: nowSec() - 30 }))), 'TOKEN_EXPIRED')
    const strict = createVerifier({ secret: SECRET, clockToleranceSec: 0 })
    await expectAuthError(strict.verify(await signToken(SECRET, claims({ exp: nowSec() - 2 }))), 'TOKEN_EXPIRED')
  })

  it('rejects a token before nbf, within tolerance accepts it', async () => {
    await expectAuthError(verifier.verify(await signToken(SECRET, claims({ nbf: nowSec() + 60 }))), 'TOKEN_INVALID')
    await expect(verifier.verify(await signToken(SECRET, claims({ nbf: nowSec() + 2 })))).resolves.toMatchObject({ userId: 'alice' })
    await expect(verifier.verify(await signToken(SECRET, claims({ nbf: nowSec() - 60 })))).resolves.toMatchObject({ userId: 'alice' })
  })

  const badClaims: Array<[string, JWTPayload]> = [
    ['no sub', { docs: {} }],
    ['empty sub', { sub: '', docs: {} }],
    ['numeric sub', { sub: 42, docs: {} } as unknown as JWTPayload],
    ['no docs', { sub: 'alice' }],
    ['docs null', { sub: 'alice', docs: null }],
    ['docs array', { sub: 'alice', docs: ['lobby'] }],
    ['docs string', { sub: 'alice', docs: 'lobby' }],
    ['grant admin', { sub: 'alice', docs: { lobby: 'admin' } }],
    ['grant true', { sub: 'alice', docs: { lobby: true } }],
    ['exp string', { sub: 'alice', docs: {}, exp: 'tomorrow' } as unknown as JWTPayload],
    ['nbf string', { sub: 'alice', docs: {}, nbf: 'now' } as unknown as JWTPayload]
  ]
  it.each(badClaims)('rejects claims with %s', async (_, payload) => {
    const token = await signWith('HS256', new TextEncoder().encode(SECRET), payload)
    await expectAuthError(verifier.verify(token), 'CLAIMS_INVALID')
  })

  it('accepts an empty docs object (it grants nothing)', async () => {
    const result = await verifier.verify(await signToken(SECRET, { sub: 'bob', docs: {} }))
    expect(accessFor(result.docs, 'lobby')).toBe('none')
  })

  it('treats a grant keyed __proto__ as a plain document name', async () => {
    const payload = JSON.parse('{"sub":"alice","docs":{"__proto__":"write"}}') as JWTPayload
    const result = await verifier.verify(await signWith('HS256', new TextEncoder().encode(SECRET), payload))
    expect(accessFor(result.docs, '__proto__')).toBe('write')
    expect(accessFor(result.docs, 'other')).toBe('none')
  })

  it('refuses oversized tokens before verifying them', async () => {
    const small = createVerifier({ secret: SECRET, maxTokenLength: 100 })
    const err = await expectAuthError(small.verify(await signToken(SECRET, claims())), 'TOKEN_INVALID')
    expect(err.message).toMatch(/longer than 100/)
  })
})

describe('createVerifier with a public key', () => {
  for (const alg of ['RS256', 'ES256'] as const) {
    describe(alg, async () => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
      const publicKeyPem = await exportSPKI(publicKey)
      const verifier = createVerifier({ publicKeyPem })

      it('accepts a token signed with the private key', async () => {
        const token = await signWith(alg, privateKey, { ...claims(), exp: nowSec() + 60 })
        await expect(verifier.verify(token)).resolves.toMatchObject({ userId: 'alice' })
      })

      it('rejects HS256 "signed" with the public key as the secret (algorithm confusion)', async () => {
        const token = await signWith('HS256', new TextEncoder().encode(publicKeyPem), { ...claims() })
        await expectAuthError(verifier.verify(token), 'TOKEN_INVALID')
      })

      it('rejects alg: none', async () => {
        await expectAuthError(verifier.verify(unsigned({ alg: 'none' }, claims())), 'TOKEN_INVALID')
      })

      it('rejects a token from another key pair', async () => {
        const other = await generateKeyPair(alg)
        await expectAuthError(verifier.verify(await signWith(alg, other.privateKey, { ...claims() })), 'TOKEN_INVALID')
      })

      it('rejects an expired token', async () => {
        const token = await signWith(alg, privateKey, { ...claims(), exp: nowSec() - 60 })
        await expectAuthError(verifier.verify(token), 'TOKEN_EXPIRED')
      })

      it('refuses a private key in place of the public key', async () => {
        const pkcs8 = await exportPKCS8(privateKey)
        expect(() => createVerifier({ publicKeyPem: pkcs8 })).toThrow(/private key/)
      })
    })
  }

  it('pins the algorithm to the key type: ES256 tokens fail an RSA key and vice versa', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true })
    const ec = await generateKeyPair('ES256', { extractable: true })
    const rsaVerifier = createVerifier({ publicKeyPem: await exportSPKI(rsa.publicKey) })
    const ecVerifier = createVerifier({ publicKeyPem: await exportSPKI(ec.publicKey) })
    await expectAuthError(rsaVerifier.verify(await signWith('ES256', ec.privateKey, { ...claims() })), 'TOKEN_INVALID')
    await expectAuthError(ecVerifier.verify(await signWith('RS256', rsa.privateKey, { ...claims() })), 'TOKEN_INVALID')
    // PS256 uses the same RSA key but is not on the list.
    const ps = await generateKeyPair('PS256', { extractable: true })
    const psVerifier = createVerifier({ publicKeyPem: await exportSPKI(ps.publicKey) })
    await expectAuthError(psVerifier.verify(await signWith('PS256', ps.privateKey, { ...claims() })), 'TOKEN_INVALID')
  })

  it('rejects unsupported key types at construction', async () => {
    for (const alg of ['EdDSA', 'ES384']) {
      const pem = await exportSPKI((await generateKeyPair(alg, { extractable: true })).publicKey)
      expect(() => createVerifier({ publicKeyPem: pem })).toThrow(/unsupported/)
    }
  })
})

describe('createVerifier configuration', () => {
  it('needs exactly one key', () => {
    expect(() => createVerifier({})).toThrow(/required/)
    expect(() => createVerifier({ secret: '' })).toThrow(/empty/)
    expect(() => createVerifier({ secret: SECRET, publicKeyPem: 'x' })).toThrow(/not both/)
    expect(() => createVerifier({ publicKeyPem: 'not a pem' })).toThrow(/not a valid PEM/)
  })

  it('validates numeric options', () => {
    expect(() => createVerifier({ secret: SECRET, clockToleranceSec: -1 })).toThrow(RangeError)
    expect(() => createVerifier({ secret: SECRET, maxTokenLength: 0 })).toThrow(RangeError)
  })
})

describe('tokenFromRequest', () => {
  it('reads ?token=', () => {
    expect(tokenFromRequest({ url: '/notes/a?token=abc.def.ghi', headers: {} })).toBe('abc.def.ghi')
    expect(tokenFromRequest({ url: '/notes/a?x=1&token=t%2Eu', headers: {} })).toBe('t.u')
  })

  it('reads Authorization: Bearer', () => {
    expect(tokenFromRequest({ url: '/a', headers: { authorization: 'Bearer abc' } })).toBe('abc')
    expect(tokenFromRequest({ url: '/a', headers: { authorization: 'bearer  abc ' } })).toBe('abc')
    expect(tokenFromRequest({ headers: { authorization: 'Bearer abc' } })).toBe('abc')
  })

  it('prefers the query parameter', () => {
    expect(tokenFromRequest({ url: '/a?token=q', headers: { authorization: 'Bearer h' } })).toBe('q')
    expect(tokenFromRequest({ url: '/a?token=', headers: { authorization: 'Bearer h' } })).toBe('h')
  })

  it('returns undefined when there is none', () => {
    expect(tokenFromRequest({ url: '/a', headers: {} })).toBeUndefined()
    expect(tokenFromRequest({ url: '/a?tok=x', headers: {} })).toBeUndefined()
    expect(tokenFromRequest({ url: '/a', headers: { authorization: 'Basic dXNlcjpwYXNz' } })).toBeUndefined()
    expect(tokenFromRequest({ url: '/a', headers: { authorization: 'Bearer' } })).toBeUndefined()
    expect(tokenFromRequest({ url: '/a', headers: { authorization: 'Bearer a b' } })).toBeUndefined()
  })

  it('feeds verify directly', async () => {
    const verifier = createVerifier({ secret: SECRET })
    const token = await signToken(SECRET, claims())
    await expect(verifier.verify(tokenFromRequest({ url: `/lobby?token=${token}`, headers: {} }))).resolves.toMatchObject({ userId: 'alice' })
    await expectAuthError(verifier.verify(tokenFromRequest({ url: '/lobby', headers: {} })), 'TOKEN_MISSING')
  })
})
