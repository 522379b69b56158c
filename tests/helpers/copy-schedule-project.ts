// The small project the COPY_SCHEDULE e2e tests run under dev and under serve: events into `clicks`, and a
// copy pipe that snapshots their count into `click_snapshots` every minute, with job_timestamp as the time.
export const COPY_SCHEDULE_PROJECT: Record<string, string> = {
  'datasources/clicks.datasource': 'SCHEMA >\n    `page` String `json:$.page`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "page"\n',
  'datasources/click_snapshots.datasource': 'SCHEMA >\n    `taken` DateTime,\n    `clicks` UInt64\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "taken"\n',
  'pipes/snapshot_clicks.pipe':
    'NODE snap\nSQL >\n    %\n    SELECT toDateTime({{DateTime(job_timestamp)}}) AS taken, count() AS clicks FROM clicks\n\nTYPE copy\nTARGET_DATASOURCE click_snapshots\nCOPY_SCHEDULE * * * * *\n',
};
