-- audit-sinks PostgreSQL schema, version 2: lz4 for the large values.
--
-- A row of audit_events is a few KB (the entry twice: verbatim in `entry`,
-- and its parts in the jsonb columns), so PostgreSQL compresses its largest
-- values when it stores them. With the default method, pglz, that
-- compression was the largest single cost of an insert. lz4 compresses
-- several times as fast, at about the same ratio on JSON.
--
-- Only where the server was built with lz4 (the PGDG and Debian packages
-- are); elsewhere this migration changes nothing and values stay pglz.
-- Values already stored keep their compression; both read the same.
-- Partitions made later inherit the setting from the parent; existing
-- ones are altered here (PostgreSQL 15 does not recurse for this).
DO $$
DECLARE
    r record;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_settings
        WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)
    ) THEN
        RAISE NOTICE 'this PostgreSQL server has no lz4: audit_events keeps pglz compression';
        RETURN;
    END IF;
    FOR r IN
        SELECT 'audit_events'::regclass AS rel
        UNION ALL
        SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'audit_events'::regclass
    LOOP
        EXECUTE format(
            'ALTER TABLE ONLY %s '
            'ALTER COLUMN entry SET COMPRESSION lz4, '
            'ALTER COLUMN request SET COMPRESSION lz4, '
            'ALTER COLUMN response SET COMPRESSION lz4, '
            'ALTER COLUMN changes SET COMPRESSION lz4, '
            'ALTER COLUMN metadata SET COMPRESSION lz4, '
            'ALTER COLUMN resources SET COMPRESSION lz4', r.rel);
    END LOOP;
END
$$;
