#!/usr/bin/env node
'use strict';
// The CLI runs the compiled TypeScript (npm ci runs "prepare", which builds dist/).
require('../dist/cli.js').main(process.argv.slice(2));
