// What replacing a datasource's rows means for the materialized views downstream of it: every view target
// fed (directly or through other targets) by the datasource holds aggregates of the old rows, so each is
// recomputed from all of its feeders once the new rows are in, in dependency order.
import { quoteIdent } from '../engine/embedded.js';
import { refillTable } from '../engine/swap.js';
import type { Engine } from '../engine/types.js';
import type { Diagnostic } from '../datafile/types.js';
import { desiredViews, viewBackfillInsert, type DesiredView } from './apply.js';
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
   * Tables whose inserts must be held while the cascade runs: the replaced datasource and every source of a
   * feeder. A row inserted into one of them meanwhile would reach a table that is about to be swapped out.
   */
  holdTables: string[];
}

/** The targets downstream of `datasource`, breadth-first from it, each listed once after all of its feeding targets. */
export function cascadeFrom(project: Project, datasource: string): Cascade {
  const diagnostics: Diagnostic[] = [];
  const views = [...desiredViews(project, diagnostics).values()];
  const feedersOf = (target: string) => views.filter((v) => v.target === target && v.source);
  // Reachable targets first, then order them so a target comes after every reachable target that feeds it.
  const reachable = new Set<string>();
  const queue = [datasource];
  while (queue.length) {
    const table = queue.shift()!;
    for (const v of views) {
      if (v.source === table && !reachable.has(v.target) && v.target !== datasource) {
        reachable.add(v.target);
        queue.push(v.target);
      }
    }
  }
  const ordered: string[] = [];
  const visiting = new Set<string>();
  const visit = (t: string): void => {
    if (ordered.includes(t) || visiting.has(t)) return; // a cycle cannot be built; the project check rejects it
    visiting.add(t);
    for (const v of feedersOf(t)) if (reachable.has(v.source!)) visit(v.source!);
    visiting.delete(t);
    ordered.push(t);
  };
  for (const t of reachable) visit(t);
  const targets = ordered.map((target) => ({ target, feeders: feedersOf(target) }));
  const hold = new Set([datasource]);
  for (const t of targets) for (const v of t.feeders) hold.add(v.source!);
  return { targets, holdTables: [...hold] };
}

/** Recomputes each target of the cascade from its feeders: a filled copy swapped in, so readers never see it empty. */
export async function rebuildTargets(engine: Engine, project: Project, cascade: Cascade, stagingSuffix: string): Promise<void> {
  for (const { target, feeders } of cascade.targets) {
    const ds = project.datasources.get(target)!;
    try {
      await refillTable(engine, target, `${target}__${stagingSuffix}`, async (staging) => {
        for (const view of feeders) {
          const insert = await viewBackfillInsert(engine, view, ds, quoteIdent(staging));
          if (insert) await engine.command(insert);
        }
      });
    } catch (e) {
      throw new Error(`recomputing ${target}: ${(e as Error).message}`);
    }
  }
}
