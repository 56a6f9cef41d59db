/**
 * JWT authentication and per-document authorization. Pure building blocks:
 * no server, no sockets. The server decides at the HTTP upgrade with
 * `tokenFromRequest` (request.ts) → `verifier.verify` (401 on `AuthError`) →
 * `accessFor` (403 on `'none'`).
 *
 * Token claims:
 *
 *   { "sub": "alice", "docs": { "notes/*": "write", "lobby": "read" }, "exp": 1735689600 }
 *
 * `docs` maps a document name, or a prefix pattern ending in `*`, to a grant.
 */
import { createPublicKey, type KeyObject } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose'

export type Access = 'none' | 'read' | 'write'

export type Grant = 'read' | 'write'

export interface Claims {
  /** The user id. */
  sub: string
  /** Document name or prefix pattern (`notes/*`, `*`) → grant. */
  docs: Record<string, Grant>
  /** Expiry, seconds since the epoch. */
  exp?: number
  /** Not valid before, seconds since the epoch. */
  nbf?: number
}

export type AuthErrorCode = 'TOKEN_MISSING' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'CLAIMS_INVALID'

/**
 * A request that did not prove who it is. Every code maps to HTTP 401; the
 * message is safe to log but is deliberately not sent to the client, so a
 * prober learns nothing about why a token failed.
 */
export class AuthError extends Error {
  /** HTTP status for the upgrade or the HTTP route. */
  readonly status = 401

  constructor (readonly code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AuthError'
  }
}

/**
 * The access a `docs` claim grants to `docName`.
 *
 * An exact name beats any pattern; among patterns (entries ending in `*`,
 * matching by prefix) the longest wins, so `notes/private/*: read` narrows
 * `notes/*: write`. `"*"` matches every document. A `*` anywhere else is an
 * ordinary character.
 */
export function accessFor (docs: Claims['docs'], docName: string): Access {
  // Own properties only: a document called `constructor` or `__proto__` must
  // not pick up whatever Object.prototype has under that name.
  if (Object.hasOwn(docs, docName)) return grantOrNone(docs[docName])
  let best: Access = 'none'
  let bestLength = -1
  for (const [pattern, grant] of Object.entries(docs)) {
    if (!pattern.endsWith('*')) continue
    const prefix = pattern.slice(0, -1)
    if (prefix.length > bestLength && docName.startsWith(prefix)) {
      best = grantOrNone(grant)
      bestLength = prefix.length
    }
  }
  return best
}

/**
 * The access a `docs` claim grants on the admin routes (listing and deleting
 * documents): only a `"*"` grant itself, never a longer pattern such as
 * `"**"` (which covers the documents whose names start with `*`).
 */
export function adminAccess (docs: Claims['docs']): Access {
  return Object.hasOwn(docs, '*') ? grantOrNone(docs['*']) : 'none'
}

// Claims are validated on verification, but `accessFor` is also handed grants
// from a host application's own authenticate hook: anything unexpected grants nothing.
function grantOrNone (grant: unknown): Access {
  return grant === 'read' || grant === 'write' ? grant : 'none'
}

export interface VerifierOptions {
  /** Shared secret for HS256. Use at least 32 random bytes: a short secret can be brute-forced offline from any token. */
  secret?: string
  /**
   * PEM public key (SPKI, `-----BEGIN PUBLIC KEY-----`). An RSA key accepts
   * RS256 only, a P-256 key ES256 only. The host application keeps the
   * private key; tandem can verify tokens but never mint them.
   */
  publicKeyPem?: string
  /**
   * Slack when checking `exp` and `nbf`, in seconds. Bounds how far clocks
   * may disagree between the token issuer and this server before valid
   * tokens are refused; larger values keep expired tokens alive longer.
   * @default 5
   */
  clockToleranceSec?: number
  /**
   * Longest token accepted, in characters. Bounds the work an
   * unauthenticated client can cause: larger tokens are refused before any
   * parsing or signature check.
   * @default 8192
   */
  maxTokenLength?: number
}

export interface VerifiedToken {
  userId: string
  docs: Claims['docs']
  /** When the token stops being valid (from `exp`), for closing live connections. */
  expiresAtMs?: number
}

export interface Verifier {
  /** Resolves with the verified identity or rejects with an `AuthError`. */
  verify (token: string | undefined): Promise<VerifiedToken>
}

const DEFAULT_CLOCK_TOLERANCE_SEC = 5
const DEFAULT_MAX_TOKEN_LENGTH = 8192

/**
 * A token verifier for one key. Exactly one of `secret` and `publicKeyPem`;
 * the accepted algorithm follows from the key and nothing else, so neither
 * `alg: none` nor an HS256 token "signed" with a public key can get through.
 * Misconfiguration throws here, at start-up, rather than on the first request.
 */
export function createVerifier (options: VerifierOptions): Verifier {
  const { secret, publicKeyPem } = options
  const clockTolerance = options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC
  const maxTokenLength = options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH
  if (!(Number.isFinite(clockTolerance) && clockTolerance >= 0)) {
    throw new RangeError('clockToleranceSec must be a finite number ≥ 0')
  }
  if (!(Number.isInteger(maxTokenLength) && maxTokenLength > 0)) {
    throw new RangeError('maxTokenLength must be a positive integer')
  }

  let key: Uint8Array | KeyObject
  let algorithms: string[]
  if (secret !== undefined && publicKeyPem !== undefined) {
    throw new Error('give either an auth secret or a public key, not both')
  } else if (secret !== undefined) {
    if (secret.length === 0) throw new Error('the auth secret is empty')
    key = new TextEncoder().encode(secret)
    algorithms = ['HS256']
  } else if (publicKeyPem !== undefined) {
    ;({ key, algorithms } = importPublicKey(publicKeyPem))
  } else {
    throw new Error('an auth secret or a public key is required')
  }

  return {
    async verify (token) {
      if (token === undefined || token === '') throw new AuthError('TOKEN_MISSING', 'no token')
      if (token.length > maxTokenLength) {
        throw new AuthError('TOKEN_INVALID', `token longer than ${maxTokenLength} characters`)
      }
      let payload: JWTPayload
      try {
        ;({ payload } = await jwtVerify(token, key, { algorithms, clockTolerance }))
      } catch (err) {
        throw toAuthError(err)
      }
      return claimsFrom(payload)
    }
  }
}

function importPublicKey (pem: string): { key: KeyObject; algorithms: string[] } {
  // Node would happily derive a public key from a private one; refuse, since
  // the point of a key pair is that this server never holds the signing key.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new Error('the auth public key file holds a private key; give the public key only')
  }
  let key: KeyObject
  try {
    key = createPublicKey(pem)
  } catch (err) {
    throw new Error('the auth public key is not a valid PEM public key', { cause: err })
  }
  if (key.asymmetricKeyType === 'rsa') return { key, algorithms: ['RS256'] }
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return { key, algorithms: ['ES256'] }
  }
  const details = key.asymmetricKeyDetails?.namedCurve ?? ''
  throw new Error(`unsupported auth public key type ${key.asymmetricKeyType ?? '?'} ${details}`.trim() +
    ': use an RSA key (RS256) or a P-256 key (ES256)')
}

function toAuthError (err: unknown): AuthError {
  if (err instanceof joseErrors.JWTExpired) {
    return new AuthError('TOKEN_EXPIRED', 'token expired', { cause: err })
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    // jose uses this both for "nbf is in the future" and for claims of the wrong type.
    if (err.claim === 'nbf' && err.reason === 'check_failed') {
      return new AuthError('TOKEN_INVALID', 'token not yet valid (nbf)', { cause: err })
    }
    return new AuthError('CLAIMS_INVALID', `invalid claim ${err.claim}: ${err.message}`, { cause: err })
  }
  const message = err instanceof Error ? err.message : String(err)
  return new AuthError('TOKEN_INVALID', `token rejected: ${message}`, { cause: err })
}

function claimsFrom (payload: JWTPayload): VerifiedToken {
  const { sub, exp } = payload
  const docs: unknown = payload.docs
  if (typeof sub !== 'string' || sub === '') {
    throw new AuthError('CLAIMS_INVALID', 'claim sub must be a non-empty string')
  }
  if (typeof docs !== 'object' || docs === null || Array.isArray(docs)) {
    throw new AuthError('CLAIMS_INVALID', 'claim docs must be an object of "read" | "write"')
  }
  // A prototype-free copy, so a grant keyed `__proto__` is just a document name.
  const grants: Record<string, Grant> = Object.create(null)
  for (const [name, grant] of Object.entries(docs)) {
    if (grant !== 'read' && grant !== 'write') {
      throw new AuthError('CLAIMS_INVALID', `claim docs[${JSON.stringify(name)}] must be "read" or "write"`)
    }
    grants[name] = grant
  }
  // jose has already checked that exp, when present, is a number in the future.
  return exp === undefined ? { userId: sub, docs: grants } : { userId: sub, docs: grants, expiresAtMs: exp * 1000 }
}

export interface SignOptions {
  /** Lifetime: seconds from now, or a jose time span such as `'1h'` or `'7d'`. Ignored when `claims.exp` is set. */
  expiresIn?: number | string
}

/**
 * Mints an HS256 token for `claims`, e.g. in a host application's login
 * route or a test. Sets `iat`; sets `exp` from `options.expiresIn` unless the
 * claims carry one.
 */
export async function signToken (secret: string, claims: Claims, options: SignOptions = {}): Promise<string> {
  const jwt = new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt()
  if (claims.exp === undefined && options.expiresIn !== undefined) {
    const { expiresIn } = options
    jwt.setExpirationTime(typeof expiresIn === 'number' ? Math.floor(Date.now() / 1000) + expiresIn : expiresIn)
  }
  return await jwt.sign(new TextEncoder().encode(secret))
}
