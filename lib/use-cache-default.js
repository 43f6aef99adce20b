'use strict'
// `require.resolve('shared-isr/use-cache')`: the 'use cache' handler configured from the environment.
module.exports = require('./use-cache').createUseCacheHandler()
