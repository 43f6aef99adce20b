'use strict'
// `require.resolve('shared-isr/handler')`: the handler class configured from the environment.
module.exports = require('./handler').createHandler()
