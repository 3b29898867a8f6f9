// npm run build: the widget (src/) bundled into channels/static/widget/, and USWDS's compiled dist (css, js,
// img, fonts) copied to channels/static/uswds/. Both outputs are git-ignored; `make install` runs this.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const NODE_MAJOR = 20;
const major = Number(process.versions.node.split(".")[0]);
if (major < NODE_MAJOR) {
  console.error(
    `Node.js ${process.version} is too old to build the web chat widget: Node.js ${NODE_MAJOR} or newer is needed ` +
      "(Debian: apt-get install nodejs npm), then run `make install` again.",
  );
  process.exit(1);
}

const here = dirname(fileURLToPath(import.meta.url));
const statics = join(here, "..", "static");
const uswds = join(here, "node_modules", "@uswds", "uswds", "dist");
if (!existsSync(uswds)) {
  console.error("node_modules/@uswds/uswds is missing: run `npm ci --no-audit --no-fund` in channels/widget first.");
  process.exit(1);
}
const { build } = await import("esbuild");

const out = join(statics, "widget");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "widget.js"), join(here, "src", "widget.css")],
  outdir: out,
  bundle: true,
  format: "iife",
  target: ["es2020", "chrome90", "firefox90", "safari14"],
  minify: true,
  sourcemap: true,
  legalComments: "none",
  logLevel: "warning",
});

const target = join(statics, "uswds");
rmSync(target, { recursive: true, force: true });
for (const part of ["css", "js", "img", "fonts"]) {
  cpSync(join(uswds, part), join(target, part), { recursive: true });
}
const version = JSON.parse(readFileSync(join(uswds, "..", "package.json"), "utf8")).version;
console.log(`Built ${out}; copied USWDS ${version} (css, js, img, fonts) to ${target}`);
