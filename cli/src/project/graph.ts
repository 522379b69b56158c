// The reference graph between nodes and pipes: cycles are `file:line` errors, found without an engine.
import type { Diagnostic, PipeFile, PipeNode } from '../datafile/types.js';
import { findTableReferences } from './references.js';
import type { Project } from './model.js';

interface Vertex {
  pipe: PipeFile;
  node: PipeNode;
}

function key(v: Vertex): string {
  return `${v.pipe.name}.${v.node.name}`;
}

/** What a node's SQL references: nodes of its own pipe, or the output of other pipes. */
export function nodeDependencies(project: Project, pipe: PipeFile, node: PipeNode): Vertex[] {
  const deps: Vertex[] = [];
  for (const ref of findTableReferences(node.template)) {
    const sibling = pipe.nodes.find((n) => n.name === ref.name && n !== node);
    if (sibling) deps.push({ pipe, node: sibling });
    else if (ref.name === node.name && pipe.nodes.length > 0 && !project.datasources.has(ref.name)) deps.push({ pipe, node });
    else {
      const other = project.pipes.get(ref.name);
      if (other && !project.datasources.has(ref.name)) {
        const out = other.nodes.find((n) => n.type !== 'standard') ?? other.nodes[other.nodes.length - 1];
        if (out) deps.push({ pipe: other, node: out });
      }
    }
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
