// Validates AsyncAPI documents with the official parser (@asyncapi/parser).
// Usage: node xtask/asyncapi-validate.cjs <parser install dir> <file.yaml>...
// Exits non-zero when any document has an error-level diagnostic.
const fs = require('node:fs');
const path = require('node:path');
const { createRequire } = require('node:module');

const [installDir, ...files] = process.argv.slice(2);
const load = createRequire(path.join(path.resolve(installDir), 'package.json'));
const { Parser } = load('@asyncapi/parser');

(async () => {
  const parser = new Parser();
  let failed = false;
  for (const file of files) {
    const { document, diagnostics } = await parser.parse(fs.readFileSync(file, 'utf8'));
    const errors = diagnostics.filter((d) => d.severity === 0);
    const warnings = diagnostics.filter((d) => d.severity === 1);
    for (const d of [...errors, ...warnings]) {
      const level = d.severity === 0 ? 'error' : 'warning';
      console.log(`${file}: ${level}: ${d.message} at ${JSON.stringify(d.path)}`);
    }
    if (errors.length > 0 || !document) {
      failed = true;
    } else {
      console.log(`${file}: valid AsyncAPI ${document.version()}`);
    }
  }
  process.exit(failed ? 1 : 0);
})();
