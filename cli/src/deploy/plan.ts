// The deployment plan: what `deploy` will do, printed before it changes anything. Datasources and
// materialized views come from the schema plan (project/apply.ts); pipes and tokens from comparing the
// project with the live deployment.
import type { ApplyPlan, DatasourceStep } from '../project/apply.js';
import type { Deployment } from './store.js';
import type { TokenDefinition } from './tokens.js';

export type PlanAction = 'create' | 'change' | 'delete';

export interface PlanEntry {
  kind: 'datasource' | 'materialized view' | 'pipe' | 'token';
  name: string;
  action: PlanAction;
  detail?: string;
}

export interface DeploymentPlan {
  entries: PlanEntry[];
  /** Changes that would lose data: they need --allow-destructive-operations. */
  destructive: string[];
  /** Changes with no migration that keeps the data: the plan cannot run. */
  impossible: string[];
  /** The schema plan has something to do (tables or views). */
  schemaWork: boolean;
}

export function migrationLabel(step: DatasourceStep): string {
  if (step.how === 'alter') return `ALTER in place: ${step.alterations.join(', ')}`;
  if (step.how === 'rewrite') {
    const how = step.backfill === 'forward_query' ? 'backfill through FORWARD_QUERY' : step.backfill === 'materialized_view' ? 'rebuild by re-running the materialized view that feeds it' : 'copy the columns old and new schemas share';
    return `rewrite into a new table (${step.reason}), ${how}, swap at the end`;
  }
  return step.how;
}

function pipeKind(text: string): PlanEntry['kind'] {
  return /^\s*TYPE\s+materialized\b/im.test(text) ? 'materialized view' : 'pipe';
}

export function buildDeploymentPlan(sources: Record<string, string>, apply: ApplyPlan, live: Deployment | undefined, tokens: TokenDefinition[]): DeploymentPlan {
  const entries: PlanEntry[] = [];
  const impossible: string[] = [];
  for (const step of apply.datasources) {
    if (step.how === 'none') continue;
    entries.push({ kind: 'datasource', name: step.ds.name, action: step.how === 'create' ? 'create' : 'change', detail: step.how === 'create' ? undefined : migrationLabel(step) });
    if (step.unsafe) impossible.push(`${step.ds.path}: no safe path for datasource ${step.ds.name}: ${step.unsafe}. Add a FORWARD_QUERY that maps the live columns to the new SCHEMA (e.g. FORWARD_QUERY > SELECT *, toString(x) AS x ...), or keep the old types.`);
  }
  for (const name of apply.removedDatasources) entries.push({ kind: 'datasource', name, action: 'delete', detail: 'drops the table and its quarantine table' });

  const before = live?.sources ?? {};
  const views = new Set(apply.createViews.map((v) => v.view.pipe.name));
  for (const [p, text] of Object.entries(sources)) {
    if (!p.endsWith('.pipe')) continue;
    const name = p.split('/').pop()!.replace(/\.pipe$/, '');
    const kind = pipeKind(text);
    const rebuilt = kind === 'materialized view' && views.has(name);
    if (before[p] === undefined) entries.push({ kind, name, action: 'create', detail: rebuilt ? backfillDetail(apply, name) : undefined });
    else if (before[p] !== text || rebuilt) entries.push({ kind, name, action: 'change', detail: rebuilt ? `view recreated; ${backfillDetail(apply, name)}` : undefined });
  }
  for (const p of Object.keys(before)) {
    if (p.endsWith('.pipe') && sources[p] === undefined) entries.push({ kind: pipeKind(before[p]), name: p.split('/').pop()!.replace(/\.pipe$/, ''), action: 'delete' });
  }

  const oldTokens = new Map((live?.tokens ?? []).map((t) => [t.name, t]));
  for (const t of tokens) {
    const old = oldTokens.get(t.name);
    if (!old) entries.push({ kind: 'token', name: t.name, action: 'create', detail: scopesText(t) });
    else if (JSON.stringify(old.scopes) !== JSON.stringify(t.scopes) || old.secretSha256 !== t.secretSha256) entries.push({ kind: 'token', name: t.name, action: 'change', detail: scopesText(t) });
  }
  for (const t of oldTokens.values()) if (!tokens.some((n) => n.name === t.name)) entries.push({ kind: 'token', name: t.name, action: 'delete' });

  const schemaWork = apply.datasources.some((s) => s.how !== 'none') || apply.removedDatasources.length > 0 || apply.staleViews.length > 0 || apply.createViews.length > 0;
  return { entries, destructive: apply.destructive, impossible, schemaWork };
}

function backfillDetail(apply: ApplyPlan, pipe: string): string {
  const step = apply.createViews.find((v) => v.view.pipe.name === pipe);
  if (!step) return '';
  if (step.backfill) return `backfill ${step.view.target} from ${step.view.source}`;
  return step.keptByAlter ? `into ${step.view.target}, whose rows are kept (DEPLOYMENT_METHOD alter)` : `into ${step.view.target}, no backfill`;
}

function scopesText(t: TokenDefinition): string {
  return t.scopes.map((s) => (s.resource ? `${s.type}:${s.resource}` : s.type)).join(', ');
}

export function formatPlan(plan: DeploymentPlan): string {
  if (!plan.entries.length) return '  (nothing to change)\n';
  const order: PlanEntry['kind'][] = ['datasource', 'materialized view', 'pipe', 'token'];
  const sign = { create: '+', change: '~', delete: '-' } as const;
  const lines: string[] = [];
  for (const kind of order) {
    for (const e of plan.entries.filter((x) => x.kind === kind)) lines.push(`  ${sign[e.action]} ${e.kind} ${e.name}: ${e.action}${e.detail ? ` (${e.detail})` : ''}`);
  }
  return lines.join('\n') + '\n';
}
