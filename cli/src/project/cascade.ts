// What replacing a datasource's rows means for the materialized views downstream of it: every view target
// fed (directly or through other targets) by the datasource holds aggregates of the old rows, so each is
// recomputed from all of its feeders once the new rows are in, in dependency order.
import { refillTable } from '../engine/swap.js';
import { tableSpec } from './ddl.js';
import type { Engine } from '../engine/types.js';
import type { Diagnostic } from '../datafile/types.js';
import { desiredViews, fillFromViews, rebuildableFromViews, type DesiredView } from './apply.js';
import type { Project } from './model.js';

export interface DownstreamTarget {
  target: string;
  /** Every view writing into the target (not only those fed by the replaced datasource). */
  feeders: DesiredView[];
}

export interface Cascade {
  /** Targets to recompute, each after the targets it reads from. */
  targets: DownstreamTarget[];
  /**
   * Downstream targets that re-running views cannot rebuild (BACKFILL skip, a view reading its own target, a
   * feeder reading a table that is not a datasource): left as they are, with the reason.
   */
  skipped: { target: string; reason: string }[];
  /**
   * Tables whose WAL flushes must be held while the cascade runs: the replaced datasource, the rebuilt targets,
   * every source of a feeder, and everything upstream of those through views. A row flushed into any of them
   * meanwhile could reach a table that is about to be swapped out.
   */
  holdTables: string[];
}

export class CascadeError extends Error {}

/** Plans the cascade of replacing `datasource`; throws CascadeError when a view of the project does not render. */
export function cascadeFrom(project: Project, datasource: string): Cascade {
  const diagnostics: Diagnostic[] = [];
  const views = [...desiredViews(project, diagnostics).values()];
  if (diagnostics.length) throw new CascadeError(diagnostics.map((d) => `${d.file}:${d.line}:${d.col}: ${d.message}`).join('\n'));
  const feedersOf = (target: string) => views.filter((v) => v.target === target && v.source);

  const reachable = new Set<string>();
  const queue = [datasource];
  while (queue.length) {
    const table = queue.shift()!;
    for (const v of views) {
      if (v.source === table && v.target !== datasource && !reachable.has(v.target)) {
        reachable.add(v.target);
        queue.push(v.target);
      }
    }
  }
  // A target comes after every reachable target that feeds it.
  const ordered: string[] = [];
  const visiting = new Set<string>();
  const visit = (t: string): void => {
    if (ordered.includes(t) || visiting.has(t)) return; // cycles are refused when the project is checked
    visiting.add(t);
    for (const v of feedersOf(t)) if (reachable.has(v.source!)) visit(v.source!);
    visiting.delete(t);
    ordered.push(t);
  };
  for (const t of reachable) visit(t);

  const targets: DownstreamTarget[] = [];
  const skipped: Cascade['skipped'] = [];
  for (const target of ordered) {
    const ds = project.datasources.get(target)!;
    const feeders = feedersOf(target);
    if (rebuildableFromViews(ds, feeders, project, false)) targets.push({ target, feeders });
    else skipped.push({ target, reason: ds.backfill === 'skip' ? 'BACKFILL skip' : 'its views do not give all of its rows (one reads the target itself or a table outside the project)' });
  }

  // The rebuilt targets themselves (a row flushed straight into one would miss its copy), and the upstream
  // closure of the datasource and of every feeder's source.
  const hold = new Set<string>(targets.map((t) => t.target));
  const up = [datasource, ...targets.flatMap((t) => t.feeders.map((v) => v.source!))];
  const seen = new Set<string>();
  while (up.length) {
    const table = up.pop()!;
    if (seen.has(table)) continue;
    seen.add(table);
    hold.add(table);
    for (const v of feedersOf(table)) up.push(v.source!);
  }
  return { targets, skipped, holdTables: [...hold] };
}

/**
 * Recomputes each target of the cascade from its feeders: a filled copy swapped in, so readers never see it
 * empty. `beforeSwap` runs between filling a copy and swapping it in (a throw leaves that target as it was).
 */
export async function rebuildTargets(engine: Engine, project: Project, cascade: Cascade, stagingSuffix: string, beforeSwap?: () => Promise<void>): Promise<void> {
  for (const { target, feeders } of cascade.targets) {
    try {
      const ds = project.datasources.get(target)!;
      await refillTable(engine, target, `${target}__${stagingSuffix}`, tableSpec(ds, engine.caps, target, engine.version), async (staging) => {
        await fillFromViews(engine, feeders, ds, staging);
        await beforeSwap?.();
      });
    } catch (e) {
      throw new Error(`recomputing ${target}: ${(e as Error).message}`);
    }
  }
}
