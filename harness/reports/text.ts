/**
 * What every renderer of the reports core shares: text made safe for XML and HTML, escaping,
 * durations and dates for people, and the redaction of a whole report before it is rendered.
 */
import { toJson } from '../util/json.ts'

export { redactDeep } from '../util/redact.ts'

/**
 * Text made safe for XML 1.0 and HTML: terminal colour codes removed, characters XML 1.0
 * forbids (C0 controls other than tab/LF/CR, lone surrogates, U+FFFE/U+FFFF) replaced by U+FFFD.
 */
export function cleanText(s: string): string {
  return String(s)
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udfff]/gu, '\ufffd')
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Escapes text for HTML element content and quoted attribute values. */
export const esc = (s: unknown): string => cleanText(String(s ?? '')).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!)

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }

/** XML element text. */
export const xmlText = (s: string): string => cleanText(s).replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!)

/** XML attribute value: also keeps line breaks and tabs (a parser would turn them into spaces). */
export const xmlAttr = (s: string): string => xmlText(s).replace(/[\n\r\t]/g, (c) => (c === '\n' ? '&#10;' : c === '\r' ? '&#13;' : '&#9;'))

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
}

/** An ISO timestamp as `2025-06-01 10:32:05 UTC`. */
export const formatDate = (iso: string): string => {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')
}

/** A report as JSON, the way every report file is written: indented, one trailing newline. */
export const renderJson = (value: unknown): string => toJson(value) + '\n'
