using System.Data.Common;
using CityWatch.AuditLog;
using Dapper;

namespace CityWatch.Data;

internal static class AuditSchema
{
    // The Merkle log. Leaves and the perfect-subtree nodes over them are written in the same transaction by
    // the one sequencer; triggers refuse UPDATE and DELETE (a tamperer can drop them, but the hashes and
    // the signed checkpoints then disagree, and verification names the first bad index).
    public const string Sql = """
        CREATE TABLE IF NOT EXISTS audit_leaves (
            idx INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            outcome TEXT NOT NULL,
            legal_basis_id INTEGER NULL,
            case_id TEXT NULL,
            entry BLOB NOT NULL
        );
        CREATE INDEX IF NOT EXISTS audit_leaves_action ON audit_leaves (action, idx);
        CREATE TABLE IF NOT EXISTS audit_nodes (
            level INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            hash BLOB NOT NULL,
            PRIMARY KEY (level, idx)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS audit_checkpoints (
            size INTEGER PRIMARY KEY,
            note TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS audit_cosignatures (
            size INTEGER NOT NULL,
            witness TEXT NOT NULL,
            line TEXT NOT NULL,
            PRIMARY KEY (size, witness)
        );
        -- The latest checkpoint each witness cosigned, as the full note (log signature and that witness's
        -- cosignature): at start the log must still extend it (AuditTrail.StartupFailure).
        CREATE TABLE IF NOT EXISTS audit_witnessed (
            witness TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            note TEXT NOT NULL
        );
        -- The openings of the commitments in version-2 leaves (salt and value): never public; read by the DPO
        -- and the Authority one entry at a time, each read itself logged.
        CREATE TABLE IF NOT EXISTS audit_openings (
            commitment TEXT PRIMARY KEY,
            idx INTEGER NOT NULL,
            field TEXT NOT NULL,
            salt TEXT NOT NULL,
            value TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS audit_openings_idx ON audit_openings (idx);
        -- The outbox: an act and its record commit together in the act's own transaction; the sequencer
        -- moves each row into the Merkle log (and deletes it) in one later transaction, in id order.
        CREATE TABLE IF NOT EXISTS audit_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            token TEXT NOT NULL,
            at TEXT NOT NULL,
            record TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS audit_outbox_rejected (
            token TEXT NOT NULL,
            at TEXT NOT NULL,
            record TEXT NOT NULL,
            reason TEXT NOT NULL
        );
        CREATE TRIGGER IF NOT EXISTS audit_leaves_no_update BEFORE UPDATE ON audit_leaves
            BEGIN SELECT RAISE(ABORT, 'audit_leaves is append-only'); END;
        CREATE TRIGGER IF NOT EXISTS audit_leaves_no_delete BEFORE DELETE ON audit_leaves
            BEGIN SELECT RAISE(ABORT, 'audit_leaves is append-only'); END;
        CREATE TRIGGER IF NOT EXISTS audit_nodes_no_update BEFORE UPDATE ON audit_nodes
            BEGIN SELECT RAISE(ABORT, 'audit_nodes is append-only'); END;
        CREATE TRIGGER IF NOT EXISTS audit_nodes_no_delete BEFORE DELETE ON audit_nodes
            BEGIN SELECT RAISE(ABORT, 'audit_nodes is append-only'); END;
        """;

    // The same tables on PostgreSQL: BIGINT indexes, BYTEA bytes, an identity outbox id, and one trigger
    // function that refuses UPDATE and DELETE on the leaves and the nodes. audit_sequenced is PostgreSQL's
    // alone: there several servers stage, and the one that runs the sequencer (AuditTrail.IsSequencer) leaves
    // the leaf index (or the refusal) of a record another server staged there, in the same transaction, for
    // that server to collect and delete.
    public const string Postgres = """
        CREATE TABLE IF NOT EXISTS audit_leaves (
            idx BIGINT PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            outcome TEXT NOT NULL,
            legal_basis_id BIGINT NULL,
            case_id TEXT NULL,
            entry BYTEA NOT NULL
        );
        CREATE INDEX IF NOT EXISTS audit_leaves_action ON audit_leaves (action, idx);
        CREATE TABLE IF NOT EXISTS audit_nodes (
            level INTEGER NOT NULL,
            idx BIGINT NOT NULL,
            hash BYTEA NOT NULL,
            PRIMARY KEY (level, idx)
        );
        CREATE TABLE IF NOT EXISTS audit_checkpoints (
            size BIGINT PRIMARY KEY,
            note TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS audit_cosignatures (
            size BIGINT NOT NULL,
            witness TEXT NOT NULL,
            line TEXT NOT NULL,
            PRIMARY KEY (size, witness)
        );
        CREATE TABLE IF NOT EXISTS audit_witnessed (
            witness TEXT PRIMARY KEY,
            size BIGINT NOT NULL,
            note TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS audit_openings (
            commitment TEXT PRIMARY KEY,
            idx BIGINT NOT NULL,
            field TEXT NOT NULL,
            salt TEXT NOT NULL,
            value TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS audit_openings_idx ON audit_openings (idx);
        CREATE TABLE IF NOT EXISTS audit_outbox (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            token TEXT NOT NULL,
            at TEXT NOT NULL,
            record TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS audit_outbox_rejected (
            token TEXT NOT NULL,
            at TEXT NOT NULL,
            record TEXT NOT NULL,
            reason TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS audit_sequenced (
            token TEXT PRIMARY KEY,
            idx BIGINT NULL,
            reason TEXT NULL,
            at TEXT NOT NULL
        );
        CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END;
            $$;
        CREATE OR REPLACE TRIGGER audit_leaves_append_only BEFORE UPDATE OR DELETE ON audit_leaves
            FOR EACH ROW EXECUTE FUNCTION audit_append_only();
        CREATE OR REPLACE TRIGGER audit_nodes_append_only BEFORE UPDATE OR DELETE ON audit_nodes
            FOR EACH ROW EXECUTE FUNCTION audit_append_only();
        """;

    // Version 2: the openings of a leaf's commitments are one row per leaf (a JSON array of AuditOpening), keyed
    // by the leaf index, instead of one row per commitment keyed by the commitment. A batch of leaves then appends
    // rows at the end of one B-tree instead of inserting three or more rows at random places in two; every
    // read was by leaf index already. The rows of an older log are carried over, each leaf's in field order.
    public const string OpeningsPerLeaf = """
        CREATE TABLE audit_leaf_openings (
            idx INTEGER PRIMARY KEY,
            openings TEXT NOT NULL
        );
        INSERT INTO audit_leaf_openings (idx, openings)
            SELECT idx, json_group_array(json_object('Field', field, 'Commitment', commitment, 'Salt', salt, 'Value', value))
            FROM (SELECT * FROM audit_openings ORDER BY idx, field) GROUP BY idx;
        DROP TABLE audit_openings;
        """;

    // The same on PostgreSQL; servers that start together take the append lock, and the one that comes second
    // finds the old table gone and carries nothing over.
    public const string OpeningsPerLeafPostgres = """
        SELECT pg_advisory_xact_lock(4852418957988155472); -- AuditTrail.AppendLockKey ("CWAUDAPP")
        CREATE TABLE IF NOT EXISTS audit_leaf_openings (
            idx BIGINT PRIMARY KEY,
            openings TEXT NOT NULL
        );
        DO $$ BEGIN
            IF to_regclass('audit_openings') IS NOT NULL THEN
                INSERT INTO audit_leaf_openings (idx, openings)
                    SELECT idx, json_agg(json_build_object('Field', field, 'Commitment', commitment, 'Salt', salt, 'Value', value) ORDER BY field)::text
                    FROM audit_openings GROUP BY idx;
                DROP TABLE audit_openings;
            END IF;
        END $$;
        """;

    // Version 3: the tree as C2SP tlog-tiles hash tiles, one row per tile (tree levels 0, 8, 16, ...; up to 256
    // hashes of 32 bytes), instead of one audit_nodes row per perfect-subtree node. The sequencer rewrites the last,
    // partial tile of each level as it grows, so the triggers let a tile only grow: a longer row that starts with
    // the stored bytes, never past a full tile, never deleted.
    public const string Tiles = """
        CREATE TABLE audit_tiles (
            level INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            hashes BLOB NOT NULL CHECK (length(hashes) BETWEEN 32 AND 8192 AND length(hashes) % 32 = 0),
            PRIMARY KEY (level, idx)
        ) WITHOUT ROWID;
        CREATE TRIGGER audit_tiles_only_grow BEFORE UPDATE ON audit_tiles
            WHEN new.level <> old.level OR new.idx <> old.idx OR length(old.hashes) >= 8192
                OR length(new.hashes) <= length(old.hashes) OR substr(new.hashes, 1, length(old.hashes)) <> old.hashes
            BEGIN SELECT RAISE(ABORT, 'audit_tiles only grows'); END;
        CREATE TRIGGER audit_tiles_no_delete BEFORE DELETE ON audit_tiles
            BEGIN SELECT RAISE(ABORT, 'audit_tiles is append-only'); END;
        """;

    // The same on PostgreSQL, under the append lock like version 2 (safe to run again).
    public const string TilesPostgres = """
        SELECT pg_advisory_xact_lock(4852418957988155472); -- AuditTrail.AppendLockKey ("CWAUDAPP")
        CREATE TABLE IF NOT EXISTS audit_tiles (
            level INTEGER NOT NULL,
            idx BIGINT NOT NULL,
            hashes BYTEA NOT NULL CHECK (octet_length(hashes) BETWEEN 32 AND 8192 AND octet_length(hashes) % 32 = 0),
            PRIMARY KEY (level, idx)
        );
        CREATE OR REPLACE FUNCTION audit_tiles_only_grow() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' OR NEW.level <> OLD.level OR NEW.idx <> OLD.idx OR octet_length(OLD.hashes) >= 8192
                    OR octet_length(NEW.hashes) <= octet_length(OLD.hashes)
                    OR substring(NEW.hashes FROM 1 FOR octet_length(OLD.hashes)) <> OLD.hashes THEN
                    RAISE EXCEPTION 'audit_tiles only grows';
                END IF;
                RETURN NEW;
            END;
            $$;
        CREATE OR REPLACE TRIGGER audit_tiles_only_grow BEFORE UPDATE OR DELETE ON audit_tiles
            FOR EACH ROW EXECUTE FUNCTION audit_tiles_only_grow();
        """;

    // Version 4: a leaf row is its index, its action (which the listings filter by) and the signed entry. The columns
    // that repeated the entry's time, actor, outcome, basis and case were never read; actor and case held in clear, in
    // an append-only table, the values a version-2 leaf only commits to, so that they outlived the openings. About a
    // tenth of the bytes a leaf costs the sequencer (its commit writes each byte to the WAL, then the checkpoint to the file).
    public const string CompactLeaves = """
        ALTER TABLE audit_leaves DROP COLUMN at;
        ALTER TABLE audit_leaves DROP COLUMN actor;
        ALTER TABLE audit_leaves DROP COLUMN outcome;
        ALTER TABLE audit_leaves DROP COLUMN legal_basis_id;
        ALTER TABLE audit_leaves DROP COLUMN case_id;
        """;

    // The same on PostgreSQL, under the append lock like versions 2 and 3 (safe to run again).
    public const string CompactLeavesPostgres = """
        SELECT pg_advisory_xact_lock(4852418957988155472); -- AuditTrail.AppendLockKey ("CWAUDAPP")
        ALTER TABLE audit_leaves DROP COLUMN IF EXISTS at, DROP COLUMN IF EXISTS actor, DROP COLUMN IF EXISTS outcome,
            DROP COLUMN IF EXISTS legal_basis_id, DROP COLUMN IF EXISTS case_id;
        """;

    /// <summary>
    /// Version 3 on either engine: creates <c>audit_tiles</c> and carries the nodes of tree levels 0, 8, 16, ... of
    /// an older log over, 256 to a row, then drops <c>audit_nodes</c> (the other levels are hashed from the tiles).
    /// A level is carried only as far as its nodes run without a gap: a log whose nodes were deleted keeps failing
    /// its check, at the same leaf.
    /// </summary>
    public static void StoreTilesWhole(DbConnection connection, DbTransaction transaction)
    {
        var dialect = SqlDialect.Of(connection);
        connection.Execute(dialect.IsPostgres ? TilesPostgres : Tiles, transaction: transaction);
        if (!dialect.TableExists(connection, "audit_nodes", transaction))
        {
            return; // another server carried them over first
        }

        for (var level = 0; level < 64; level += TileId.Height)
        {
            var tiles = 0;
            for (long first = 0; ; first += TileId.FullWidth)
            {
                var nodes = connection.Query<(long Index, byte[] Hash)>(
                    "SELECT idx, hash FROM audit_nodes WHERE level = @level AND idx >= @first AND idx < @end ORDER BY idx",
                    new { level, first, end = first + TileId.FullWidth },
                    transaction).AsList();
                var run = 0;
                while (run < nodes.Count && nodes[run].Index == first + run && nodes[run].Hash.Length == Rfc6962.HashSize)
                {
                    run++;
                }

                if (run > 0)
                {
                    connection.Execute(
                        "INSERT INTO audit_tiles (level, idx, hashes) VALUES (@tile, @index, @hashes)",
                        new { tile = level / TileId.Height, index = first / TileId.FullWidth, hashes = nodes.Take(run).SelectMany(n => n.Hash).ToArray() },
                        transaction);
                    tiles++;
                }

                if (run < TileId.FullWidth)
                {
                    break;
                }
            }

            if (tiles == 0)
            {
                break; // no level above this one has nodes either
            }
        }

        connection.Execute("DROP TABLE audit_nodes", transaction: transaction);
    }

    /// <summary>The audit tables in the engine's form (both are safe to run again).</summary>
    public static string For(CityWatch.Data.SqlDialect dialect) => dialect.IsPostgres ? Postgres : Sql;
}
