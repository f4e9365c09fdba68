/**
 * The layers DESIGN.md draws, checked on the source itself: every import statement of src/ (static,
 * `export … from`, dynamic `import()`, type-only ones too) is read with the TypeScript parser and
 * resolved to a file, and the rules below say which folder may reach which. A rule broken by a new
 * import fails here with the importing file and the imported one named.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SRC = path.join(ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** `src/a/b.ts` for an absolute path. */
const rel = (p: string): string => path.relative(ROOT, p).split(path.sep).join('/');

/** Each source file (as `src/…`) and the files of src/ it imports (as `src/….ts`). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .map((i) => i.fileName)
      .filter((name) => name.startsWith('.'))
      .map((name) => rel(path.resolve(path.dirname(file), name)).replace(/\.js$/, '.ts'));
    graph.set(rel(file), targets);
  }
  return graph;
}

const graph = importGraph();

/** Every (importer, imported) pair where the importer is under `from` and the imported file under `to`. */
function edges(from: string, to: string): string[] {
  const out: string[] = [];
  for (const [file, targets] of graph) {
    if (!file.startsWith(from)) continue;
    for (const t of targets) if (t.startsWith(to)) out.push(`${file} -> ${t}`);
  }
  return out;
}

/** Files under `to` reachable from any file under `from`, following imports transitively, with the path that gets there. */
function reachable(from: string, to: string): string[] {
  const via = new Map<string, string | null>();
  const queue = [...graph.keys()].filter((f) => f.startsWith(from));
  for (const f of queue) via.set(f, null);
  while (queue.length) {
    const f = queue.shift()!;
    for (const t of graph.get(f) ?? []) {
      if (via.has(t)) continue;
      via.set(t, f);
      queue.push(t);
    }
  }
  return [...via.keys()].filter((f) => f.startsWith(to)).map((hit) => {
    const chain: string[] = [];
    for (let f: string | null | undefined = hit; f; f = via.get(f)) chain.push(f);
    return chain.reverse().join(' -> ');
  });
}

describe('layers', () => {
  it('the import graph is read (sanity: the scanner sees the imports it must judge)', () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get('src/server.ts')).toContain('src/context.ts');
    expect(edges('src/smtp/', 'src/filing/').length).toBeGreaterThan(0);
  });

  it('filing imports nothing from smtp, not even through another module: it delivers through the LocalDelivery interface of the gateway context', () => {
    expect(edges('src/filing/', 'src/smtp/')).toEqual([]);
    expect(reachable('src/filing/', 'src/smtp/')).toEqual([]);
  });

  it('smtp reaches filing only through its declared interface, src/filing/index.ts', () => {
    expect(edges('src/smtp/', 'src/filing/').filter((e) => !e.endsWith('-> src/filing/index.ts'))).toEqual([]);
  });

  it('TLS identity and trust live in pki/: no module keeps its own', () => {
    for (const [file] of graph) {
      if (file.startsWith('src/pki/')) continue;
      const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
      expect(text, file).not.toMatch(/\b(class TrustStore|interface GatewayTls)\b/);
    }
  });
});

/** Names declared at the top level of the files under `dir` (interfaces, types, functions, consts, classes). */
function topLevelNames(dir: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const file of sourceFiles(path.join(ROOT, dir))) {
    const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
    for (const st of sf.statements) {
      const declared = ts.isVariableStatement(st)
        ? st.declarationList.declarations.map((d) => d.name.getText(sf))
        : (ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st) || ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st)) && st.name
          ? [st.name.text]
          : [];
      for (const n of declared) names.set(n, rel(file));
    }
  }
  return names;
}

/** Each `.store` property read in the files under `dir` (ctx.store, filing.store, …), as `file:line`. */
function storeAccesses(dir: string): string[] {
  const out: string[] = [];
  for (const file of sourceFiles(path.join(ROOT, dir))) {
    const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
    const visit = (n: ts.Node): void => {
      if (ts.isPropertyAccessExpression(n) && n.name.text === 'store') out.push(`${rel(file)}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1} ${n.getText(sf).slice(0, 60)}`);
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out;
}

/** The longest function (declaration, arrow or method) under `dir`, in lines, with where it is. */
function longestFunction(dir: string): { lines: number; at: string } {
  let best = { lines: 0, at: '' };
  for (const file of sourceFiles(path.join(ROOT, dir))) {
    const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
    const visit = (n: ts.Node): void => {
      if (ts.isFunctionDeclaration(n) || ts.isArrowFunction(n) || ts.isMethodDeclaration(n) || ts.isFunctionExpression(n)) {
        const lines = sf.getLineAndCharacterOfPosition(n.getEnd()).line - sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
        if (lines > best.lines) best = { lines, at: `${rel(file)}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}` };
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return best;
}

describe('console', () => {
  it('imports nothing from the store nor from the HTTP API server: it reads through the filing and account services', () => {
    expect(edges('src/console/', 'src/store/')).toEqual([]);
    expect(edges('src/console/', 'src/http/')).toEqual([]);
  });

  it('never reaches the store through a property either (ctx.store, FilingService.store)', () => {
    expect(storeAccesses('src/cli').length).toBeGreaterThan(0); // sanity: the scan finds them where they are
    expect(storeAccesses('src/console')).toEqual([]);
  });

  it('its pages are split by route group: no function of the console runs past 120 lines', () => {
    expect(fs.existsSync(path.join(SRC, 'console/pages/index.ts'))).toBe(true);
    const longest = longestFunction('src/console');
    expect(longest.lines, longest.at).toBeLessThanOrEqual(120);
  });
});

describe('store dialects', () => {
  it('sqlite/ and postgres/ declare no row type, mapper or column map of the same name: those live once, in store/rows/', () => {
    const sqlite = topLevelNames('src/store/sqlite');
    const postgres = topLevelNames('src/store/postgres');
    expect(sqlite.size).toBeGreaterThan(5);
    // Row types, mappers and column maps by their names (a dialect's own helpers, such as a write
    // queue's `Pending`, may share a name with the other's without sharing anything else).
    const rowish = (n: string): boolean => /(Row|Db|Json|From|COLUMNS?|COMPARED)$|^(from|to)Row$/.test(n);
    expect(rowish('AccountRow') && rowish('fromRow') && rowish('PATIENT_COLUMNS') && !rowish('Pending')).toBe(true);
    const both = [...sqlite.keys()].filter((n) => rowish(n) && postgres.has(n)).map((n) => `${n}: ${sqlite.get(n)} and ${postgres.get(n)}`);
    expect(both).toEqual([]);
  });

  it('neither dialect imports the other: what they share comes from store/', () => {
    expect(edges('src/store/postgres/', 'src/store/sqlite/')).toEqual([]);
    expect(edges('src/store/sqlite/', 'src/store/postgres/')).toEqual([]);
  });
});

/** Each `file:line` of src/ (outside src/store/) whose code matches `pattern`, comments left out. */
function codeLines(pattern: RegExp): string[] {
  const out: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const name = rel(file);
    if (name.startsWith('src/store/')) continue;
    fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '');
      if (!/^\s*\*/.test(code) && pattern.test(code)) out.push(`${name}:${i + 1}`);
    });
  }
  return out;
}

describe('one local delivery path (issue 29 item 3)', () => {
  it('mail is committed to a mailbox only by the local delivery path, which announces it: no writer commits or announces new mail itself', () => {
    const files = (hits: string[]): string[] => [...new Set(hits.map((h) => h.replace(/:\d+$/, '')))].sort();
    // A store commit of sealed mail: LocalDelivery; APPEND's decision transaction (announced through
    // localDelivery.announce); an import storing a blob with no mailbox placement (no mail to announce).
    expect(files(codeLines(/\bmail\.commit\(/))).toEqual(['src/filing/import.ts', 'src/mailbox/local-delivery.ts', 'src/mailbox/store-session.ts']);
    expect(codeLines(/\bmail\.commit\(/).filter((h) => h.startsWith('src/filing/import.ts')).length).toBe(1);
    expect(fs.readFileSync(path.join(SRC, 'filing/import.ts'), 'utf8')).toMatch(/mail\.commit\(blob, \[\]\)/);
    // New mail announced: LocalDelivery; IMAP COPY and MOVE announce the copies they place.
    expect(files(codeLines(/mailEvents\.emit\(\{ type: 'exists'|events\.emit\(\{ type: 'exists'/))).toEqual(['src/mailbox/local-delivery.ts', 'src/mailbox/store-session.ts']);
    // Every other writer (submission, relay, DSN, MDN, record requests, own copies) calls it.
    for (const writer of ['smtp/delivery.ts', 'smtp/dsn/report-sender.ts', 'filing/receipts/receipt-sender.ts', 'filing/record-request.ts']) {
      expect(fs.readFileSync(path.join(SRC, writer), 'utf8'), writer).toMatch(/localDelivery\.deliver(All|With)?\(/);
    }
  });
});
