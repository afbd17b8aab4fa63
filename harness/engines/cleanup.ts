/**
 * One registry of "things to tear down" for everything the harness starts (servers, temp dirs,
 * containers), so Ctrl-C, a CI timeout's SIGTERM or an early process.exit() do not leave
 * servers running. What a SIGKILL leaves behind is the reaper's job (reaper.ts).
 *
 * Entries unregister themselves when stopped normally. The 'exit' hook is always installed
 * (it cannot do async work, hence the sync variants); signal handlers are opt-in through
 * installSignalHandlers(), because a library must not change how its host process reacts to
 * signals (vitest, for one, has its own).
 */

interface Entry {
  name: string
  fn: () => Promise<void>
  syncFn?: () => void
}

const entries = new Set<Entry>()
let exitHookInstalled = false
let signalHandlersInstalled = false
let cleaningUp = false
let stoppedBy: keyof typeof SIGNAL_EXIT_CODES | undefined

const CAP_MS = 10_000
/** The shell's convention, 128 + the signal's number; the CLI's exit-code table refers here. */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const

function runSyncCleanups(): void {
  for (const e of [...entries]) {
    entries.delete(e)
    try {
      e.syncFn?.()
    } catch {
      // Nothing sensible to do while the process is exiting; the reaper catches leftovers.
    }
  }
}

/** Registers a teardown; returns a function that unregisters it (call it after a normal stop). */
export function registerCleanup(name: string, fn: () => Promise<void>, syncFn?: () => void): () => void {
  if (!exitHookInstalled) {
    process.on('exit', runSyncCleanups)
    exitHookInstalled = true
  }
  const entry: Entry = { name, fn, ...(syncFn ? { syncFn } : {}) }
  entries.add(entry)
  return () => {
    entries.delete(entry)
  }
}

/** Runs every registered async cleanup (at most 10 s in all); one stderr line each. */
export async function runCleanups(): Promise<void> {
  const pending = [...entries]
  const work = pending.map(async (e) => {
    const t0 = Date.now()
    try {
      await e.fn()
      entries.delete(e)
      process.stderr.write(`cleanup: ${e.name} done (${Date.now() - t0} ms)\n`)
    } catch (err) {
      process.stderr.write(`cleanup: ${e.name} failed: ${err instanceof Error ? err.message : String(err)}\n`)
    }
  })
  let timer: NodeJS.Timeout | undefined
  const cap = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      for (const e of entries) if (pending.includes(e)) process.stderr.write(`cleanup: ${e.name} still running after ${CAP_MS / 1000} s, forcing\n`)
      resolve()
    }, CAP_MS)
  })
  await Promise.race([Promise.allSettled(work), cap])
  clearTimeout(timer)
}

/**
 * The signal being handled, if any. The cleanup closes sessions under the work in flight, whose
 * error then says "the server went away": the CLI prints no such error (the handler's last line
 * says what stopped the run).
 */
export const interruptedBy = (): { signal: string; exitCode: number } | undefined => (stoppedBy ? { signal: stoppedBy, exitCode: SIGNAL_EXIT_CODES[stoppedBy] } : undefined)

/** On SIGINT/SIGTERM/SIGHUP: clean up, then exit 130/143/129. Idempotent. */
export function installSignalHandlers(): void {
  if (signalHandlersInstalled) return
  signalHandlersInstalled = true
  for (const [signal, code] of Object.entries(SIGNAL_EXIT_CODES)) {
    process.on(signal, () => {
      // A terminal's Ctrl-C reaches every process of the group, and wrappers (pnpm, tsx)
      // relay it again: a repeated signal must not cut the first cleanup short.
      if (cleaningUp) return
      cleaningUp = true
      stoppedBy = signal as keyof typeof SIGNAL_EXIT_CODES
      const exit = () => {
        process.stderr.write(`stopped by ${signal} (exit ${code})\n`)
        process.exit(code)
      }
      // Nothing registered (e.g. a test worker being shut down after its engines stopped): just go.
      if (entries.size === 0) return exit()
      process.stderr.write(`${signal}: cleaning up\n`)
      void runCleanups().finally(exit)
    })
  }
}
