// Runs a WASI command module under Node's V8 (the engine family Envoy embeds).
// Usage: node bench/run-wasi.mjs MODULE.wasm [ARGS...]   (files are read relative to the cwd)
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";
import { argv, exit } from "node:process";

const [module, ...args] = argv.slice(2);
if (!module) {
  console.error("usage: node run-wasi.mjs MODULE.wasm [ARGS...]");
  exit(2);
}
const wasi = new WASI({ version: "preview1", args: [module, ...args], preopens: { ".": "." } });
const compiled = await WebAssembly.compile(await readFile(module));
const instance = await WebAssembly.instantiate(compiled, wasi.getImportObject());
wasi.start(instance);
