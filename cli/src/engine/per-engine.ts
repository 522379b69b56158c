// A fact about the server behind an Engine that does not change while it is open (a setting it has, a column of a
// system table, its database engine): asked once per Engine, not once per request. A failed lookup is forgotten,
// so it is asked again next time.
import type { Engine } from './types.js';

export function oncePerEngine<T>(ask: (engine: Engine) => Promise<T>): (engine: Engine) => Promise<T> {
  return perEngineFor(Infinity, ask);
}

/** The same for a fact that may change while the Engine is open (the tables of a database): asked again after `ttlMs`. */
export function perEngineFor<T>(ttlMs: number, ask: (engine: Engine) => Promise<T>): (engine: Engine) => Promise<T> {
  const known = new WeakMap<Engine, { at: number; answer: Promise<T> }>();
  return (engine) => {
    const hit = known.get(engine);
    if (hit && Date.now() - hit.at < ttlMs) return hit.answer;
    const answer = ask(engine);
    known.set(engine, { at: Date.now(), answer });
    answer.catch(() => known.delete(engine));
    return answer;
  };
}
