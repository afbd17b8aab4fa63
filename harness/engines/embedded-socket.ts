/**
 * How an embedded database's socket server writes its replies. The server (pglite-socket) splits
 * what a client sent into protocol messages and writes PGlite's reply to each one as a socket
 * write of its own, waiting for each write before the next message: a parameterised query (Parse,
 * Bind, Describe, Execute, Sync) costs five `write` calls where a server makes one. A CPU profile of
 * a full embedded `verify` put ~11 s of its ~145 s busy time in those writes (the kernel's loopback
 * work per call), against ~1 s for every write of the clients.
 *
 * Each connection's replies are therefore gathered and written once all the messages of the data
 * that came in have been answered (the server answers them in one run of promise callbacks; the
 * write goes out in the next turn of the event loop, after them). The client waits for
 * ReadyForQuery anyway, which is in the last reply, so it sees the same bytes in the same order;
 * only the number of system calls changes. A write that fails still surfaces as the socket's
 * `error` event, which the server handles as before; whatever is gathered is written before the
 * socket is ended.
 *
 * Why the body is JavaScript source: the same text runs in this thread and inside a database's
 * worker thread (embedded-thread.ts), as for the WASM dump (embedded-dump.ts).
 */

/** Patches `server` (a PGLiteSocketServer) so that each connection's socket gathers its writes. */
export const GATHER_REPLIES_BODY = `
  const handle = server.handleConnection.bind(server)
  server.handleConnection = (socket) => {
    const write = socket.write.bind(socket)
    const end = socket.end.bind(socket)
    let gathered = []
    const flush = () => {
      if (!gathered.length) return
      const out = gathered.length === 1 ? gathered[0] : Buffer.concat(gathered)
      gathered = []
      if (socket.writable) write(out)
    }
    socket.write = (chunk, encoding, cb) => {
      const done = typeof encoding === 'function' ? encoding : cb
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk
      if (!gathered.length) setImmediate(flush)
      gathered.push(bytes)
      if (done) process.nextTick(done)
      return true
    }
    socket.end = (...args) => {
      flush()
      return end(...args)
    }
    return handle(socket)
  }
`

type GatherFn = (server: unknown) => void
const gather = new Function('server', GATHER_REPLIES_BODY) as GatherFn

/** Makes `server`'s connections write each batch of replies at once (see above). */
export function gatherReplies(server: unknown): void {
  gather(server)
}
