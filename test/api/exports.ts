import { fileURLToPath } from 'node:url';

import ts from 'typescript';

/**
 * What a package's entry point exports, as the TypeScript compiler sees it: every name with
 * whether it is a value (a function, class or constant a script can call) or a type only.
 * Read from the source with the compiler, so re-exports (`export * from`, `export type { … }`)
 * count exactly as they reach a user of the package.
 */
export function exportsOf(entry: URL): Map<string, 'value' | 'type'> {
  const file = fileURLToPath(entry);
  const program = ts.createProgram([file], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  if (!source) throw new Error(`TypeScript could not read ${file}.`);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  if (!moduleSymbol) throw new Error(`${file} is not a module.`);

  const found = new Map<string, 'value' | 'type'>();
  for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const isValue = (target.flags & ts.SymbolFlags.Value) !== 0 && !isTypeOnlyExport(symbol);
    found.set(symbol.name, isValue ? 'value' : 'type');
  }
  return found;
}

/** `export type { X }` of a class makes X a type for the importer, whatever X is at its source. */
function isTypeOnlyExport(symbol: ts.Symbol): boolean {
  return (symbol.declarations ?? []).some(
    (d) => (ts.isExportSpecifier(d) && (d.isTypeOnly || d.parent.parent.isTypeOnly)),
  );
}
