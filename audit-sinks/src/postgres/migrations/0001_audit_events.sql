-- audit-sinks PostgreSQL schema, version 1.
--
-- Applied by `audit_sinks::postgres::migrate` (or `audit migrate --store
-- postgres://...`) inside one transaction holding an advisory lock, and
-- recorded in `audit_schema_migrations`. Never edit an applied migration:
-- add the next version instead (its checksum is compared on every run).

-- The insertion order: `scan` (chain verification, export) reads in this
-- order. A sequence rather than an identity column, because PostgreSQL 15
-- has no identity columns on partitioned tables.
CREATE SEQUENCE audit_events_ingest_seq AS bigint;

CREATE TABLE audit_events (
    -- The entry's id (UUIDv7) and time; with the time in the key because a
    -- partitioned table's keys must contain the partition key. A replayed
    -- entry has the same id and time, so `ON CONFLICT (id, time) DO NOTHING`
    -- makes writes idempotent.
    id               uuid        NOT NULL,
    time             timestamptz NOT NULL,
    ingest_seq       bigint      NOT NULL DEFAULT nextval('audit_events_ingest_seq'),

    -- What people filter on, typed. `event` uses the "C" collation so that
    -- `LIKE 'prefix%'` can use the btree index.
    event            text COLLATE "C" NOT NULL,
    action           text        NOT NULL,
    outcome          text        NOT NULL,
    reason           text,
    actor            text        NOT NULL, -- display form: alice@example.com, api-key:ci-deploy
    actor_kind       text        NOT NULL,
    actor_id         text,
    actor_name       text,
    actor_email      text,
    -- Every form an actor can be looked up by (one GIN index serves them all).
    actor_keys       text[]      GENERATED ALWAYS AS
                         (array_remove(ARRAY[actor, actor_id, actor_name, actor_email], NULL)) STORED,
    tenant           text,
    resource_type    text,        -- the first resource
    resource_id      text,
    resources        jsonb       NOT NULL DEFAULT '[]', -- every resource: [{type, id, name}]
    description      text        NOT NULL,
    ip               inet,
    user_agent       text,
    request_id       text,
    method           text,        -- HTTP method, or gRPC method
    route            text,        -- HTTP route template, or /package.Service/Method
    status           integer,     -- HTTP status
    grpc_status      integer,
    service_name     text,
    service_instance text,
    chain_id         uuid,
    chain_seq        bigint,
    chain_prev       text,
    chain_hash       text,
    request          jsonb,
    response         jsonb,
    changes          jsonb,
    metadata         jsonb,
    -- The complete entry exactly as the sink serialized it. `json` (not
    -- `jsonb`) keeps the text verbatim, so entries read back are identical
    -- and their chain hashes verify.
    entry            json        NOT NULL,
    PRIMARY KEY (id, time)
) PARTITION BY RANGE (time);

ALTER SEQUENCE audit_events_ingest_seq OWNED BY audit_events.ingest_seq;

COMMENT ON TABLE audit_events IS
    'Audit trail written by audit-sinks (append-only; monthly partitions audit_events_pYYYY_MM, UTC).';

-- Indexes for the query model; see the plans in audit_sinks::postgres::query_plans.
-- Pages are ordered by (time, id) with a keyset cursor on that pair.
CREATE INDEX audit_events_time_idx ON audit_events (time, id);
CREATE INDEX audit_events_tenant_time_idx ON audit_events (tenant, time, id);
CREATE INDEX audit_events_event_time_idx ON audit_events (event, time);
CREATE INDEX audit_events_actor_keys_idx ON audit_events USING gin (actor_keys);
CREATE INDEX audit_events_resources_idx ON audit_events USING gin (resources jsonb_path_ops);
-- Write order, for scan.
CREATE INDEX audit_events_ingest_seq_idx ON audit_events (ingest_seq);

-- Append-only: entries are never updated or deleted. Retention drops whole
-- partitions (DROP TABLE does not fire these triggers).
CREATE FUNCTION audit_events_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Retention removes whole monthly partitions (audit_events_drop_partitions).';
END
$$;

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_reject_change();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_change();

-- Creates the monthly partition (UTC) holding p_time, if it does not exist.
-- SECURITY DEFINER, so that an application role that may only INSERT and
-- SELECT can still have partitions created (grant it EXECUTE). Serialized by
-- an advisory lock, so that several instances can call it at once.
CREATE FUNCTION audit_events_ensure_partition(p_time timestamptz) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    v_month timestamp := date_trunc('month', p_time AT TIME ZONE 'UTC');
    v_name  text := 'audit_events_p' || to_char(v_month, 'YYYY_MM');
    v_schema oid := (SELECT relnamespace FROM pg_class WHERE oid = 'audit_events'::regclass);
BEGIN
    -- Looked up in pg_class (a fresh snapshot per statement), not with
    -- to_regclass: the relation cache would not see a partition that another
    -- session committed while this one waited for the lock.
    IF EXISTS (SELECT 1 FROM pg_class WHERE relname = v_name AND relnamespace = v_schema) THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(7021770040830312449); -- audit-sinks partitions
    IF EXISTS (SELECT 1 FROM pg_class WHERE relname = v_name AND relnamespace = v_schema) THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
            v_name, v_month AT TIME ZONE 'UTC', (v_month + interval '1 month') AT TIME ZONE 'UTC');
    EXCEPTION WHEN duplicate_table THEN
        RETURN false;
    END;
    -- Statement triggers are not inherited: guard the partition itself too.
    EXECUTE format(
        'CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %I '
        'FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_change()', v_name);
    RETURN true;
END
$$;

-- The partitions for several times at once (one round trip per batch).
CREATE FUNCTION audit_events_ensure_partitions(p_times timestamptz[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    v_created integer := 0;
    v_time    timestamptz;
BEGIN
    FOREACH v_time IN ARRAY p_times LOOP
        IF audit_events_ensure_partition(v_time) THEN
            v_created := v_created + 1;
        END IF;
    END LOOP;
    RETURN v_created;
END
$$;

-- Retention: drops (or with p_dry_run only describes) every monthly partition
-- that ends at or before p_before, oldest first, and returns what each held.
-- Never drops a partition holding an entry at or after p_before.
CREATE FUNCTION audit_events_drop_partitions(p_before timestamptz, p_dry_run boolean)
RETURNS TABLE (
    partition_name text,
    range_start    timestamptz,
    range_end      timestamptz,
    entries        bigint,
    oldest         timestamptz,
    newest         timestamptz,
    chains         jsonb
)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    r record;
    v_locked boolean := false;
BEGIN
    PERFORM pg_advisory_xact_lock(7021770040830312449); -- audit-sinks partitions
    FOR r IN
        SELECT c.relname::text AS name,
               make_timestamp(substr(c.relname, 15, 4)::int, substr(c.relname, 20, 2)::int, 1, 0, 0, 0)
                   AS month
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_events'::regclass
          AND c.relname ~ '^audit_events_p[0-9]{4}_[0-9]{2}$'
        ORDER BY 2
    LOOP
        partition_name := r.name;
        range_start := r.month AT TIME ZONE 'UTC';
        range_end := (r.month + interval '1 month') AT TIME ZONE 'UTC';
        EXIT WHEN range_end > p_before;
        IF NOT p_dry_run THEN
            -- No insert may land in it between the summary and the drop.
            -- Lock the parent first, as inserts do: locking the partition
            -- first would deadlock with an insert routed to it.
            IF NOT v_locked THEN
                LOCK TABLE ONLY audit_events IN SHARE MODE;
                v_locked := true;
            END IF;
            EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', r.name);
        END IF;
        EXECUTE format('SELECT count(*), min(time), max(time) FROM %I', r.name)
            INTO entries, oldest, newest;
        EXECUTE format(
            'SELECT coalesce(jsonb_agg(jsonb_build_object(''chain'', chain_id, ''first_seq'', lo, '
            '''last_seq'', hi) ORDER BY first_ingest), ''[]'') FROM (SELECT chain_id, min(chain_seq) AS lo, '
            'max(chain_seq) AS hi, min(ingest_seq) AS first_ingest FROM %I WHERE chain_id IS NOT NULL '
            'GROUP BY chain_id) AS s', r.name)
            INTO chains;
        IF NOT p_dry_run THEN
            EXECUTE format('DROP TABLE %I', r.name);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

-- SECURITY DEFINER functions run with a fixed search_path: this schema, then
-- pg_catalog, then pg_temp (last, so a temporary table cannot shadow ours).
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION audit_events_ensure_partition(timestamptz) SET search_path = %I, pg_catalog, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION audit_events_ensure_partitions(timestamptz[]) SET search_path = %I, pg_catalog, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION audit_events_drop_partitions(timestamptz, boolean) SET search_path = %I, pg_catalog, pg_temp', current_schema());
END
$$;

-- Functions are executable by PUBLIC by default: grant them explicitly.
REVOKE EXECUTE ON FUNCTION audit_events_ensure_partition(timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit_events_ensure_partitions(timestamptz[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit_events_drop_partitions(timestamptz, boolean) FROM PUBLIC;
