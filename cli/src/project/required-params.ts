// Narrows Tinybird's "Required parameter is not defined. Check the parameters a, b and c" to the parameters the
// request actually lacks and the node cannot do without. The template engine lists every parameter without a
// default (Tinybird's own text), so a request that had given `a` was still told to check `a`, and parameters
// the node only reads under `{% if defined(b) %}` were blamed as well.
import type { ParamInfo, TemplateVars } from '../template/index.js';

const LIST = /Check the parameters (.+?)\. Please provide a value/;

export function narrowRequiredMessage(message: string, template: string, params: readonly ParamInfo[], vars: TemplateVars): string {
  const m = LIST.exec(message);
  if (!m) return message;
  const listed = m[1].split(/, | and /).map((s) => s.trim());
  const given = (name: string): boolean => vars[name] !== undefined && vars[name] !== '';
  const explicit = new Map(params.map((p) => [p.name, p.required === true]));
  const missing = listed.filter((name) => !given(name));
  // A parameter the node tests with defined() is optional unless it says required=True.
  const needed = missing.filter((name) => explicit.get(name) || !testedWithDefined(template, name));
  const names = needed.length ? needed : missing;
  if (!names.length || names.length === listed.length) return message;
  return message.replace(LIST, `Check the parameter${names.length === 1 ? '' : 's'} ${joinNames(names)}. Please provide a value`);
}

function testedWithDefined(template: string, name: string): boolean {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`defined\\(\\s*(?:${escaped}|'${escaped}'|"${escaped}")\\s*[,)]`).test(template);
}

function joinNames(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
