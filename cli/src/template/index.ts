// Public API of the template engine (Tinybird's Tornado-derived SQL templates, §4).
import { TemplateError } from './errors.js';
import { parseTemplate } from './parser.js';
import { DEFAULT_PARAM_NAMES, RESERVED_PARAM_NAMES, assignedNames, getParams, getVarNames } from './params.js';
import { renderCompiled, renderSecretsOnly, type CompiledData, type MissingSecret } from './render.js';

export { TemplateError };
export type { MissingSecret };

export interface RenderOptions {
  testMode?: boolean;
  secrets?: Record<string, string>;
  nodeName?: string;
}

export interface RenderResult {
  sql: string;
  /** ClickHouse settings the template asked for (max_threads, ...). */
  settings: Record<string, string | number>;
  /** Server-side query parameters (tb_secret values), sent as `param_<name>`. */
  queryParams: Record<string, string>;
  warnings: string[];
  cacheTtlSeconds?: number;
  /** Test mode only: `tb_secret`s without a value or default, rendered with an empty stand-in (lines of the template). */
  unsetSecrets?: MissingSecret[];
}

export type TemplateVars = Record<string, string | string[] | number | boolean | null | undefined>;

export interface ParamInfo {
  name: string;
  type: string;
  default?: string | number | boolean | null;
  required?: boolean;
  description?: string;
  example?: string;
  enum?: string[];
  format?: string;
  defined?: boolean;
  usedIn?: 'function_call';
}

export interface CompiledTemplate {
  render(vars: TemplateVars, opts?: RenderOptions): RenderResult;
  params(): ParamInfo[];
}

class Compiled implements CompiledTemplate {
  private paramsCache: ParamInfo[] | null = null;
  private data: CompiledData;

  constructor(text: string, name: string, nodeName?: string) {
    const { body } = parseTemplate(text, name, nodeName);
    const names = getVarNames(body);
    const discovered = new Map<string, number>();
    const warnings: string[] = [];
    for (const v of names) {
      if (DEFAULT_PARAM_NAMES.has(v.name)) {
        throw new TemplateError(`"${v.name}" can not be used as a variable name, line ${v.line}`, { line: v.line, kind: 'syntax' });
      }
      if (RESERVED_PARAM_NAMES.has(v.name) && !warnings.includes(v.name)) warnings.push(v.name);
      discovered.set(v.name, v.line);
    }
    let arrays: Map<string, string> | null = null;
    this.data = {
      body,
      discovered,
      assigned: assignedNames(body),
      warnings,
      params: () => this.params(),
      arrayTypes: () => {
        if (!arrays) {
          arrays = new Map();
          const seen = new Set<string>();
          for (const p of this.params()) {
            if (seen.has(p.name)) continue; // the first entry for a name decides, as in preprocess_variables
            seen.add(p.name);
            const m = /^Array\((\w+)\)/.exec(p.type);
            if (m) arrays.set(p.name, m[1]!);
          }
        }
        return arrays;
      },
      usesJobTimestamp: false,
    };
    this.data.usesJobTimestamp = discovered.has('job_timestamp');
  }

  params(): ParamInfo[] {
    if (!this.paramsCache) this.paramsCache = getParams(this.data.body);
    return this.paramsCache.map((p) => ({ ...p }));
  }

  render(vars: TemplateVars, opts: RenderOptions = {}): RenderResult {
    const r = renderCompiled(this.data, vars, opts);
    return { ...r, warnings: r.warnings.slice() };
  }

  renderSecrets(secrets: Record<string, string | undefined>): { text: string; missing: MissingSecret[] } {
    return renderSecretsOnly(this.data, secrets);
  }
}

const CACHE_MAX = 8192;
const cache = new Map<string, Compiled>();

function getCompiled(text: string, name = '<string>', nodeName?: string): Compiled {
  const key = nodeName ? `${name}\u0000${nodeName}\u0000${text}` : name === '<string>' ? text : `${name}\u0000${text}`;
  let c = cache.get(key);
  if (!c) {
    c = new Compiled(text, name, nodeName);
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(key, c);
  }
  return c;
}

/** Compile (cached by text) a template; throws TemplateError on syntax errors. */
export function compileTemplate(text: string, name?: string, nodeName?: string): CompiledTemplate {
  return getCompiled(text, name, nodeName);
}

/**
 * Compile a one-off template (a `%` query sent to /v0/sql) outside the cache: every request may send a new
 * text, and thousands of them must not evict the project's node templates compiled at load.
 */
export function compileUncached(text: string): CompiledTemplate {
  return new Compiled(text, '<string>');
}

export function renderTemplate(text: string, vars: TemplateVars, opts: RenderOptions = {}): RenderResult {
  return getCompiled(text, '<string>', opts.nodeName).render(vars, opts);
}

/**
 * `.datasource` / `.connection` files: `{{ tb_secret('NAME', 'default') }}` substituted raw
 * (render_template_with_secrets); empty values render `""`. Secrets without a value or default are left in
 * place and listed in `missing`. Throws TemplateError (with a line) for anything else in `{{ }}` or `{% %}`.
 */
export function renderTemplateWithSecrets(
  text: string,
  secrets: Record<string, string | undefined>,
  name?: string,
): { text: string; missing: MissingSecret[] } {
  // Most datafiles have no template syntax at all: skip the compile (and the cache slot).
  if (!/\{[{%#]/.test(text)) return { text, missing: [] };
  return getCompiled(text, name).renderSecrets(secrets);
}
