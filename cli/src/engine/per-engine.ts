// A fact about the server behind an Engine that does not change while it is open (a setting it has, a column of a
// system table, its database engine): asked once per Engine, not once per request. A failed lookup is forgotten,
// so it is asked again next time.
import type { Engine } from './types.js';

export function oncePerEngine<T>(ask: (engine: Engine) => Promise<T>): (engine: Engine) => Promise<T> {
  const known = new WeakMap<Engine, Promise<T>>();
  return (engine) => {
    let answer = known.get(engine);
    if (!answer) {
      answer = ask(engine);
      known.set(engine, answer);
      answer.catch(() => known.delete(engine));
    }
    return answer;
  };
}
