// `tb_secret('NAME')` in an endpoint answers requests with the value from the environment of `dev`
// (TB_SECRET_<NAME>), bound as a query parameter: the secret never becomes SQL text, so its quotes cannot
// change the query.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { eventsProject } from '../helpers/events-project.js';

const SECRET = "s3cr'et --value";
let project: string;
let dev: DevServer;

beforeAll(async () => {
  project = eventsProject({
    'pipes/with_secret.pipe': `NODE main\nSQL >\n    %\n    SELECT {{ tb_secret('API_KEY') }} AS k, count() AS c FROM events\n\nTYPE endpoint\n`,
  });
  dev = await startDev(project, ['--no-watch'], { TB_SECRET_API_KEY: SECRET });
}, 90_000);
afterAll(async () => {
  await dev?.stop();
  if (project) removeDir(project);
});

it('answers an endpoint that uses a tb_secret without a default, with the value from the environment', async () => {
  const res = await fetch(`${dev.url}/v0/pipes/with_secret.json?token=${dev.token}`);
  const body = (await res.json()) as { data?: { k: string; c: number }[]; error?: string };
  expect(res.status, body.error).toBe(200);
  expect(body.data).toEqual([{ k: SECRET, c: 0 }]);
});
