// The parameters an endpoint accepts (§4.7), discovered across its nodes and across the pipes its nodes
// read from (`FROM email_activity` makes email_activity's parameters the endpoint's too).
import type { PipeFile } from '../datafile/types.js';
import { compileTemplate, type ParamInfo } from '../template/index.js';
import { resolveReference, type Project } from './model.js';
import { findTableReferences } from './references.js';

const FILLABLE = ['example', 'description', 'default', 'enum', 'format'] as const;

// A loaded project does not change (a reload makes new PipeFile objects): its pipes' parameters are found once,
// not on every /docs or openapi.json request.
const cached = new WeakMap<PipeFile, WeakMap<Project, ParamInfo[]>>();

/** Every parameter the pipe's nodes use, typed uses winning over untyped ones (a node's defined(x) says little). */
export function pipeParams(pipe: PipeFile, project: Project): ParamInfo[] {
  let byProject = cached.get(pipe);
  if (!byProject) cached.set(pipe, (byProject = new WeakMap()));
  let params = byProject.get(project);
  if (!params) byProject.set(project, (params = discoverParams(pipe, project)));
  // Copies: callers may adjust what they get (test create fills in examples).
  return params.map((p) => ({ ...p }));
}

function discoverParams(pipe: PipeFile, project: Project): ParamInfo[] {
  const byName = new Map<string, ParamInfo>();
  const visited = new Set<string>();
  const walk = (p: PipeFile): void => {
    if (visited.has(p.name)) return;
    visited.add(p.name);
    for (const node of p.nodes) {
      if (node.isTemplate) {
        for (const info of compileTemplate(node.template, `${p.name}.${node.name}`, node.name).params()) {
          const prev = byName.get(info.name);
          const typedWins = !prev || (prev.usedIn === 'function_call' && info.usedIn !== 'function_call') || (prev.type === 'String' && info.type !== 'String' && info.usedIn !== 'function_call');
          const merged: ParamInfo = typedWins ? { ...prev, ...info } : { ...prev! };
          // The example, default or enum may sit on another use of the same parameter.
          for (const key of FILLABLE) if (merged[key] == null && info[key] != null) (merged as unknown as Record<string, unknown>)[key] = info[key];
          byName.set(info.name, merged);
        }
      }
      for (const ref of findTableReferences(node.template)) {
        const target = resolveReference(project, p, node, ref.name);
        if (target && target.pipe !== p) walk(target.pipe);
      }
    }
  };
  walk(pipe);
  return [...byName.values()];
}
