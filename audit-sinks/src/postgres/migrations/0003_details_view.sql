-- audit-sinks PostgreSQL schema, version 3: the view audit_events_details.
--
-- The request, response, changes and metadata columns repeat parts of
-- `entry` for ad-hoc SQL; a sink built with `detail_columns(false)` leaves
-- them NULL to save the database their cost. This view gives them for every
-- row either way, as `json`: from the column where there is one, else from
-- `entry`. PostgreSQL cannot take a `\u0000` out of a `json` value, so in
-- `entry`'s copy each such escape (and not an escaped backslash followed by
-- `u0000`) becomes `\ufffd` first, as in the jsonb columns.
CREATE VIEW audit_events_details AS
SELECT a.*,
       coalesce(a.request::json, d.entry -> 'request')   AS request_json,
       coalesce(a.response::json, d.entry -> 'response') AS response_json,
       coalesce(a.changes::json, d.entry -> 'changes')   AS changes_json,
       coalesce(a.metadata::json, d.entry -> 'metadata') AS metadata_json
FROM audit_events a
CROSS JOIN LATERAL (
    SELECT CASE
               WHEN a.request IS NULL OR a.response IS NULL
                    OR a.changes IS NULL OR a.metadata IS NULL
               THEN regexp_replace(a.entry::text, '(?<!\\)((?:\\\\)*)\\u0000', '\1\\ufffd', 'g')::json
           END AS entry
) d;

COMMENT ON VIEW audit_events_details IS
    'audit_events with request_json, response_json, changes_json and metadata_json for every row, also rows written without the jsonb detail columns.';
