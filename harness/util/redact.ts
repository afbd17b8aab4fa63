/** Passwords never reach logs or reports: every URL or message passes through here first. */

export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    for (const k of [...u.searchParams.keys()]) if (/pass/i.test(k)) u.searchParams.set(k, '***')
    return u.toString()
  } catch {
    return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@')
  }
}

const secrets = new Set<string>()

/** Registers a secret (e.g. the password of DATABASE_URL) to be masked wherever it appears. */
export function addSecret(secret: string | undefined): void {
  if (secret && secret.length >= 3) secrets.add(secret)
}

export function addSecretsFromUrl(url: string | undefined): void {
  if (!url) return
  try {
    const u = new URL(url)
    addSecret(decodeURIComponent(u.password))
    addSecret(u.password)
  } catch {
    /* not a URL: nothing to learn */
  }
}

/** Masks URLs with credentials and every registered secret in free text. */
export function redact(text: string): string {
  let out = text.replace(/postgres(?:ql)?:\/\/[^\s'"<>`)]+/g, (m) => redactUrl(m))
  for (const s of secrets) out = out.split(s).join('***')
  return out
}

/** A deep copy of `value` with every string passed through redact() (reports, history lines). */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T
  if (Array.isArray(value)) return value.map(redactDeep) as T
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T
  }
  return value
}
