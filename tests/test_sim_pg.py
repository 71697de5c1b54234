"""The simulator's PostgreSQL side: the throwaway server (TLS, SCRAM), the schema knex's pg dialect creates (contract
section 3), the engine-neutral db helpers, the bot replica's database choice (backend/knexfile.js) and PostgreSQL
fleet hosts."""

from __future__ import annotations

import os
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.sim import botdb
from tests.sim.bot import BotConfig
from tests.sim.fleet import Fleet, HostSpec, UserSpec, http_json
from tests.sim.httpkit import pid_alive
from tests.sim.pgserver import PgServer

psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def pg_db(pg_server: PgServer) -> Iterator[str]:
    """A fresh database with its own owner role on the session server; its URL (dropped afterwards)."""
    name = f"t_{secrets.token_hex(4)}"
    url = pg_server.create_database(name, name, secrets.token_hex(12))
    try:
        yield url
    finally:
        pg_server.drop_database(name)


def ssl_in_use(conn: Any) -> bool:
    return bool(conn.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone()[0])


# --- the server ------------------------------------------------------------------------------------------------


def test_server_tls_scram_and_unprivileged(pg_server: PgServer, pg_db: str) -> None:
    assert pg_server.host == "127.0.0.1" and pg_server.port > 0
    assert pg_db.startswith("postgresql://") and f"@127.0.0.1:{pg_server.port}/" in pg_db
    with psycopg.connect(pg_db, sslmode="require") as conn:
        assert ssl_in_use(conn)
        assert conn.execute("show server_version_num").fetchone()[0].startswith("15")
        assert conn.execute("select current_setting('password_encryption')").fetchone()[0] == "scram-sha-256"
    # The host line allows plain TCP too (a staging bot connects without TLS, backend/knexfile.js:23-30).
    with psycopg.connect(pg_db, sslmode="disable") as conn:
        assert not ssl_in_use(conn)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_db.replace("@", "x@", 1), sslmode="require").close()
    # The data directory and certificate live in a /tmp directory of the server's own user, not in the checkout.
    assert pg_server.dir.startswith("/tmp/wabot-pg-") and Path(pg_server.socket_dir, f".s.PGSQL.{pg_server.port}").exists()
    with open(f"/proc/{pg_server.pid}/status", encoding="ascii") as handle:
        uid = next(int(line.split()[1]) for line in handle if line.startswith("Uid:"))
    assert uid != 0
    with psycopg.connect(pg_server.admin_dsn) as conn:
        assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0] is True


def test_server_stop_removes_everything_and_is_idempotent() -> None:
    if not os.access("/usr/lib/postgresql/15/bin/initdb", os.X_OK):
        pytest.skip("PostgreSQL 15 server not installed")
    server = PgServer()
    with server:
        pid, directory = server.pid, server.dir
        assert pid_alive(pid) and os.path.isdir(directory)
    assert not pid_alive(pid) and not os.path.exists(directory)
    server.stop()


# --- the schema (contract section 3) -----------------------------------------------------------------------------

VARCHAR = ("character varying", 255)
TSTZ = ("timestamp with time zone", None)
# name -> (data_type, character_maximum_length, is_nullable, column_default)
USERS_COLUMNS = {
    "id": (*VARCHAR, "NO", None),
    "account_id": (*VARCHAR, "NO", None),
    "email": (*VARCHAR, "NO", None),
    "password_hash": (*VARCHAR, "NO", None),
    "preferred_language": (*VARCHAR, "NO", "'de'::character varying"),
    "created_at": (*TSTZ, "NO", "CURRENT_TIMESTAMP"),
    "updated_at": (*TSTZ, "NO", "CURRENT_TIMESTAMP"),
    "wasender_session_id": (*VARCHAR, "YES", None),
    "wasender_session_updated_at": (*TSTZ, "YES", None),
    "phone": (*VARCHAR, "YES", None),
    "role": ("text", None, "NO", "'user'::text"),
    "last_login": (*TSTZ, "YES", None),
    "calendar_feed_token": (*VARCHAR, "YES", None),
}
ACCOUNTS_COLUMNS = {
    "id": (*VARCHAR, "NO", None),
    "name": (*VARCHAR, "NO", None),
    "created_at": (*TSTZ, "NO", "CURRENT_TIMESTAMP"),
    "updated_at": (*TSTZ, "NO", "CURRENT_TIMESTAMP"),
    "timezone": ("character varying", 50, "NO", "'Europe/Vienna'::character varying"),
}


@pytest.fixture
def pg_schema(pg_db: str) -> Iterator[botdb.Db]:
    botdb.create_schema(botdb.DbTarget.postgres(pg_db, sslmode="require"))
    db = botdb.open_db(botdb.DbTarget.postgres(pg_db, sslmode="require"))
    try:
        yield db
    finally:
        db.close()


def columns(db: botdb.Db, table: str) -> dict[str, tuple]:
    rows = db.all(
        "select column_name, data_type, character_maximum_length, is_nullable, column_default from information_schema.columns "
        "where table_schema = 'public' and table_name = ? order by ordinal_position",
        (table,),
    )
    return {r["column_name"]: (r["data_type"], r["character_maximum_length"], r["is_nullable"], r["column_default"]) for r in rows}


def test_pg_columns(pg_schema: botdb.Db) -> None:
    assert columns(pg_schema, "users") == USERS_COLUMNS
    assert list(columns(pg_schema, "users")) == list(USERS_COLUMNS)  # the migrations' column order
    assert columns(pg_schema, "accounts") == ACCOUNTS_COLUMNS


def test_pg_constraints_and_indexes(pg_schema: botdb.Db) -> None:
    constraints = {
        r["constraint_name"]: r["constraint_type"]
        for r in pg_schema.all(
            "select constraint_name, constraint_type from information_schema.table_constraints "
            "where table_schema = 'public' and table_name = 'users' and constraint_name not like '%_not_null'"
        )
    }
    assert constraints == {
        "users_pkey": "PRIMARY KEY",
        "users_account_id_foreign": "FOREIGN KEY",
        "users_email_unique": "UNIQUE",
        "users_phone_unique": "UNIQUE",
        "users_calendar_feed_token_unique": "UNIQUE",
        "users_role_check": "CHECK",
    }
    check = pg_schema.one("select pg_get_constraintdef(oid) as def from pg_constraint where conname = 'users_role_check'")
    assert check["def"] == "CHECK ((role = ANY (ARRAY['admin'::text, 'user'::text])))"
    fk = pg_schema.one(
        "select ccu.table_name, ccu.column_name, rc.delete_rule from information_schema.referential_constraints rc "
        "join information_schema.constraint_column_usage ccu on ccu.constraint_name = rc.unique_constraint_name "
        "where rc.constraint_name = 'users_account_id_foreign'"
    )
    assert fk == {"table_name": "accounts", "column_name": "id", "delete_rule": "CASCADE"}
    rows = pg_schema.all("select indexname, indexdef from pg_indexes where schemaname = 'public' and tablename = 'users'")
    indexes = {r["indexname"]: r["indexdef"] for r in rows}
    uniques = {"users_email_unique", "users_phone_unique", "users_calendar_feed_token_unique"}
    assert set(indexes) == {"users_pkey", *uniques, "users_account_id_index", "users_role_index"}
    assert indexes["users_account_id_index"].endswith("USING btree (account_id)")
    assert indexes["users_role_index"].endswith("USING btree (role)")
    assert not any("wasender_session_id" in definition for definition in indexes.values())
    accounts_pk = pg_schema.one(
        "select constraint_name from information_schema.table_constraints where table_name = 'accounts' and constraint_type = 'PRIMARY KEY'"
    )
    assert accounts_pk == {"constraint_name": "accounts_pkey"}
    pg_schema.execute("insert into accounts (id, name) values ('a1', 'A')")
    with pytest.raises(psycopg.errors.CheckViolation):
        pg_schema.execute("insert into users (id, account_id, email, password_hash, role) values ('u1', 'a1', 'x@y', 'h', 'root')")
    pg_schema.execute("insert into users (id, account_id, email, password_hash) values ('u1', 'a1', 'x@y', 'h')")
    pg_schema.execute("delete from accounts where id = 'a1'")
    assert pg_schema.one("select count(*) as n from users")["n"] == 0  # ON DELETE CASCADE


def test_pg_knex_bookkeeping_and_idempotent(pg_db: str, pg_schema: botdb.Db) -> None:
    names = [r["name"] for r in pg_schema.all("select name from knex_migrations order by id")]
    assert names == [name for name, _statements in botdb.MIGRATIONS_PG] == [name for name, _statements in botdb.MIGRATIONS]
    assert pg_schema.one("select is_locked from knex_migrations_lock")["is_locked"] == 0
    owner = pg_schema.one("select tableowner from pg_tables where tablename = 'users'")["tableowner"]
    assert owner == pg_schema.one("select current_user as u")["u"]
    botdb.create_schema(botdb.DbTarget.postgres(pg_db, sslmode="require"))
    assert pg_schema.one("select count(*) as n from knex_migrations")["n"] == len(botdb.MIGRATIONS)


# --- engine-neutral helpers --------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[botdb.Db]:
    if request.param == "sqlite":
        target = botdb.DbTarget.sqlite(str(tmp_path / "whatsapp_bot.db"))
    else:
        target = botdb.DbTarget.postgres(request.getfixturevalue("pg_db"), sslmode="require")
    botdb.create_schema(target)
    db = botdb.open_db(target)
    try:
        yield db
    finally:
        db.close()


def test_helpers_on_both_engines(any_db: botdb.Db) -> None:
    with any_db.transaction():
        first = botdb.insert_user(any_db, botdb.NewUser(email="b@x.test", phone="+43660111"))[0]
        second = botdb.insert_user(any_db, botdb.NewUser(email="a@x.test", phone="+43660222"))[0]
    before = botdb.list_users(any_db)
    assert [(r["email"], r["wasender_session_id"], r["wasender_session_updated_at"]) for r in before] == [("a@x.test", None, None), ("b@x.test", None, None)]
    botdb.set_session(any_db, first, 16548)
    stored = botdb.session_columns(any_db, first)
    assert stored is not None and stored["wasender_session_id"] == "16548"
    assert abs(botdb.epoch_ms(stored["wasender_session_updated_at"]) - time.time() * 1000) < 60_000
    if any_db.engine == "postgres":
        assert isinstance(stored["wasender_session_updated_at"], datetime) and stored["wasender_session_updated_at"].tzinfo is not None
    else:
        assert isinstance(stored["wasender_session_updated_at"], int)  # epoch ms, like knex + node-sqlite3
    botdb.set_session(any_db, first, None, updated_at_ms=1_700_000_000_123)
    assert botdb.epoch_ms(botdb.session_columns(any_db, first)["wasender_session_updated_at"]) == 1_700_000_000_123
    assert botdb.session_columns(any_db, "no-such-user") is None
    after = botdb.list_users(any_db)
    assert [r for r in after if r["id"] == second] == [r for r in before if r["id"] == second]
    with pytest.raises(botdb.integrity_errors()):
        botdb.insert_user(any_db, botdb.NewUser(email="c@x.test", phone="+43660222"))  # users_phone_unique
    # The wrapper also accepts raw connections.
    assert len(botdb.list_users(any_db.raw)) == 2


# --- the bot replica's database choice (backend/knexfile.js, backend/src/models/database.ts:4-5) -----------------


@pytest.mark.parametrize(
    "env,engine,conninfo",
    [
        ("", "sqlite", None),
        ("NODE_ENV=development\nDATABASE_URL=postgresql://u:p@db:5433/wabot\n", "sqlite", None),
        ("NODE_ENV=production\nDATABASE_URL=postgresql://u:p@db:5433/wabot?sslmode=disable\n", "postgres",
         {"host": "db", "port": 5433, "dbname": "wabot", "user": "u", "password": "p", "sslmode": "require"}),
        ("NODE_ENV=production\nDATABASE_URL=postgres://u:p%40x@DB.example/wabot\n", "postgres",
         {"host": "db.example", "port": 5432, "dbname": "wabot", "user": "u", "password": "p%40x", "sslmode": "require"}),
        ("NODE_ENV=production\nDB_HOST=h\nDB_NAME=n\nDB_USER=u\nDB_PASSWORD=p\nDB_SSL=true\n", "postgres",
         {"host": "h", "port": 5432, "dbname": "n", "user": "u", "password": "p", "sslmode": "require"}),
        ("NODE_ENV=production\nDB_HOST=h\nDB_PORT=6000\nDB_NAME=n\nDB_USER=u\nDB_PASSWORD=p\nDB_SSL=TRUE\n", "postgres",
         {"host": "h", "port": 6000, "dbname": "n", "user": "u", "password": "p", "sslmode": "disable"}),
        ("NODE_ENV=staging\nDB_HOST=h\nDB_NAME=n\nDB_USER=u\nDB_PASSWORD=p\nDB_SSL=true\nDATABASE_URL=postgresql://x:y@z/w\n", "postgres",
         {"host": "h", "port": 5432, "dbname": "n", "user": "u", "password": "p", "sslmode": "disable"}),
        # Replica deviations kept for the SQLite fleet (tests/sim/README.md "Known differences").
        ("NODE_ENV=production\nDATABASE_URL=sqlite:./database/whatsapp_bot.db\n", "sqlite", None),
        ("NODE_ENV=production\nDB_FILE=x.db\nDB_HOST=h\n", "sqlite", None),
        ("NODE_ENV=production\n", "sqlite", None),
    ],
)
def test_bot_database_from_node_env(tmp_path: Path, env: str, engine: str, conninfo: dict[str, Any] | None) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(env, encoding="utf-8")
    config = BotConfig.from_env_file(str(env_file))
    assert config.db_engine == engine
    if engine == "postgres":
        assert config.pg_conninfo == conninfo and config.db_path is None
        assert f":{conninfo['password']}@" not in config.db_description() and "password" not in config.db_description()
    else:
        assert config.db_path and not config.pg_conninfo


# --- the bot replica and fleet on PostgreSQL ---------------------------------------------------------------------


def bot_connections(server: PgServer, user: str) -> list[tuple[bool, str]]:
    with psycopg.connect(server.admin_dsn) as conn:
        return [
            (bool(row[0]), row[1])
            for row in conn.execute(
                "select s.ssl, a.client_addr::text from pg_stat_activity a join pg_stat_ssl s on s.pid = a.pid where a.usename = %s",
                (user,),
            )
        ]


def call(url: str, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    import json  # pylint: disable=import-outside-toplevel
    from urllib import error, request  # pylint: disable=import-outside-toplevel

    req = request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode())
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_bot_replica_on_postgres(fleet_factory: Any, pg_server: PgServer) -> None:
    fleet = fleet_factory(
        [
            HostSpec(
                name="pg1",
                db_engine="postgres",
                users=[
                    UserSpec(email="stale@praxis.test", state="stale"),
                    UserSpec(email="ok@praxis.test", state="connected"),
                    UserSpec(email="new@praxis.test", state="none"),
                ],
            )
        ]
    )
    host = fleet.hosts["pg1"]
    env = Path(host.env_path).read_text(encoding="utf-8")
    assert "NODE_ENV=production\n" in env and f"DATABASE_URL={host.db_url}\n" in env
    assert host.db_url.startswith(f"postgresql://{host.db_user}:{host.db_password}@127.0.0.1:{pg_server.port}/{host.db_name}")
    assert host.db_path is None and "wabot_db_path" not in fleet.inventory()["all"]["hosts"]["pg1"]
    assert "wabot_db_path" not in Path(fleet.inventory_path).read_text(encoding="utf-8")
    # knexfile pool min 2, every connection with TLS (production + DATABASE_URL: ssl {rejectUnauthorized: false})
    connections = bot_connections(pg_server, host.db_user)
    assert len(connections) >= 2 and all(ssl and addr == "127.0.0.1/32" for ssl, addr in connections)

    assert host.health()["environment"] == "production"
    with host.open_db() as db:
        before = {row["id"]: row for row in botdb.list_users(db)}
    status, answer = http_json("POST", f"{host.url}/api/auth/login", {"email": "new@praxis.test", "password": "Passw0rd!"})
    assert status == 200 and answer["token"]
    last_login = next(row["last_login"] for row in host.db_users() if row["email"] == "new@praxis.test")
    assert isinstance(last_login, datetime) and abs(last_login.timestamp() - time.time()) < 60

    stale = host.user("stale@praxis.test")
    token = host.mint_token(stale.id)
    status, answer = call(host.url, "GET", "/api/whatsapp/user/status", token)
    assert status == 200 and answer["data"]["status"] == "unknown" and answer["data"]["sessionId"] == stale.session_id
    status, answer = call(host.url, "DELETE", "/api/whatsapp/user/session", token)
    assert status == 200 and answer["previousSessionId"] == stale.session_id
    with host.open_db() as db:
        cleared = botdb.session_columns(db, stale.id)
    assert cleared["wasender_session_id"] is None and isinstance(cleared["wasender_session_updated_at"], datetime)
    status, answer = call(host.url, "POST", "/api/whatsapp/user/session/ensure", token, {})
    assert status == 200 and answer["data"]["status"] == "qr"
    new_id = str(answer["data"]["sessionId"])
    assert host.stored_session_id("stale@praxis.test") == new_id != stale.session_id
    status, answer = call(host.url, "GET", "/api/whatsapp/user/status", token)
    assert status == 200 and answer["data"]["sessionId"] == new_id and answer["data"]["status"] == "qr"
    with host.open_db() as db:
        stored = botdb.session_columns(db, stale.id)
        after = {row["id"]: row for row in botdb.list_users(db)}
    assert abs(stored["wasender_session_updated_at"].timestamp() - time.time()) < 60
    assert {k: v for k, v in after.items() if k != stale.id} == {k: v for k, v in before.items() if k != stale.id}

    # A body phone held by another user violates users_phone_unique: swallowed, the session is still created.
    other = host.user("ok@praxis.test")
    newcomer = host.user("new@praxis.test")
    status, answer = call(host.url, "POST", "/api/whatsapp/user/session/ensure", host.mint_token(newcomer.id), {"phoneNumber": other.phone})
    assert status == 200 and answer["data"]["sessionId"]
    rows = {row["email"]: row for row in host.db_users()}
    assert rows["new@praxis.test"]["phone"] == newcomer.phone and rows["ok@praxis.test"]["phone"] == other.phone
    assert rows["new@praxis.test"]["wasender_session_id"] == str(answer["data"]["sessionId"])
    assert [r["verdict"] for r in fleet.status() if r["email"] == "ok@praxis.test"] == ["connected"]


def test_pg_env_variants_on_shared_server(fleet_factory: Any, pg_server: PgServer) -> None:
    fleet = fleet_factory(
        [
            HostSpec(name="keys", db_engine="postgres", pg_env="db_keys", users=[UserSpec(email="a@k.test", state="stale")]),
            HostSpec(name="stage", db_engine="postgres", node_env="staging", users=[UserSpec(email="a@s.test", state="connected")]),
            HostSpec(name="lite", users=[UserSpec(email="a@l.test", state="stale")]),
        ]
    )
    keys, stage = fleet.hosts["keys"], fleet.hosts["stage"]
    keys_env = Path(keys.env_path).read_text(encoding="utf-8")
    assert "DB_SSL=true\n" in keys_env and "DATABASE_URL" not in keys_env and f"DB_PORT={pg_server.port}\n" in keys_env
    stage_env = Path(stage.env_path).read_text(encoding="utf-8")
    assert "NODE_ENV=staging\n" in stage_env and "DB_SSL" not in stage_env and f"DB_NAME={stage.db_name}\n" in stage_env
    assert {ssl for ssl, _addr in bot_connections(pg_server, keys.db_user)} == {True}  # DB_SSL === 'true'
    assert {ssl for ssl, _addr in bot_connections(pg_server, stage.db_user)} == {False}  # staging: no ssl key
    verdicts = {(r["host"], r["email"]): r["verdict"] for r in fleet.status() if r["email"]}
    assert verdicts == {("keys", "a@k.test"): "stale", ("stage", "a@s.test"): "connected", ("lite", "a@l.test"): "stale"}
    inventory = fleet.inventory()["all"]["hosts"]
    assert "wabot_db_path" in inventory["lite"] and "wabot_db_path" not in inventory["keys"]
    names = {keys.db_name, stage.db_name}
    fleet.stop()
    assert not names & set(pg_server.databases())  # a given server keeps running; the hosts' databases are dropped


def test_fleet_with_own_server_starts_and_stops_cleanly(tmp_path: Path) -> None:
    if not os.access("/usr/lib/postgresql/15/bin/initdb", os.X_OK):
        pytest.skip("PostgreSQL 15 server not installed")
    # watch=False + Fleet.load: the CLI path (a fleet that outlives its process, stopped with `down`).
    fleet = Fleet(tmp_path / "fleet", [HostSpec(name="pg", db_engine="postgres", users=[UserSpec(email="a@x.test", state="stale")])], watch=False)
    try:
        fleet.start()
        assert fleet.owns_pg_server and fleet.pg_server is not None
        server_pid, server_dir, bot_pid = fleet.pg_server.pid, fleet.pg_server.dir, fleet.hosts["pg"].pid
        assert pid_alive(server_pid) and pid_alive(bot_pid)
        loaded = Fleet.load(tmp_path / "fleet")
        assert loaded.hosts["pg"].stored_session_id("a@x.test") == fleet.hosts["pg"].user("a@x.test").session_id
        loaded.stop()
        assert not pid_alive(server_pid) and not pid_alive(bot_pid) and not os.path.exists(server_dir)
    finally:
        fleet.stop()
    assert not pid_alive(server_pid) and not os.path.exists(server_dir)


def test_server_goes_away_when_its_process_dies(tmp_path: Path) -> None:
    """The watchdog stops the server and removes its directory when the starting process dies without stop()."""
    if not os.access("/usr/lib/postgresql/15/bin/initdb", os.X_OK):
        pytest.skip("PostgreSQL 15 server not installed")
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel

    script = "from tests.sim.pgserver import PgServer\nimport os\ns = PgServer().start()\nprint(s.pid, s.dir, flush=True)\nos._exit(0)\n"
    repo = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": repo}
    out = subprocess.run([sys.executable, "-c", script], cwd=repo, env=env, capture_output=True, text=True, timeout=60, check=True)
    pid_text, directory = out.stdout.split()
    deadline = time.monotonic() + 30
    while (pid_alive(int(pid_text)) or os.path.exists(directory)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(int(pid_text)) and not os.path.exists(directory)


def test_bot_starts_while_postgres_is_down(fleet_factory: Any, pg_server: PgServer) -> None:
    """backend/src/index.ts listens without touching the database: with PostgreSQL unreachable /health still answers and
    the routes that read users fail with Express's 500; once the database is back, they work (no restart)."""
    fleet = fleet_factory([HostSpec(name="pgdown", db_engine="postgres", users=[UserSpec(email="a@x.test", state="stale")])])
    host = fleet.hosts["pgdown"]
    host.stop()
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(f'alter role "{host.db_user}" nologin')
    try:
        host.start()
        assert host.health()["status"] == "OK"
        status, answer = call(host.url, "GET", "/api/whatsapp/user/status", host.mint_token("a@x.test"))
        assert status == 500 and "error" in answer
        assert "Database not reachable at start" in host.log_text()
    finally:
        with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
            conn.execute(f'alter role "{host.db_user}" login')
    status, answer = call(host.url, "GET", "/api/whatsapp/user/status", host.mint_token("a@x.test"))
    assert status == 200 and answer["data"]["sessionId"] == host.user("a@x.test").session_id
