// The parameters an endpoint accepts (§4.7), discovered across its nodes and across the pipes its nodes
// read from (`FROM email_activity` makes email_activity's parameters the endpoint's too).
import type { PipeFile } from '../datafile/types.js';
import { compileTemplate, type ParamInfo } from '../template/index.js';
import { resolveReference, type Project } from './model.js';
import { findTableReferences } from './references.js';

/** Every parameter the pipe's nodes use, typed uses winning over untyped ones (a node's defined(x) says little). */
export function pipeParams(pipe: PipeFile, project?: Project): ParamInfo[] {
  const byName = new Map<string, ParamInfo>();
  const visited = new Set<string>();
  const walk = (p: PipeFile): void => {
    if (visited.has(p.name)) return;
    visited.add(p.name);
    for (const node of p.nodes) {
      if (node.isTemplate) {
        for (const info of compileTemplate(node.template).params()) {
          const prev = byName.get(info.name);
          if (!prev || (prev.usedIn === 'function_call' && info.usedIn !== 'function_call') || (prev.type === 'String' && info.type !== 'String' && info.usedIn !== 'function_call')) {
            byName.set(info.name, { ...prev, ...info });
          } else if (prev && !prev.description && info.description) {
            byName.set(info.name, { ...prev, description: info.description, example: prev.example ?? info.example });
          }
        }
      }
      if (!project) continue;
      for (const ref of findTableReferences(node.template)) {
        const target = resolveReference(project, p, node, ref.name);
        if (target && target.pipe !== p) walk(target.pipe);
      }
    }
  };
  walk(pipe);
  return [...byName.values()];
}
