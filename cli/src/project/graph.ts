// The reference graph between nodes and pipes: cycles are `file:line` errors, found without an engine.
import type { Diagnostic, PipeFile, PipeNode } from '../datafile/types.js';
import { findTableReferences } from './references.js';
import { resolveReference, type Project } from './model.js';

interface Vertex {
  pipe: PipeFile;
  node: PipeNode;
}

function key(v: Vertex): string {
  return `${v.pipe.name}.${v.node.name}`;
}

/** What a node's SQL references: nodes of its own pipe, or the output of other pipes. */
function nodeDependencies(project: Project, pipe: PipeFile, node: PipeNode): Vertex[] {
  const deps: Vertex[] = [];
  for (const ref of findTableReferences(node.template)) {
    const target = resolveReference(project, pipe, node, ref.name);
    if (target) deps.push(target);
  }
  return deps;
}

export function checkReferenceGraph(project: Project): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const reported = new Set<string>();

  const visit = (v: Vertex, path: Vertex[]): void => {
    const k = key(v);
    if (state.get(k) === 'done') return;
    if (state.get(k) === 'visiting') {
      const cycle = [...path.slice(path.findIndex((p) => key(p) === k)), v];
      const first = cycle[0];
      if (!reported.has(k)) {
        reported.add(k);
        diagnostics.push({
          file: first.pipe.path,
          line: first.node.sqlPos.line,
          col: first.node.sqlPos.col,
          severity: 'error',
          message: `reference cycle: ${cycle.map(key).join(' -> ')}`,
          hint: 'a node can only select from nodes, pipes and datasources that do not select from it',
        });
      }
      return;
    }
    state.set(k, 'visiting');
    for (const dep of nodeDependencies(project, v.pipe, v.node)) visit(dep, [...path, v]);
    state.set(k, 'done');
  };

  for (const pipe of project.pipes.values()) for (const node of pipe.nodes) visit({ pipe, node }, []);
  return diagnostics;
}
