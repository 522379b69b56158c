// The routes Tinybird's TypeScript SDK CLI (`@tinybirdco/sdk`: `tinybird build`, `deploy`, `info`, `dev`, `branch`)
// calls beyond the /v0 data API: the workspace, branches ("environments") and local workspaces, builds and
// deployments. `dev` has one workspace: a branch or a local workspace is a name for it, and its token is the admin
// token; creating one completes at once (its job, in server/jobs.ts, is done when created). A build or a deployment
// replaces the project dev serves (through ServerOptions.projectApi). `serve` answers GET /v1/workspace and refuses
// the rest: production deploys go through `emailstats deploy`. Branches and deployments are kept in memory.
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import busboy from 'busboy';
import { authorize, identify, presentedToken, tokenKey } from '../auth.js';
import { jobJson, type JobRegistry } from '../jobs.js';
import { HttpError, param, sendJson, type Request } from '../http.js';
import type { ProjectApi, ProjectApplyOutcome, PostedDatafile, Workspace } from '../workspace.js';
import type { Change } from '../../project/apply.js';

interface NamedWorkspace {
  id: string;
  name: string;
  created_at: string;
}

interface Deployment {
  id: string;
  status: 'data_ready' | 'deleted';
  live: boolean;
  created_at: string;
  updated_at: string;
  feedback: { resource: string | null; level: 'INFO'; message: string }[];
  [changeList: string]: unknown;
}

type Handler = (ws: Workspace, req: Request, res: ServerResponse, match: RegExpExecArray, baseUrl: string) => Promise<void> | void;

/** Where each datafile kind goes in a project (discover.ts looks there). */
const FOLDER_OF: Record<string, string> = { datasource: 'datasources', pipe: 'pipes', connection: 'connections' };
const DATAFILE_NAME = /^([A-Za-z_][A-Za-z0-9_]*)\.(datasource|pipe|connection)$/;
/** Names the SDK gives branches (sanitized git branch names) and local workspaces. */
const WORKSPACE_NAME = /^[A-Za-z0-9_]{1,128}$/;

const DEPLOY_FROM_CI =
  'emailstats serve serves what `emailstats deploy` deployed and takes no builds or deployments over HTTP: deploy with `emailstats deploy` from CI ' +
  '(docs/deploy.md, "Deploy from CI"), or point the SDK CLI at `emailstats dev` (baseUrl in tinybird.config.json) to develop';

export class TinybirdCliRoutes {
  private readonly named = new Map<string, NamedWorkspace>();
  private readonly deployments: Deployment[] = [];
  private nextDeployment = 1;
  private nextBuild = 1;
  /** `serve: true`: answered by `serve` too (read-only; it has no branches, so `tinybird info` and a build see none). */
  private readonly routes: [method: string, path: RegExp, handler: Handler, serve?: true][] = [
    ['GET', /^\/v1\/workspace$/, (ws, req, res) => this.workspaceInfo(ws, req, res), true],
    ['GET', /^\/v1\/user\/workspaces$/, (ws, req, res) => this.listWorkspaces(ws, req, res)],
    ['POST', /^\/v1\/workspaces$/, (ws, req, res) => this.createWorkspace(req, res)],
    ['DELETE', /^\/v1\/workspaces\/([^/]+)$/, () => this.refuseWorkspaceDelete()],
    ['GET', /^\/v1\/environments$/, (_ws, _req, res) => sendJson(res, 200, { environments: [...this.named.values()] }), true],
    ['POST', /^\/v1\/environments$/, (ws, req, res, _m, baseUrl) => this.createBranch(ws, req, res, baseUrl)],
    ['GET', /^\/v0\/environments\/([^/]+)$/, (_ws, req, res, m) => this.getBranch(req, res, m[1]), true],
    ['DELETE', /^\/v0\/environments\/([^/]+)$/, (_ws, _req, res, m) => this.deleteBranch(res, m[1])],
    ['POST', /^\/v1\/build$/, (_ws, req, res) => this.build(req, res)],
    ['POST', /^\/v1\/deploy$/, (_ws, req, res) => this.deploy(req, res)],
    ['GET', /^\/v1\/deployments$/, (_ws, _req, res) => sendJson(res, 200, { deployments: [...this.deployments].reverse() })],
    ['GET', /^\/v1\/deployments\/([^/]+)$/, (_ws, _req, res, m) => sendJson(res, 200, { result: 'success', deployment: this.deployment(m[1]) })],
    ['DELETE', /^\/v1\/deployments\/([^/]+)$/, (_ws, _req, res, m) => this.deleteDeployment(res, m[1])],
  ];

  /** `projectApi` absent (serve): only the routes marked `serve` are answered. */
  constructor(
    private readonly jobs: JobRegistry,
    private readonly projectApi?: ProjectApi,
  ) {}

  handles(path: string): boolean {
    return this.routes.some(([, pattern]) => pattern.test(path));
  }

  async serve(ws: Workspace, req: Request, res: ServerResponse, baseUrl: string): Promise<void> {
    // Every one of these routes hands out the admin token (branch tokens) or changes the project: admin only.
    authorize(ws.tokens, req, { type: 'ADMIN' });
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const matching = this.routes.filter(([, pattern]) => pattern.test(req.path));
    const route = matching.find(([m]) => m === method);
    if (!route) {
      const allowed = matching.map(([m]) => m).join(', ');
      throw new HttpError(405, `${req.method} ${req.path} is not supported; use ${allowed}`, {}, { allow: allowed });
    }
    if (!this.projectApi && !route[3]) throw new HttpError(405, `${req.method} ${req.path}: ${DEPLOY_FROM_CI}`);
    await route[2](ws, req, res, route[1].exec(req.path)!, baseUrl);
  }

  private get api(): ProjectApi {
    return this.projectApi!; // serve() refuses every route that needs it when it is absent
  }

  private workspaceName(ws: Workspace): string {
    return this.projectApi?.name ?? ws.engine.database;
  }

  private workspaceInfo(ws: Workspace, req: Request, res: ServerResponse): void {
    const name = this.workspaceName(ws);
    // No users here: the admin token stands for whoever holds it.
    sendJson(res, 200, { id: stableId(name), name, user_id: 'admin', user_email: '', scope: 'admin', main: null, token: presentedToken(req) });
  }

  private listWorkspaces(ws: Workspace, req: Request, res: ServerResponse): void {
    const token = presentedToken(req);
    const name = this.workspaceName(ws);
    const all = [{ id: stableId(name), name, created_at: null }, ...this.named.values()];
    sendJson(res, 200, { organization_id: 'local', workspaces: all.map((w) => ({ ...w, token })) });
  }

  /** POST /v1/workspaces (`--local`): a local workspace is a name for dev's one workspace. */
  private createWorkspace(req: Request, res: ServerResponse): void {
    const w = this.addName(param(req, 'name'), 'workspace');
    sendJson(res, 200, { ...w, token: presentedToken(req) });
  }

  private refuseWorkspaceDelete(): never {
    throw new HttpError(405, 'emailstats dev has one workspace and does not delete it: to empty it, stop dev and remove its .emailstats/ folder; to drop a resource, build without it');
  }

  private createBranch(ws: Workspace, req: Request, res: ServerResponse, baseUrl: string): void {
    const branch = this.addName(param(req, 'name'), 'branch');
    const job = this.jobs.start('create_environment', { id: `job_${branch.id}`, owner: tokenKey(identify(ws.tokens, req)) });
    this.jobs.finish(job);
    sendJson(res, 200, { job: jobJson(job, baseUrl), workspace: { id: branch.id } });
  }

  private getBranch(req: Request, res: ServerResponse, name: string): void {
    const branch = this.named.get(name);
    if (!branch) throw new HttpError(404, `branch '${name}' not found; create it with POST /v1/environments?name=${name} ${this.projectApi ? '(in emailstats dev, a branch is a name for the dev workspace)' : '(emailstats serve has no branches)'}`);
    sendJson(res, 200, { ...branch, ...(param(req, 'with_token') === 'true' ? { token: presentedToken(req) } : {}) });
  }

  /** Forgets the name; the workspace and its data stay (they are dev's only workspace). */
  private deleteBranch(res: ServerResponse, idOrName: string): void {
    const branch = [...this.named.values()].find((b) => b.id === idOrName || b.name === idOrName);
    if (!branch) throw new HttpError(404, `branch '${idOrName}' not found; GET /v1/environments lists them`);
    this.named.delete(branch.name);
    sendJson(res, 200, { deleted: branch.name });
  }

  private addName(raw: string | undefined, kind: 'branch' | 'workspace'): NamedWorkspace {
    const name = raw?.trim() ?? '';
    if (!WORKSPACE_NAME.test(name)) throw new HttpError(400, `a ${kind} name is 1 to 128 letters, digits or underscores, got '${name}'`);
    if (this.named.has(name)) throw new HttpError(409, `a ${kind} named '${name}' already exists`);
    const created: NamedWorkspace = { id: stableId(`${kind}:${name}`), name, created_at: new Date().toISOString() };
    this.named.set(name, created);
    return created;
  }

  private async build(req: Request, res: ServerResponse): Promise<void> {
    const files = await postedDatafiles(req);
    const outcome = await this.api.apply({ files, check: false, allowDataLoss: true, origin: 'tinybird build' });
    if (outcome.errors.length) return sendFailure(res, outcome);
    const names = changeNames(outcome.changes);
    const resources = (ext: string) => files.filter((f) => f.path.endsWith(ext)).map((f) => ({ name: stem(f.path), type: ext.slice(1) }));
    sendJson(res, 200, {
      result: outcome.changes.length ? 'success' : 'no_changes',
      build: { id: String(this.nextBuild++), datasources: resources('.datasource'), pipes: resources('.pipe'), ...names },
    });
  }

  private async deploy(req: Request, res: ServerResponse): Promise<void> {
    const check = param(req, 'check') === 'true';
    if (!check && param(req, 'auto_promote') !== 'true') {
      throw new HttpError(400, 'emailstats dev has no staged deployments: a deployment is applied and live at once. Deploy with auto-promotion (drop --no-auto)');
    }
    const files = await postedDatafiles(req);
    const outcome = await this.api.apply({ files, check, allowDataLoss: param(req, 'allow_destructive_operations') === 'true', origin: 'tinybird deploy' });
    if (outcome.errors.length) return sendFailure(res, outcome);
    if (check) return sendJson(res, 200, { result: 'success', changes: changeNames(outcome.changes) });
    if (!outcome.changes.length) return sendJson(res, 200, { result: 'no_changes' });
    const now = new Date().toISOString();
    for (const d of this.deployments) if (d.live) Object.assign(d, { live: false, status: 'deleted', updated_at: now });
    const deployment: Deployment = {
      id: String(this.nextDeployment++),
      status: 'data_ready',
      live: true,
      created_at: now,
      updated_at: now,
      feedback: outcome.changes.map((c) => ({ resource: c.path, level: 'INFO', message: `${c.action}${c.detail ? ` (${c.detail})` : ''}` })),
      ...changeNames(outcome.changes),
    };
    this.deployments.push(deployment);
    sendJson(res, 200, { result: 'success', deployment });
  }

  private deployment(id: string): Deployment {
    const found = this.deployments.find((d) => d.id === id);
    if (!found) throw new HttpError(404, `deployment '${id}' not found; GET /v1/deployments lists them (kept in memory until dev restarts)`);
    return found;
  }

  private deleteDeployment(res: ServerResponse, id: string): void {
    const found = this.deployment(id);
    if (found.live) throw new HttpError(400, `deployment ${id} is live and cannot be deleted; deploy another project to replace it`);
    this.deployments.splice(this.deployments.indexOf(found), 1);
    sendJson(res, 200, { result: 'success', deployment: { ...found, status: 'deleted' } });
  }
}

/** The datafiles of a multipart build or deployment body: one file part per datafile, named `<name>.<kind>`. */
async function postedDatafiles(req: Request): Promise<PostedDatafile[]> {
  const type = String(req.headers['content-type'] ?? '');
  if (!type.startsWith('multipart/form-data')) {
    throw new HttpError(400, `send the datafiles as multipart/form-data, one file part per datafile named <name>.datasource or <name>.pipe (got content-type '${type || 'none'}')`);
  }
  const parts = await new Promise<{ filename: string; text: string }[]>((resolve, reject) => {
    const found: { filename: string; text: string }[] = [];
    const bb = busboy({ headers: req.headers });
    bb.on('file', (_field, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => found.push({ filename: info.filename ?? '', text: Buffer.concat(chunks).toString('utf8') }));
    });
    bb.on('error', (e) => reject(new HttpError(400, `cannot read the multipart body: ${(e as Error).message}`)));
    bb.on('close', () => resolve(found));
    bb.end(req.body ?? Buffer.alloc(0));
  });
  if (!parts.length) throw new HttpError(400, 'no datafiles in the request: a build or deployment posts the whole project, one file part per datafile');
  const files = new Map<string, PostedDatafile>();
  for (const { filename, text } of parts) {
    const m = DATAFILE_NAME.exec(filename);
    if (!m) throw new HttpError(400, `file part '${filename}' is not a datafile name: use <name>.datasource, <name>.pipe or <name>.connection, the name made of letters, digits and underscores`);
    const path = `${FOLDER_OF[m[2]]}/${filename}`;
    if (files.has(path)) throw new HttpError(400, `${filename} is posted twice; send each datafile once`);
    files.set(path, { path, text });
  }
  return [...files.values()];
}

/** A failed build or deployment, as the SDK reads it: `errors` shown one per file, `error` otherwise. */
function sendFailure(res: ServerResponse, outcome: ProjectApplyOutcome): void {
  sendJson(res, 400, { result: 'failed', error: outcome.errors.map((e) => e.error).join('\n'), errors: outcome.errors });
}

/** Tinybird's change lists (`new_datasource_names`, `changed_pipe_names`, ...) from emailstats' changes. */
function changeNames(changes: Change[]): Record<string, string[]> {
  const lists: Record<string, Set<string>> = {};
  const prefix = { created: 'new', changed: 'changed', deleted: 'deleted' } as const;
  for (const kind of ['datasource', 'pipe']) for (const p of Object.values(prefix)) lists[`${p}_${kind}_names`] = new Set();
  for (const c of changes) {
    const kind = c.path.endsWith('.datasource') ? 'datasource' : c.path.endsWith('.pipe') ? 'pipe' : undefined;
    if (kind) lists[`${prefix[c.action]}_${kind}_names`].add(stem(c.path));
  }
  return Object.fromEntries(Object.entries(lists).map(([k, v]) => [k, [...v]]));
}

function stem(path: string): string {
  return path.split('/').pop()!.replace(/\.[^.]+$/, '');
}

/** An id that stays the same for a name across restarts (the SDK shows it; nothing looks it up). */
function stableId(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
