// `import { withSharedIsr } from 'shared-isr/next-config'` from next.config.mjs / next.config.ts.
import cjs from './next-config.js'

export const withSharedIsr = cjs.withSharedIsr
