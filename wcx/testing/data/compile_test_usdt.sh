#!/usr/bin/env bash
# Rebuild TestUSDT.json from TestUSDT.sol with solc-js and OpenZeppelin from npm (not run by the tests:
# the tests use the committed bytecode so they need no compiler).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund solc@0.8.28 @openzeppelin/contracts@5.1.0
cp "$here/TestUSDT.sol" .
cat > compile.js <<'JS'
const fs = require("fs");
const solc = require("solc");
const input = {
  language: "Solidity",
  sources: { "TestUSDT.sol": { content: fs.readFileSync("TestUSDT.sol", "utf8") } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "shanghai",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const find = (p) => ({ contents: fs.readFileSync(require.resolve(p), "utf8") });
const out = JSON.parse(solc.compile(JSON.stringify(input), { import: find }));
if (out.errors && out.errors.some((e) => e.severity === "error")) { console.error(out.errors); process.exit(1); }
const c = out.contracts["TestUSDT.sol"].TestUSDT;
const meta = { source: "TestUSDT.sol", compiler: "solc " + solc.version(), openzeppelin: "5.1.0" };
fs.writeFileSync(process.argv[2], JSON.stringify({ ...meta, abi: c.abi, bytecode: "0x" + c.evm.bytecode.object }, null, 1) + "\n");
JS
node compile.js "$here/TestUSDT.json"
echo "wrote $here/TestUSDT.json"
