#!/usr/bin/env node
// KILN_DIST points at another build output (developers building into .build/NAME).
const dist = process.env.KILN_DIST ?? new URL("../dist", import.meta.url).pathname;
const { main } = await import(`${dist}/compiler/driver/cli/main.js`);
process.exitCode = await main(process.argv.slice(2));
