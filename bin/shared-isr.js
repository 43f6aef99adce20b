#!/usr/bin/env node
'use strict'
// `npx shared-isr <command>`: lib/cli.js.
require('../lib/cli')
  .main()
  .then((code) => {
    process.exitCode = code
  })
