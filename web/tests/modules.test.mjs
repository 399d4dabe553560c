// The page's modules as a graph: every `import ... from './x.js'` of web/*.js names a file that
// exists, no module imports itself through others (a cycle is printed as a -> b -> a), and every
// module is one node-server serves (built in with include_bytes!, wherever under
// node-server/src that list lives).
//
//   node --test web/tests/modules.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, dirname, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const modules = readdirSync(web).filter((f) => f.endsWith('.js')).sort();

/** The relative imports of `file` (a path under web/), as paths under web/. Static imports only
 * (`import x from`, `import { a } from`, `import * as m from`, `export ... from`, `import './x.js'`):
 * the page has no dynamic import(). */
function importsOf(file) {
  const text = readFileSync(join(web, file), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
  const out = [];
  for (const m of text.matchAll(/^\s*(?:import\s*['"](\.{1,2}\/[^'"]+)['"]|(?:import|export)\b[^'"`;]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"])/gm)) {
    out.push(normalize(join(dirname(file), m[1] ?? m[2])));
  }
  return out;
}

test('importsOf reads every form of static import', () => {
  assert.ok(importsOf('app.js').includes('pkg/powrace_web.js'), 'import init, * as core from');
  assert.ok(importsOf('app.js').includes('state.js'), 'import { ... } from');
  assert.ok(importsOf('ledger-worker.js').includes('pkg/powrace_web.js'));
});

test('every relative import names a file that exists', () => {
  for (const file of modules) {
    for (const dep of importsOf(file)) assert.ok(existsSync(join(web, dep)), `${file} imports ${dep}, which does not exist`);
  }
});

/** Every cycle of `graph` (file -> the files it imports) found by a depth-first walk, each as
 * "a -> b -> a". */
function findCycles(graph) {
  const cycles = [];
  const state = new Map(); // file -> 'open' while on the path, 'done' after
  const path = [];
  const visit = (f) => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
      return;
    }
    state.set(f, 'open');
    path.push(f);
    for (const d of graph.get(f) ?? []) visit(d);
    path.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f);
  return cycles;
}

test('no import cycle between the page modules', () => {
  const graph = new Map(modules.map((f) => [f, importsOf(f).filter((d) => modules.includes(d))]));
  const cycles = findCycles(graph);
  assert.deepEqual(cycles, [], `import cycles:\n${cycles.join('\n')}`);
});

test('a cycle is found, and a shared dependency is not one', () => {
  assert.deepEqual(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]])), ['a -> b -> c -> a']);
  assert.deepEqual(findCycles(new Map([['a', ['a']]])), ['a -> a']);
  assert.deepEqual(findCycles(new Map([['app', ['x', 'y']], ['x', ['dom']], ['y', ['dom', 'x']], ['dom', []]])), []);
});

test('node-server serves every page module', () => {
  const root = join(web, '..', 'node-server', 'src');
  const rust = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith('.rs')) rust.push(readFileSync(join(dir, e.name), 'utf8'));
    }
  };
  walk(root);
  const embedded = new Set(rust.flatMap((s) => [...s.matchAll(/include_bytes!\(\s*"[^"]*\/web\/([^"]+)"\s*\)/g)].map((m) => m[1])));
  const served = new Set(rust.flatMap((s) => [...s.matchAll(/\(\s*"\/([^"]+)",\s*include_bytes!/g)].map((m) => m[1])));
  for (const f of modules) {
    assert.ok(embedded.has(f) && served.has(f), `web/${f} is not served by node-server (add it to the list in ${relative(web, join(root, 'assets.rs'))} or wherever that list moved)`);
  }
});
