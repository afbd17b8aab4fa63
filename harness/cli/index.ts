/**
 * Entry point of the development tool (`pgverify`, `pnpm <verb>`): the verbs of program.ts,
 * run by the one dispatcher (dispatch.ts).
 */
import { dispatch } from './dispatch.ts'
import { PROGRAM } from './program.ts'

process.exitCode = await dispatch(PROGRAM, process.argv.slice(2))
