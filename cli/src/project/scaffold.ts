// `emailstats init`: the files of a minimal project in Tinybird Forward's layout (datasources/, endpoints/,
// fixtures/, tests/), small enough to read in a minute and complete enough that check, build, test run and dev
// all work on it as created.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/fatal.js';

export interface ScaffoldFile {
  /** Path relative to the project root, posix. */
  path: string;
  content: string;
}

/** The endpoint the scaffold creates, for the next steps a command prints. */
export const SCAFFOLD_ENDPOINT = 'event_counts';

const DATASOURCE = `DESCRIPTION >
    Events of your application, one row each. Send them to POST /v0/events?name=events as NDJSON,
    or from a file with \`emailstats append events events.ndjson\`.

SCHEMA >
    \`timestamp\` DateTime \`json:$.timestamp\`,
    \`user_id\` String \`json:$.user_id\`,
    \`event\` String \`json:$.event\`

ENGINE "MergeTree"
ENGINE_PARTITION_KEY "toYYYYMM(timestamp)"
ENGINE_SORTING_KEY "event, timestamp"
`;

const ENDPOINT = `DESCRIPTION >
    Events and distinct users per event name, most frequent first; filter by event name and time range.

NODE ${SCAFFOLD_ENDPOINT}_node
SQL >
    %
    SELECT
        event,
        count() AS events,
        uniqExact(user_id) AS users
    FROM events
    WHERE 1 = 1
    {% if defined(event) %}
        AND event = {{ String(event, description="Only this event name", example="signup") }}
    {% end %}
    {% if defined(start_date) %}
        AND timestamp >= {{ DateTime(start_date, description="Start of the time range", example="2025-01-01 00:00:00") }}
    {% end %}
    {% if defined(end_date) %}
        AND timestamp <= {{ DateTime(end_date, description="End of the time range", example="2025-01-31 23:59:59") }}
    {% end %}
    GROUP BY event
    ORDER BY events DESC, event

TYPE endpoint
`;

const FIXTURE_ROWS: [string, string, string][] = [
  ['2025-01-01 09:00:00', 'u1', 'signup'],
  ['2025-01-01 09:05:00', 'u1', 'login'],
  ['2025-01-02 10:00:00', 'u2', 'signup'],
  ['2025-01-02 10:01:00', 'u2', 'login'],
  ['2025-01-03 11:00:00', 'u1', 'login'],
  ['2025-01-03 12:30:00', 'u3', 'signup'],
  ['2025-02-01 08:00:00', 'u2', 'login'],
  ['2025-02-01 08:10:00', 'u3', 'purchase'],
];

const FIXTURE = FIXTURE_ROWS.map(([timestamp, user_id, event]) => JSON.stringify({ timestamp, user_id, event })).join('\n') + '\n';

// The format `emailstats test run` reads (Tinybird's): each case calls the endpoint with `parameters` and
// compares the NDJSON answer; max_rows_read is emailstats' budget that fails a case scanning too much.
const TEST = `- name: all_events
  description: Every event name of the fixture, most frequent first
  parameters: ''
  expected_result: |
    {"event":"login","events":4,"users":2}
    {"event":"signup","events":3,"users":3}
    {"event":"purchase","events":1,"users":1}
  max_rows_read: 100

- name: january_signups
  description: One event name in a time range
  parameters: event=signup&start_date=2025-01-02+00:00:00&end_date=2025-01-31+23:59:59
  expected_result: |
    {"event":"signup","events":2,"users":2}
`;

const GITIGNORE_LINE = '.emailstats/';

const SCAFFOLD_FILES: readonly ScaffoldFile[] = [
  { path: 'datasources/events.datasource', content: DATASOURCE },
  { path: `endpoints/${SCAFFOLD_ENDPOINT}.pipe`, content: ENDPOINT },
  { path: 'fixtures/events.ndjson', content: FIXTURE },
  { path: `tests/${SCAFFOLD_ENDPOINT}.yaml`, content: TEST },
];

export interface ScaffoldResult {
  root: string;
  /** Files written, relative to the root. */
  created: string[];
  /** What happened to .gitignore: created, the line added to an existing one, or already there. */
  gitignore: 'created' | 'updated' | 'unchanged';
}

/** `.gitignore` gets the runtime state folder: created, or the line appended to the user's own file. */
function ensureGitignore(root: string): ScaffoldResult['gitignore'] {
  const file = path.join(root, '.gitignore');
  if (!existsSync(file)) {
    writeFileSync(file, `# emailstats runtime state (local engine data, tokens, write-ahead log)\n${GITIGNORE_LINE}\nnode_modules/\n`);
    return 'created';
  }
  const text = readFileSync(file, 'utf8');
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines.some((l) => l === GITIGNORE_LINE || l === '.emailstats' || l === '/.emailstats/' || l === '/.emailstats')) return 'unchanged';
  writeFileSync(file, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${GITIGNORE_LINE}\n`);
  return 'updated';
}

/**
 * Writes the scaffold into `root` (created when missing). Nothing is written when any of its files exists
 * already: the error lists them all, so the user can move them away or pick another folder.
 */
export function createProject(root: string): ScaffoldResult {
  if (existsSync(root) && !statSync(root).isDirectory()) throw new UserError(`${root} exists and is not a folder; pick another path for the project`);
  const existing = SCAFFOLD_FILES.filter((f) => existsSync(path.join(root, f.path))).map((f) => f.path);
  if (existing.length) {
    throw new UserError(
      `not creating a project in ${root}: ${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}, and init never overwrites files; ` +
        'move them away or run `emailstats init <new-folder>`',
    );
  }
  for (const f of SCAFFOLD_FILES) {
    const target = path.join(root, f.path);
    mkdirSync(path.dirname(target), { recursive: true });
    // 'wx' fails instead of overwriting a file that appeared since the check above.
    writeFileSync(target, f.content, { flag: 'wx' });
  }
  return { root, created: SCAFFOLD_FILES.map((f) => f.path), gitignore: ensureGitignore(root) };
}
