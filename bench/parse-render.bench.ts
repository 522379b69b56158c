// Issue 2: how fast the reading half is. Median time to render the seed's campaign_stats node with three
// parameters (compiled template cached, as the server uses it), and to parse a 100-line pipe.
import { parsePipe } from '../cli/src/datafile/index.js';
import { compileTemplate } from '../cli/src/template/index.js';
import type { BenchResult } from './run.js';
import { medianMicros } from './stats.js';

/** The seed's campaign_stats template (shared/docs/seed.md), as Tinybird users write it. */
const SEED_TEMPLATE = `
    SELECT
        campaign_id,
        sum(if(event_type = 'send', 1, 0)) AS sends,
        sum(if(event_type = 'open', 1, 0)) AS opens,
        sum(if(event_type = 'click', 1, 0)) AS clicks,
        sum(if(event_type = 'bounce', 1, 0)) AS bounces,
        sum(if(event_type = 'unsubscribe', 1, 0)) AS unsubscribes,
        round(opens / sends * 100, 2) AS open_rate,
        round(clicks / opens * 100, 2) AS click_to_open_rate,
        round(bounces / sends * 100, 2) AS bounce_rate,
        min(timestamp) AS campaign_start,
        max(timestamp) AS last_activity
    FROM email_events
    WHERE 1=1
    {% if defined(campaign_id) %}
        AND campaign_id = {{String(campaign_id, '')}}
    {% end %}
    {% if defined(start_date) %}
        AND timestamp >= {{DateTime(start_date, '2023-01-01 00:00:00')}}
    {% end %}
    {% if defined(end_date) %}
        AND timestamp <= {{DateTime(end_date, '2023-12-31 23:59:59')}}
    {% end %}
    GROUP BY campaign_id
    ORDER BY campaign_start DESC`;

/** A 100-line pipe: a description and nodes with templated SQL. */
function hundredLinePipe(): string {
  const lines = ['DESCRIPTION >', '    A pipe of a hundred lines', ''];
  let n = 0;
  while (lines.length < 92) {
    lines.push(`NODE node_${n}`, 'SQL >', '    %', `    SELECT campaign_id, count() AS c${n}`, `    FROM ${n === 0 ? 'email_events' : `node_${n - 1}`}`, `    WHERE campaign_id = {{String(campaign_id, 'camp_${n}')}}`, '    GROUP BY campaign_id', '');
    n++;
  }
  lines.push('TYPE endpoint');
  while (lines.length < 100) lines.push('');
  return lines.join('\n');
}

export async function run(): Promise<BenchResult[]> {
  const vars = { campaign_id: 'camp_8', start_date: '2023-05-01 00:00:00', end_date: '2023-05-31 23:59:59' };
  const render = medianMicros(() => compileTemplate(SEED_TEMPLATE).render(vars));
  const text = hundredLinePipe();
  const parse = medianMicros(() => parsePipe(text, 'pipes/hundred.pipe'), 5_000, 500);
  return [
    {
      name: 'template render and datafile parse (issue 2)',
      lines: [
        `render seed campaign_stats, 3 params: median ${render.toFixed(2)} µs (target < 20 µs)`,
        `parse a ${text.split('\n').length}-line pipe: median ${parse.toFixed(1)} µs (target < 1000 µs)`,
      ],
    },
  ];
}
