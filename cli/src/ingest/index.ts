// Public surface of the Events API core.
export { Ingestor, DEFAULT_MAX_HOLD_MS, type IngestTarget, type IngestResult, type IngestorOptions } from './ingestor.js';
export { IngestError } from './errors.js';
export { ingestQueryIdPrefix, queryIdSafe } from './flusher.js';
export { quarantineTableDDL, quarantineTableSpec, quarantineColumnsFor, dedupTableSettings, dedupTableSettingsList, DEDUP_WINDOW } from './quarantine.js';
export { compileConverter, CoerceError } from './coerce.js';
export { compileJsonPath, MISSING } from './jsonpath.js';
export { parseInstant, formatUtc } from './datetime.js';
