// Tinybird Classic's materialized nodes with ENGINE* settings: the target datasource has no .datasource file and
// takes the node's output columns, with the types the engine infers for them (model.ts adds the datasource).
import type { DatasourceFile } from '../datafile/types.js';
import { toEngineError } from '../engine/errors.js';
import type { Engine } from '../engine/types.js';
import type { Project } from './model.js';
import { nodeOutputColumns } from './node-columns.js';
import { NodeRenderError, renderNode } from './render.js';
import { pipeSecrets } from './secrets.js';

export interface InferenceFailure {
  datasource: string;
  file: string;
  line: number;
  col: number;
  message: string;
  hint: string;
}

/**
 * Fills the columns of every Classic target that has none yet, from the engine's analysis of its node. Returns
 * the targets it could not infer (typically: the node reads a datasource whose table does not exist yet).
 */
export async function inferClassicTargets(engine: Engine, project: Project): Promise<InferenceFailure[]> {
  const failures: InferenceFailure[] = [];
  for (const ds of project.datasources.values()) {
    if (!ds.inferredFrom || ds.columns.length) continue;
    const pipe = project.pipes.get(ds.inferredFrom.pipe)!;
    const node = pipe.nodes.find((n) => n.name === ds.inferredFrom!.node)!;
    const at = node.engine?.positions.ENGINE ?? node.attrPositions.DATASOURCE ?? node.pos;
    try {
      // Rendered as validation renders a node (placeholders for parameters, secrets bound as query parameters).
      const meta = await nodeOutputColumns(engine, renderNode(project, pipe, node, {}, { testMode: true, secrets: pipeSecrets() }));
      ds.columns = meta.map((m) => ({ name: m.name, type: m.type, nullable: m.type.startsWith('Nullable('), pos: at }));
    } catch (err) {
      const message = err instanceof NodeRenderError ? err.message : toEngineError(err).message;
      failures.push({
        datasource: ds.name,
        file: pipe.path,
        line: at.line,
        col: at.col,
        message: `cannot infer the schema of datasource '${ds.name}' from materialized node ${node.name}: ${message}`,
        hint: `add datasources/${ds.name}.datasource with its SCHEMA and ENGINE (Tinybird Forward needs it anyway)`,
      });
    }
  }
  return failures;
}

/** The project without some datasources and the pipes that materialize into them. */
export function withoutDatasources(project: Project, names: string[]): Project {
  const datasources = new Map<string, DatasourceFile>([...project.datasources].filter(([n]) => !names.includes(n)));
  const pipes = new Map([...project.pipes].filter(([, p]) => !p.nodes.some((n) => n.type === 'materialized' && names.includes(n.datasource ?? ''))));
  return { ...project, datasources, pipes };
}
