// `emailstats render <pipe>` and `emailstats params <pipe>`: what a node would run, and what an endpoint
// accepts, straight from the datafiles (no engine needed).
import type { Command } from 'commander';
import { findPipe, outputNode, type Project } from '../project/model.js';
import { NodeRenderError, renderNode } from '../project/render.js';
import { TemplateError, type ParamInfo } from '../template/index.js';
import { pipeParams } from '../project/params.js';
import type { PipeFile } from '../datafile/types.js';
import { UserError } from '../util/fatal.js';
import { loadCleanProject, projectDir, withProject } from './common.js';
import { collectParam } from './endpoint.js';


async function loadPipe(nameOrPath: string, opts: { project?: string }): Promise<{ project: Project; pipe: PipeFile }> {
  const project = await loadCleanProject(projectDir(undefined, opts), 'nothing was rendered');
  const pipe = findPipe(project, nameOrPath);
  if (!pipe) throw new UserError(`pipe '${nameOrPath}' not found; pipes: ${[...project.pipes.keys()].join(', ') || '(none)'}`);
  return { project, pipe };
}

export function register(program: Command): void {
  withProject(program.command('render <pipe>'))
    .description('print the SQL a node runs for the given parameters, with node references expanded')
    .option('--node <name>', 'node to render (default: the endpoint / output node)')
    .option('--param <name=value>', 'template parameter (repeatable)', collectParam, [])
    .option('--test', 'placeholder mode, as build validates nodes')
    .option('--shared-ctes', 'write a node used more than once as one WITH CTE, as endpoints run it on the embedded engine and ClickHouse 24.3+')
    .action(async (name: string, opts: { project?: string; node?: string; param: string[]; test?: boolean; sharedCtes?: boolean }) => {
      const { project, pipe } = await loadPipe(name, opts);
      const node = opts.node ? pipe.nodes.find((n) => n.name === opts.node) : outputNode(pipe);
      if (!node) throw new UserError(`node '${opts.node}' not found in ${pipe.path}; nodes: ${pipe.nodes.map((n) => n.name).join(', ')}`);
      const vars: Record<string, string | string[]> = {};
      for (const p of opts.param) {
        const k = p.slice(0, p.indexOf('='));
        const v = p.slice(p.indexOf('=') + 1);
        const prev = vars[k];
        vars[k] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v];
      }
      try {
        const r = renderNode(project, pipe, node, vars, { testMode: opts.test, sharedCtes: opts.sharedCtes });
        process.stdout.write(r.sql.trim() + '\n');
        if (Object.keys(r.settings).length) process.stderr.write(`-- settings: ${JSON.stringify(r.settings)}\n`);
        for (const w of r.warnings) process.stderr.write(`△ warning: '${w}' is a reserved parameter name\n`);
      } catch (err) {
        if (err instanceof NodeRenderError) throw new UserError(`${err.file}:${err.line}: ${err.message}\n  an endpoint answers this request with HTTP ${err.status}`);
        throw err;
      }
    });

  withProject(program.command('params <pipe>'))
    .description('the parameters an endpoint accepts, discovered from its templates')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { project?: string; json?: boolean }) => {
      const { project, pipe } = await loadPipe(name, opts);
      let params: ParamInfo[];
      try {
        params = pipeParams(pipe, project);
      } catch (err) {
        if (err instanceof TemplateError) throw new UserError(`${pipe.path}: ${err.message}`);
        throw err;
      }
      if (opts.json) {
        process.stdout.write(JSON.stringify(params, null, 2) + '\n');
        return;
      }
      if (!params.length) process.stdout.write(`${pipe.name} takes no parameters\n`);
      for (const p of params) {
        const bits = [p.type, p.required ? 'required' : 'optional'];
        if (p.default !== undefined && p.default !== null) bits.push(`default ${JSON.stringify(p.default)}`);
        if (p.enum) bits.push(`one of ${p.enum.join(', ')}`);
        if (p.format) bits.push(`format ${p.format}`);
        if (p.example) bits.push(`e.g. ${p.example}`);
        process.stdout.write(`${p.name}\t${bits.join(', ')}${p.description ? `\t${p.description}` : ''}\n`);
      }
    });
}
