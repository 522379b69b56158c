// The `params` of each node in `GET /v0/pipes/<p>` (Tinybird's shape: name, type, default, required,
// description), which the TypeScript SDK reads to type a pulled pipe. A node lists the parameters of its own
// template; the output node lists every parameter of the endpoint, those of the pipes it reads included.
import type { PipeFile, PipeNode } from '../datafile/types.js';
import { outputNode, type Project } from '../project/model.js';
import { pipeParams } from '../project/params.js';
import { compileTemplate, type ParamInfo } from '../template/index.js';

export interface NodeParam {
  name: string;
  type: string;
  default: string | number | boolean | null;
  /** Explicit: the SDK reads a missing `required` as true. */
  required: boolean;
  description: string | null;
}

function shape(p: ParamInfo): NodeParam {
  return { name: p.name, type: p.type, default: p.default ?? null, required: p.required === true, description: p.description ?? null };
}

export function nodeParams(project: Project, pipe: PipeFile, node: PipeNode): NodeParam[] {
  try {
    if (node === outputNode(pipe)) return pipeParams(pipe, project).map(shape);
    return node.isTemplate ? compileTemplate(node.template, `${pipe.name}.${node.name}`, node.name).params().map(shape) : [];
  } catch {
    return []; // a template that does not compile already fails the build; the description stays readable
  }
}
