#!/usr/bin/env node
// The `pgverify` command (package.json "bin"): the TypeScript CLI run through tsx's loader, so a
// clone (`pnpm pgverify …`, `npx pgverify …`) and an install in another repository need no build.
import { register } from 'tsx/esm/api'

register()
await import('../harness/cli/index.ts')
