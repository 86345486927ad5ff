// Type-checks every ```ts example in the JSDoc of packages/*/src and in README.md and docs/*.md, so that examples
// cannot drift from the code. Each example is written to .examples/ as its own module and compiled with tsc.
import { execFileSync } from "node:child_process"
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"

const root = new URL("..", import.meta.url).pathname
const outDir = join(root, ".examples")

const walk = (dir) =>
  readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    return statSync(path).isDirectory() ? walk(path) : [path]
  })

// Example blocks start with ```ts or ```typescript; blocks marked ```ts no-check are skipped on purpose.
const extract = (text, fromJsDoc) => {
  const lines = text.split("\n").map((line) => (fromJsDoc ? line.replace(/^\s*\* ?/, "") : line))
  const blocks = []
  let current
  let startLine = 0
  lines.forEach((line, index) => {
    if (current === undefined && /^```(ts|typescript)\s*$/.test(line.trim())) {
      current = []
      startLine = index + 2
    } else if (current !== undefined && line.trim() === "```") {
      blocks.push({ code: current.join("\n"), line: startLine })
      current = undefined
    } else if (current !== undefined) {
      current.push(line)
    }
  })
  return blocks
}

const sources = [
  ...readdirSync(join(root, "packages")).flatMap((pkg) => {
    const src = join(root, "packages", pkg, "src")
    try {
      return walk(src).filter((path) => path.endsWith(".ts") && !path.includes("/internal/"))
    } catch {
      return []
    }
  }),
  join(root, "README.md"),
  ...walk(join(root, "docs")).filter((path) => path.endsWith(".md"))
]

rmSync(outDir, { recursive: true, force: true })
mkdirSync(outDir, { recursive: true })

let count = 0
for (const path of sources) {
  const blocks = extract(readFileSync(path, "utf8"), path.endsWith(".ts"))
  for (const block of blocks) {
    const name = `${relative(root, path).replace(/[^a-zA-Z0-9]+/g, "_")}_L${block.line}.ts`
    const header = `// Example from ${relative(root, path)}, line ${block.line}\n`
    // `export {}` makes each file a module, so top-level names of different examples cannot clash.
    writeFileSync(join(outDir, name), `${header}${block.code}\nexport {}\n`)
    count++
  }
}

writeFileSync(
  join(outDir, "tsconfig.json"),
  JSON.stringify({
    extends: "../tsconfig.base.json",
    compilerOptions: { noEmit: true, noUnusedLocals: false, noUnusedParameters: false },
    include: ["./*.ts"]
  })
)

try {
  execFileSync(join(root, "node_modules", ".bin", "tsc"), ["-p", join(outDir, "tsconfig.json")], {
    stdio: "inherit"
  })
} catch {
  console.error(`Examples failed to type-check; the files are in ${relative(process.cwd(), outDir)}/`)
  process.exit(1)
}
console.log(`Type-checked ${count} examples from ${sources.length} files`)
